//! The agent end to end (root): a two-node lab without a dataplane, one `palisade agent
//! --source dir:` per node namespace. Probes (real packets) must equal the engine's
//! prediction for the manifests on disk as they change; isolation must hold when an agent
//! is killed and across its restart (probed continuously); an invalid file must leave the
//! rules as they are; the flow log must show the denied probes; SIGTERM with
//! `--cleanup-on-exit` removes the table.

#![cfg(feature = "agent")]

mod common;
use common::*;

use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

const LAB: &str = "agt";

/// x/a and y/c on n1, x/b and y/d on n2; everyone listens on 80/TCP.
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
spec: {nodeName: n2, containers: [{name: c, image: i, ports: [{containerPort: 80}]}]}
---
apiVersion: v1
kind: Pod
metadata: {name: c, namespace: y, labels: {app: c}}
spec: {nodeName: n1, containers: [{name: c, image: i, ports: [{containerPort: 80}]}]}
---
apiVersion: v1
kind: Pod
metadata: {name: d, namespace: y, labels: {app: d}}
spec: {nodeName: n2, containers: [{name: c, image: i, ports: [{containerPort: 80}]}]}
"#;

/// x denies all ingress but y -> x/a on 80.
const POLICIES_1: &str = r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny, namespace: x}
spec: {podSelector: {}, policyTypes: [Ingress]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: y-to-a, namespace: x}
spec:
  podSelector: {matchLabels: {app: a}}
  ingress:
  - from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: y}}}]
    ports: [{port: 80}]
"#;

/// Also y -> x/b on 80 (a pod on the other node).
const POLICIES_2: &str = r#"
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: y-to-b, namespace: x}
spec:
  podSelector: {matchLabels: {app: b}}
  ingress:
  - from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: y}}}]
    ports: [{port: 80}]
"#;

struct Lab {
    dir: tempfile::TempDir,
    agents: Vec<Option<Child>>,
}

impl Drop for Lab {
    fn drop(&mut self) {
        for a in self.agents.iter_mut().flatten() {
            let _ = a.kill();
            let _ = a.wait();
        }
        let _ = palisade().args(["lab", "down", "--lab", LAB]).output();
    }
}

/// Writes `text` to `path` atomically (as editors and config management do).
fn write(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

impl Lab {
    fn manifests(&self) -> PathBuf {
        self.dir.path().join("manifests")
    }

    fn log(&self, node: usize) -> PathBuf {
        self.dir.path().join(format!("agent-{node}.log"))
    }

    fn flows(&self, node: usize) -> PathBuf {
        self.dir.path().join(format!("flows-{node}.jsonl"))
    }

    fn start_agent(&mut self, node: usize, extra: &[&str]) {
        let name = ["n1", "n2"][node];
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log(node))
            .unwrap();
        let source = format!("dir:{}", self.manifests().display());
        let flows = self.flows(node).display().to_string();
        // `ip netns exec` execs the agent: the child is the agent itself.
        let child = Command::new("ip")
            .args([
                "netns",
                "exec",
                &lab::node_ns(LAB, name),
                env!("CARGO_BIN_EXE_palisade"),
            ])
            .args(["agent", "--source", &source, "--node", name, "--flow-log", &flows])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.agents[node] = Some(child);
        self.wait_ready(node);
    }

    /// Polls `/readyz` inside the node's namespace.
    fn wait_ready(&self, node: usize) {
        let ns = lab::node_ns(LAB, ["n1", "n2"][node]);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if http_get(&ns, "/readyz").is_some_and(|(code, _)| code == 200) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "agent {node} not ready: {}",
            std::fs::read_to_string(self.log(node)).unwrap_or_default()
        );
    }

    fn kill9(&mut self, node: usize) {
        let mut c = self.agents[node].take().unwrap();
        c.kill().unwrap(); // SIGKILL
        c.wait().unwrap();
    }

    /// `lab probe` on 80/TCP: exit 0 when the packets did what the engine predicts for the
    /// manifests on disk; the observed matrix.
    fn probe(&self) -> (bool, Value) {
        let m = self.manifests().display().to_string();
        let text = palisade()
            .args(["lab", "probe", "--lab", LAB, "--port", "80/TCP", &m])
            .output()
            .unwrap();
        let json = palisade()
            .args(["lab", "probe", "--lab", LAB, "--port", "80/TCP", "-o", "json", &m])
            .output()
            .unwrap();
        (
            text.status.success(),
            serde_json::from_slice(&json.stdout).unwrap(),
        )
    }

    /// Probes until observed equals predicted (the agents follow a change in their own time).
    fn probe_until_agrees(&self) -> Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (ok, v) = self.probe();
            if ok {
                return v;
            }
            assert!(Instant::now() < deadline, "the lab never matched the engine: {v}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// GET `path` from the agent's metrics address inside `netns`: status and body.
fn http_get(netns: &str, path: &str) -> Option<(u16, String)> {
    let ns = netns.to_string();
    let path = path.to_string();
    std::thread::spawn(move || -> Option<(u16, String)> {
        palisade_lab::netns::enter(&ns).ok()?;
        let addr: SocketAddr = "127.0.0.1:9847".parse().unwrap();
        let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).ok()?;
        use std::io::Write;
        write!(s, "GET {path} HTTP/1.0\r\n\r\n").ok()?;
        let mut body = String::new();
        s.read_to_string(&mut body).ok()?;
        let code = body.split_whitespace().nth(1)?.parse().ok()?;
        Some((code, body))
    })
    .join()
    .ok()
    .flatten()
}

fn nft_table(netns: &str) -> String {
    let out = Command::new("ip")
        .args(["netns", "exec", netns, "nft", "list", "table", "inet", "palisade"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn allowed(m: &Value, from: &str, to: &str) -> bool {
    m["matrix"][from][to].as_bool().unwrap()
}

#[test]
fn agents_enforce_follow_changes_survive_kill_and_restart() {
    if !common::root_or_skip("runs agents in network namespaces") {
        return;
    }
    let mut lab = Lab {
        dir: tempfile::tempdir().unwrap(),
        agents: vec![None, None],
    };
    std::fs::create_dir(lab.manifests()).unwrap();
    write(&lab.manifests().join("pods.yaml"), PODS);
    write(&lab.manifests().join("policies.yaml"), POLICIES_1);
    let m = lab.manifests().display().to_string();
    let up = palisade()
        .args(["lab", "up", "--lab", LAB, "--no-dataplane", &m])
        .output()
        .unwrap();
    assert!(up.status.success(), "{}", String::from_utf8_lossy(&up.stderr));
    // Without agents nothing is enforced: the lab does not match the policies.
    assert!(!lab.probe().0, "no agent, yet the lab enforces");
    // The second agent logs JSON lines (`--log-format json`), the first text.
    lab.start_agent(0, &[]);
    lab.start_agent(1, &["--log-format", "json"]);
    // 1. Enforced as predicted: y -> x/a allowed, y -> x/b and x/b -> x/a denied.
    let v = lab.probe_until_agrees();
    assert!(allowed(&v, "y/c", "x/a") && allowed(&v, "y/d", "x/a"));
    assert!(!allowed(&v, "y/c", "x/b") && !allowed(&v, "x/b", "x/a"));
    assert!(allowed(&v, "x/a", "y/c"), "y is not isolated");
    // The flow log of n1 (x/a's node) shows the denied x/b -> x/a probe.
    let flows = std::fs::read_to_string(lab.flows(0)).unwrap();
    assert!(
        flows
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .any(|f| f["verdict"] == "denied"
                && f["src"] == "x/b"
                && f["dst"] == "x/a"
                && f["port"] == 80
                && f["isolated_by"]
                    .as_array()
                    .is_some_and(|p| p.iter().any(|x| x == "x/deny"))),
        "{flows}"
    );
    let metrics = http_get(&lab::node_ns(LAB, "n1"), "/metrics").unwrap().1;
    assert!(
        metrics.contains(
            "palisade_flows_total{verdict=\"denied\",policy=\"default-deny\",tier=\"NetworkPolicy\"}"
        ),
        "{metrics}"
    );
    // `palisade flows` filters it.
    let out = palisade()
        .args([
            "flows",
            lab.flows(0).to_str().unwrap(),
            "--verdict",
            "denied",
            "--pod",
            "x/a",
        ])
        .output()
        .unwrap();
    let shown = String::from_utf8(out.stdout).unwrap();
    assert!(
        !shown.is_empty()
            && shown
                .lines()
                .all(|l| l.contains("\"denied\"") && l.contains("x/a")),
        "{shown}"
    );

    // 2. A policy change on disk flips y -> x/b (enforced on n2).
    write(
        &lab.manifests().join("policies.yaml"),
        &format!("{POLICIES_1}{POLICIES_2}"),
    );
    let v = lab.probe_until_agrees();
    assert!(allowed(&v, "y/c", "x/b") && allowed(&v, "y/d", "x/b"));
    let metrics = http_get(&lab::node_ns(LAB, "n2"), "/metrics").unwrap().1;
    assert!(metrics.contains("palisade_policies 3"), "{metrics}");
    assert!(
        metrics.contains("palisade_change_to_enforcement_seconds_count 2"),
        "{metrics}"
    );

    // 2b. A ClusterNetworkPolicy alone changes (pods and NetworkPolicies as they were): an
    // Admin Deny of y -> x/a is enforced, and enforced no more once its file goes.
    let cnp = lab.manifests().join("cnp.yaml");
    write(
        &cnp,
        "apiVersion: policy.networking.k8s.io/v1alpha2\nkind: ClusterNetworkPolicy\nmetadata: {name: fence}\nspec:\n  tier: Admin\n  priority: 1\n  subject:\n    pods:\n      namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: x}}\n      podSelector: {matchLabels: {app: a}}\n  ingress:\n  - action: Deny\n    from: [{namespaces: {matchLabels: {kubernetes.io/metadata.name: y}}}]\n",
    );
    let v = lab.probe_until_agrees();
    assert!(!allowed(&v, "y/c", "x/a"), "the Admin Deny is not enforced: {v}");
    std::fs::remove_file(&cnp).unwrap();
    let v = lab.probe_until_agrees();
    assert!(allowed(&v, "y/c", "x/a"), "{v}");

    // 3. An invalid file: rules unchanged, the error logged with file and line.
    let before = nft_table(&lab::node_ns(LAB, "n1"));
    write(
        &lab.manifests().join("broken.yaml"),
        "apiVersion: v1\nkind: Pod\nmetadata: {name: Bad_Name, namespace: x}\n",
    );
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(
        nft_table(&lab::node_ns(LAB, "n1")),
        before,
        "an invalid input changed the rules"
    );
    let log = std::fs::read_to_string(lab.log(0)).unwrap();
    assert!(
        log.contains("input rejected") && log.contains("broken.yaml:3:"),
        "{log}"
    );
    // The JSON agent said the same, one object per line with a level and a message.
    let json_log = std::fs::read_to_string(lab.log(1)).unwrap();
    let rejected: Vec<Value> = json_log
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .filter(|v| {
            v["fields"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("input rejected"))
        })
        .collect();
    assert!(!rejected.is_empty(), "{json_log}");
    assert_eq!(rejected[0]["level"], "WARN", "{json_log}");
    assert!(rejected[0]["fields"]["message"]
        .as_str()
        .unwrap()
        .contains("broken.yaml:3:"));
    std::fs::remove_file(lab.manifests().join("broken.yaml")).unwrap();

    // 4. kill -9 the agent of n1: the kernel keeps its rules.
    lab.kill9(0);
    let (ok, v) = lab.probe();
    assert!(ok, "after kill -9 the lab no longer matches: {v}");
    assert!(!allowed(&v, "x/b", "x/a"));

    // 5. Restart while probing x/b -> x/a (denied on n1) without pause: never open.
    let stop = Arc::new(AtomicBool::new(false));
    let (opened, tries) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let prober = {
        let (stop, opened, tries) = (stop.clone(), opened.clone(), tries.clone());
        let target = SocketAddr::new(lab::pod_ip(LAB, "x/a"), 80);
        std::thread::spawn(move || {
            palisade_lab::netns::enter(&lab::pod_ns(LAB, "x/b")).unwrap();
            while !stop.load(Ordering::Relaxed) {
                tries.fetch_add(1, Ordering::Relaxed);
                if palisade_lab::probe::tcp_reaches(target, Duration::from_millis(50)) {
                    opened.fetch_add(1, Ordering::Relaxed);
                }
            }
        })
    };
    std::thread::sleep(Duration::from_millis(200));
    lab.start_agent(0, &["--cleanup-on-exit"]);
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    prober.join().unwrap();
    assert!(tries.load(Ordering::Relaxed) > 5, "the prober hardly ran");
    assert_eq!(
        opened.load(Ordering::Relaxed),
        0,
        "x/b reached x/a during the restart"
    );
    assert!(lab.probe().0);

    // 6. SIGTERM with --cleanup-on-exit removes n1's table; n2 keeps its own.
    let c = lab.agents[0].take().unwrap();
    // `ip netns exec` runs the agent in place of itself: the child is the agent.
    Command::new("kill")
        .args(["-TERM", &c.id().to_string()])
        .status()
        .unwrap();
    let mut c = c;
    let status = c.wait().unwrap();
    assert!(status.success(), "agent exit: {status}");
    assert!(
        nft_table(&lab::node_ns(LAB, "n1")).is_empty(),
        "the table is still there"
    );
    assert!(!nft_table(&lab::node_ns(LAB, "n2")).is_empty());
}
