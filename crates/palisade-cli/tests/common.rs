//! Helpers shared by the CLI test files.
#![allow(dead_code)]

use std::collections::BTreeSet;

use assert_cmd::Command;
use serde_json::Value;

pub fn palisade() -> Command {
    Command::cargo_bin("palisade").unwrap()
}

/// Runs `palisade analyze - --port PORT -o json ARGS` on `yaml`; returns the parsed output.
pub fn port_json(yaml: &str, port: &str, args: &[&str]) -> Value {
    let out = palisade()
        .args(["analyze", "-", "--port", port, "-o", "json"])
        .args(args)
        .write_stdin(yaml)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The allowed ordered pairs (self excluded) of a `--port -o json` matrix, after checking
/// that self traffic is allowed and every ordered pair is present.
pub fn allowed_pairs(v: &Value) -> BTreeSet<(String, String)> {
    let pods: Vec<String> = v["pods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_string())
        .collect();
    let m = v["matrix"].as_object().unwrap();
    assert_eq!(m.len(), pods.len());
    let mut out = BTreeSet::new();
    for a in &pods {
        let row = m[a].as_object().unwrap();
        assert_eq!(row.len(), pods.len(), "row {a} has every destination");
        for b in &pods {
            let ok = row[b].as_bool().unwrap();
            if a == b {
                assert!(ok, "self traffic is always allowed ({a})");
            } else if ok {
                out.insert((a.clone(), b.clone()));
            }
        }
    }
    out
}

pub fn pairs(list: &[(&str, &str)]) -> BTreeSet<(String, String)> {
    list.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
}

/// All ordered pairs among `pods` (self excluded).
pub fn all_pairs(pods: &[&str]) -> BTreeSet<(String, String)> {
    let mut s = BTreeSet::new();
    for a in pods {
        for b in pods {
            if a != b {
                s.insert((a.to_string(), b.to_string()));
            }
        }
    }
    s
}

pub fn pod(ns: &str, name: &str, labels: &str, ip: &str) -> String {
    format!(
        "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  namespace: {ns}\n  labels: {labels}\nspec:\n  containers: [{{name: c, image: x}}]\nstatus:\n  podIP: {ip}\n"
    )
}

pub fn namespace(name: &str, labels: &str) -> String {
    format!("---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n  labels: {labels}\n")
}

#[path = "../../palisade-nft/tests/common/root.rs"]
mod root;
#[allow(unused_imports)]
pub use root::root_or_skip;

/// `palisade ui` on a loopback port, and plain GETs of its API.
pub mod ui_server {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::process::{Child, Command, Stdio};

    use serde_json::Value;

    /// `palisade ui ARGS --listen 127.0.0.1:0`, and the address it printed.
    pub struct Server {
        child: Child,
        pub addr: String,
    }

    impl Drop for Server {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    pub fn start(args: &[&str]) -> Server {
        let mut child = Command::new(assert_cmd::cargo::cargo_bin("palisade"))
            .arg("ui")
            .args(args)
            .args(["--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .trim()
            .strip_prefix("palisade ui: http://")
            .and_then(|s| s.strip_suffix('/'))
            .unwrap_or_else(|| panic!("{line:?}"))
            .to_string();
        Server { child, addr }
    }

    /// A GET over a plain socket: status and body.
    pub fn get(s: &Server, path: &str) -> (u16, String) {
        let mut c = std::net::TcpStream::connect(&s.addr).unwrap();
        write!(c, "GET {path} HTTP/1.1\r\nHost: ui\r\nConnection: close\r\n\r\n").unwrap();
        let mut raw = String::new();
        c.read_to_string(&mut raw).unwrap();
        let (head, body) = raw.split_once("\r\n\r\n").unwrap();
        let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
        (status, body.to_string())
    }

    pub fn json(s: &Server, path: &str) -> Value {
        let (status, body) = get(s, path);
        assert_eq!(status, 200, "{path}: {body}");
        serde_json::from_str(&body).unwrap()
    }

    /// Polls `/api/overview` until `done` holds of it (at most 15 s).
    pub fn wait_for(s: &Server, done: impl Fn(&Value) -> bool) -> Value {
        wait_for_within(s, 15, done)
    }

    /// [`wait_for`], at most `secs` seconds.
    pub fn wait_for_within(s: &Server, secs: u64, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        loop {
            let o = json(s, "/api/overview");
            if done(&o) {
                return o;
            }
            assert!(std::time::Instant::now() < deadline, "gave up waiting: {o}");
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
}

/// Names and addresses of a lab made by `palisade lab up --lab LAB`.
pub mod lab {
    /// The network namespace of lab node `node`.
    pub fn node_ns(lab: &str, node: &str) -> String {
        format!("pal-{lab}-node@{node}")
    }

    /// The network namespace of pod `ns/name`.
    pub fn pod_ns(lab: &str, key: &str) -> String {
        format!("pal-{lab}-{}", key.replace('/', "."))
    }

    /// A pod's address (from the state `lab up` saved).
    pub fn pod_ip(lab: &str, key: &str) -> std::net::IpAddr {
        let state = palisade_lab::load_state(lab).unwrap();
        state.topology.pods.iter().find(|p| p.key == key).unwrap().ips[0]
    }
}
