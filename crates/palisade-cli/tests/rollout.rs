//! The rollout from traffic to enforced policy, in the lab (root): no policies and an agent
//! logging allowed flows; traffic made by real connections between chosen pods; `advise`
//! from the agent's flow log; `diff --flows` shows the advice cuts nothing that was seen;
//! the advice applied (the agent reloads it); every observed connection still works and an
//! unobserved one is denied — with packets, and as the engine predicts.

#![cfg(feature = "agent")]

mod common;
use common::*;

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const LAB: &str = "rol";

/// x/a and x/b, y/c, all on n1, all listening on 80; no policy at first.
const PODS: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: x}
---
apiVersion: v1
kind: Namespace
metadata: {name: y}
---
apiVersion: v1
kind: Pod
metadata: {name: a, namespace: x, labels: {app: a}}
spec: {nodeName: n1, containers: [{name: c, image: i, ports: [{containerPort: 80}]}]}
---
apiVersion: v1
kind: Pod
metadata: {name: b, namespace: x, labels: {app: b}}
spec: {nodeName: n1, containers: [{name: c, image: i, ports: [{containerPort: 80}]}]}
---
apiVersion: v1
kind: Pod
metadata: {name: c, namespace: y, labels: {app: c}}
spec: {nodeName: n1, containers: [{name: c, image: i, ports: [{containerPort: 80}]}]}
"#;

struct Lab {
    dir: tempfile::TempDir,
    agent: Option<Child>,
}

impl Drop for Lab {
    fn drop(&mut self) {
        if let Some(a) = &mut self.agent {
            let _ = a.kill();
            let _ = a.wait();
        }
        let _ = palisade().args(["lab", "down", "--lab", LAB]).output();
    }
}

/// A TCP connection from one pod to another's port 80: whether it was accepted.
fn connects(from: &str, to: &str) -> bool {
    let ns = lab::pod_ns(LAB, from);
    let target = SocketAddr::new(lab::pod_ip(LAB, to), 80);
    std::thread::spawn(move || {
        palisade_lab::netns::enter(&ns).unwrap();
        palisade_lab::probe::tcp_reaches(target, Duration::from_millis(300))
    })
    .join()
    .unwrap()
}

fn run(args: &[&str]) -> (i32, String, String) {
    let out = palisade().args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Until `done` holds (at most 15 s).
fn eventually(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !done() {
        assert!(Instant::now() < deadline, "never: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn lines(path: &Path) -> usize {
    std::fs::read_to_string(path)
        .map(|t| t.lines().count())
        .unwrap_or(0)
}

#[test]
fn from_observed_traffic_to_enforced_least_privilege() {
    if !common::root_or_skip("runs a lab and an agent in network namespaces") {
        return;
    }
    let mut lab = Lab {
        dir: tempfile::tempdir().unwrap(),
        agent: None,
    };
    let manifests = lab.dir.path().join("manifests");
    std::fs::create_dir(&manifests).unwrap();
    std::fs::write(manifests.join("pods.yaml"), PODS).unwrap();
    let m = manifests.display().to_string();
    let (code, _, err) = run(&["lab", "up", "--lab", LAB, "--no-dataplane", "-q", &m]);
    assert_eq!(code, 0, "{err}");
    // 1. No policies, an agent logging every new connection it allows.
    let flows = lab.dir.path().join("flows.jsonl");
    let agent_log = std::fs::File::create(lab.dir.path().join("agent.log")).unwrap();
    lab.agent = Some(
        Command::new("ip")
            .args([
                "netns",
                "exec",
                &lab::node_ns(LAB, "n1"),
                env!("CARGO_BIN_EXE_palisade"),
            ])
            .args([
                "agent",
                "--source",
                &format!("dir:{m}"),
                "--node",
                "n1",
                "--log-allowed",
            ])
            .args(["--flow-log", flows.to_str().unwrap()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(agent_log)
            .spawn()
            .unwrap(),
    );
    // 2. Traffic: x/a calls x/b, x/b calls y/c (everything is open: both connect). The
    // agent's table is in place once the first connection is logged.
    eventually("x/a -> x/b is logged", || {
        connects("x/a", "x/b");
        std::fs::read_to_string(&flows).is_ok_and(|t| t.contains("\"dst\":\"x/b\""))
    });
    assert!(connects("x/b", "y/c"));
    eventually("x/b -> y/c is logged", || {
        std::fs::read_to_string(&flows).is_ok_and(|t| t.contains("\"dst\":\"y/c\""))
    });
    assert!(lines(&flows) >= 2);
    // 3. The advice from the agent's flow log.
    let advised = lab.dir.path().join("advised");
    let (code, report, err) = run(&[
        "advise",
        "--flows",
        flows.to_str().unwrap(),
        &m,
        "--out",
        advised.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{report}{err}");
    assert!(
        report.contains("Every connection that went through is allowed by the advice"),
        "{report}"
    );
    // 4. Against the manifests as they are, the advice cuts nothing that was seen.
    let with_advice = lab.dir.path().join("with-advice");
    std::fs::create_dir(&with_advice).unwrap();
    std::fs::copy(manifests.join("pods.yaml"), with_advice.join("pods.yaml")).unwrap();
    for ns in ["x", "y"] {
        std::fs::copy(
            advised.join(format!("{ns}.yaml")),
            with_advice.join(format!("{ns}.yaml")),
        )
        .unwrap();
    }
    let (code, table, err) = run(&[
        "diff",
        &m,
        with_advice.to_str().unwrap(),
        "--flows",
        flows.to_str().unwrap(),
        "--fail-on",
        "cut",
    ]);
    assert_eq!(code, 0, "{table}{err}");
    assert!(
        table.contains("Observed connections the change cuts (allowed before, denied after): 0"),
        "{table}"
    );
    // 4b. Staged first (`--shadow`): the agent loads the advice and enforces none of it.
    // x: default-deny, allow-dns, b's ingress, a's and b's egress; y: default-deny,
    // allow-dns, c's ingress: 8 policies, staged.
    let staged = lab.dir.path().join("staged");
    let (code, _, err) = run(&[
        "advise",
        "--flows",
        flows.to_str().unwrap(),
        &m,
        "--shadow",
        "--no-check",
        "--out",
        staged.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    for ns in ["x", "y"] {
        let text = std::fs::read_to_string(staged.join(format!("{ns}.yaml"))).unwrap();
        assert!(text.contains("palisade.dev/mode: shadow"), "{text}");
        std::fs::write(manifests.join(format!(".{ns}.tmp")), text).unwrap();
        std::fs::rename(
            manifests.join(format!(".{ns}.tmp")),
            manifests.join(format!("advised-{ns}.yaml")),
        )
        .unwrap();
    }
    let agent_log = lab.dir.path().join("agent.log");
    eventually("the agent loads the staged advice", || {
        std::fs::read_to_string(&agent_log)
            .is_ok_and(|l| l.contains("0 polic(ies) (8 staged in shadow mode, not enforced)"))
    });
    // Nothing changed for packets: the never-seen y/c -> x/a still connects, as the
    // engine says without --with-shadow; with it, the engine says it would be denied.
    assert!(connects("y/c", "x/a"), "a staged policy was enforced");
    // The agent logs that connection as one the staged advice would deny. The packet
    // meets egress first, and the advice isolates y/c's egress (DNS only): the record
    // names that direction and y's staged policies.
    eventually("y/c -> x/a is logged shadow-denied", || {
        std::fs::read_to_string(&flows).is_ok_and(|t| {
            t.lines().any(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                v["verdict"] == "shadow-denied"
                    && v["src"] == "y/c"
                    && v["dst"] == "x/a"
                    && v["direction"] == "egress"
                    && v["policy"].as_str().is_some_and(|p| p.starts_with("y/"))
                    && v["isolated_by"]
                        .as_array()
                        .is_some_and(|a| a.iter().any(|p| p == "y/default-deny"))
            })
        })
    });
    assert_eq!(
        run(&["lab", "probe", "--lab", LAB, "--port", "80/TCP", "-q", &m]).0,
        0
    );
    let explain = |extra: &[&str]| {
        let mut a = vec![
            "explain",
            "--from",
            "y/c",
            "--to",
            "x/a",
            "--port",
            "80",
            "--exit-code",
            &m,
        ];
        a.extend_from_slice(extra);
        run(&a).0
    };
    assert_eq!(explain(&[]), 0);
    assert_eq!(explain(&["--with-shadow"]), 1);
    // 5. Enforced: the advice goes where the agent reads; the lab then matches the engine.
    for ns in ["x", "y"] {
        let text = std::fs::read_to_string(advised.join(format!("{ns}.yaml"))).unwrap();
        let tmp = manifests.join(format!(".{ns}.tmp"));
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, manifests.join(format!("advised-{ns}.yaml"))).unwrap();
    }
    eventually("the lab matches the engine with the advice", || {
        run(&["lab", "probe", "--lab", LAB, "--port", "80/TCP", "-q", &m]).0 == 0
    });
    // 6. What was seen still works; what was not is denied — with packets.
    assert!(connects("x/a", "x/b"), "an observed connection was cut");
    assert!(connects("x/b", "y/c"), "an observed connection was cut");
    assert!(
        !connects("y/c", "x/a"),
        "y/c -> x/a was never seen, yet it connects"
    );
    assert!(
        !connects("x/a", "y/c"),
        "x/a -> y/c was never seen, yet it connects"
    );
}
