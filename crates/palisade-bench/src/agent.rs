//! `palisade-bench agent` (root): the agent's targets.
//!
//! 1. Policy file change to enforcement: synthetic manifests (1,000 pods / 500 policies,
//!    every pod on node `n1`) in a directory watched by the `dir:` source, the loop running
//!    in a fresh node namespace. A policy file is rewritten (a rule's port flips between
//!    two values); the time from the write to the state applied in the kernel is measured,
//!    twenty times.
//! 2. Memory: `palisade agent` as a process on 10,000 pods / 2,000 policies, peak resident
//!    memory (VmHWM) once it is ready: with the `dir:` source, and with the `kube` source
//!    against the mocked API server (palisade-kube's `mock`, listening inside the node
//!    namespace) serving the same objects dressed as the API sends them
//!    (`palisade_synth::kubectl_like`: managedFields, env, volumes, probes, conditions), which
//!    the agent trims as they arrive. The figure sets the DaemonSet's memory limit.

use std::io::Read;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::channel;
use std::sync::Arc;
use std::time::{Duration, Instant};

use palisade_agent::{source, Metrics, Reconciler};
use palisade_lab::netns;
use palisade_synth::{generate, to_json_list, Spec};
use serde_json::Value;

const NODE_NS: &str = "pal-bench-node@n1";

/// Synthetic manifests with every pod on node n1: pods and namespaces in one file,
/// policies in another.
fn manifests(pods: usize, policies: usize) -> (String, Vec<Value>) {
    let mut objects = generate(&Spec::total(pods, policies, 1));
    for o in objects.iter_mut().filter(|o| o["kind"] == "Pod") {
        o["spec"]["nodeName"] = "n1".into();
    }
    let (pols, rest): (Vec<Value>, Vec<Value>) =
        objects.into_iter().partition(|o| o["kind"] == "NetworkPolicy");
    (to_json_list(rest), pols)
}

/// A policy with a port rule to flip.
fn flippable(pols: &[Value]) -> Option<usize> {
    pols.iter()
        .position(|p| p["spec"]["ingress"][0]["ports"][0]["port"].is_u64())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn change_to_enforcement(pods: usize, policies: usize) -> anyhow::Result<String> {
    let dir = tempfile::tempdir()?;
    let (rest, mut pols) = manifests(pods, policies);
    std::fs::write(dir.path().join("cluster.json"), rest)?;
    let policy_file = dir.path().join("policies.json");
    std::fs::write(&policy_file, to_json_list(pols.clone()))?;
    let i = flippable(&pols).ok_or_else(|| anyhow::anyhow!("no policy with a numeric ingress port"))?;
    let _ = netns::ip(&["netns", "delete", NODE_NS]);
    netns::ip(&["netns", "add", NODE_NS])?;
    let m = Arc::new(Metrics::default());
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, rx) = channel();
    let watcher = source::spawn_dir(dir.path().to_path_buf(), Default::default(), tx)?;
    let opts = palisade_nft::Options {
        node: Some("n1".into()),
        ..Default::default()
    };
    let looper = {
        let (m, stop) = (m.clone(), stop.clone());
        std::thread::spawn(move || {
            netns::enter(NODE_NS).expect("enter node namespace");
            let rec = Reconciler::new(Default::default(), opts, m.clone());
            palisade_agent::run::run(rx, rec, m, stop);
        })
    };
    let result = (|| -> anyhow::Result<String> {
        let wait_applied = |before: u64, since: Instant| -> anyhow::Result<Duration> {
            while m.reconciles.get() == before {
                anyhow::ensure!(since.elapsed() < Duration::from_secs(30), "no reconcile");
                std::thread::sleep(Duration::from_micros(200));
            }
            anyhow::ensure!(m.reconcile_errors.get() == 0, "the kernel refused a state");
            Ok(since.elapsed())
        };
        wait_applied(0, Instant::now())?;
        let rules = m.rules.get();
        let mut times = Vec::new();
        for round in 0..20 {
            let port = if round % 2 == 0 { 8443 } else { 8444 };
            pols[i]["spec"]["ingress"][0]["ports"][0]["port"] = port.into();
            let text = to_json_list(pols.clone());
            let before = m.reconciles.get();
            let tmp = policy_file.with_extension("tmp");
            std::fs::write(&tmp, text)?;
            let t = Instant::now();
            std::fs::rename(&tmp, &policy_file)?;
            times.push(ms(wait_applied(before, t)?));
            std::thread::sleep(Duration::from_millis(50));
        }
        times.sort_by(|a, b| a.total_cmp(b));
        Ok(format!(
            "policy file change -> enforcement, {pods} pods / {policies} policies on one node ({rules} rules): median {:.0} ms, max {:.0} ms over 20 changes (target < 200 ms)\n",
            times[times.len() / 2],
            times[times.len() - 1]
        ))
    })();
    stop.store(true, Ordering::Relaxed);
    drop(watcher);
    let _ = looper.join();
    let _ = netns::ip(&["netns", "delete", NODE_NS]);
    result
}

/// GET /readyz inside `ns`.
fn ready(ns: &str) -> bool {
    let ns = ns.to_string();
    std::thread::spawn(move || -> Option<bool> {
        netns::enter(&ns).ok()?;
        let addr: SocketAddr = "127.0.0.1:9847".parse().ok()?;
        let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).ok()?;
        use std::io::Write;
        write!(
            s,
            "GET /readyz HTTP/1.1\r\nHost: agent\r\nConnection: close\r\n\r\n"
        )
        .ok()?;
        let mut body = String::new();
        s.read_to_string(&mut body).ok()?;
        // The status line: `HTTP/1.1 200 OK`.
        Some(body.split_whitespace().nth(1) == Some("200"))
    })
    .join()
    .ok()
    .flatten()
    .unwrap_or(false)
}

/// Waits (at most `limit`) for the agent `child` in the node namespace to be ready, then,
/// settled, its peak and resident memory in MiB and the time it took.
fn ready_memory(child: &std::process::Child, limit: Duration) -> anyhow::Result<(f64, f64, Duration)> {
    let t = Instant::now();
    while !ready(NODE_NS) {
        anyhow::ensure!(t.elapsed() < limit, "the agent did not become ready");
        std::thread::sleep(Duration::from_millis(100));
    }
    let took = t.elapsed();
    // Settle, then read the peak.
    std::thread::sleep(Duration::from_millis(500));
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id()))?;
    let field = |k: &str| -> f64 {
        status
            .lines()
            .find(|l| l.starts_with(k))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .map_or(f64::NAN, |kib| kib / 1024.0)
    };
    Ok((field("VmHWM:"), field("VmRSS:"), took))
}

/// The `palisade` binary built beside this one (same target directory and profile).
fn palisade_exe() -> anyhow::Result<std::path::PathBuf> {
    let exe = std::env::current_exe()?.with_file_name("palisade");
    anyhow::ensure!(
        exe.exists(),
        "{} not found: build it first (cargo build --release)",
        exe.display()
    );
    Ok(exe)
}

fn memory(pods: usize, policies: usize) -> anyhow::Result<String> {
    let dir = tempfile::tempdir()?;
    let (rest, pols) = manifests(pods, policies);
    std::fs::write(dir.path().join("cluster.json"), rest)?;
    std::fs::write(dir.path().join("policies.json"), to_json_list(pols))?;
    let _ = netns::ip(&["netns", "delete", NODE_NS]);
    netns::ip(&["netns", "add", NODE_NS])?;
    netns::ip(&["-n", NODE_NS, "link", "set", "lo", "up"])?;
    let source = format!("dir:{}", dir.path().display());
    let flows = dir.path().join("flows.jsonl").display().to_string();
    let mut child = std::process::Command::new("ip")
        .args(["netns", "exec", NODE_NS])
        .arg(palisade_exe()?)
        .args(["agent", "--source", &source, "--node", "n1", "--flow-log", &flows])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    let result = ready_memory(&child, Duration::from_secs(120)).map(|(peak, resident, took)| {
        format!(
            "agent memory, {pods} pods / {policies} policies on one node: peak {peak:.0} MiB, resident {resident:.0} MiB once ready ({:.1} s to ready) (target < 100 MiB)\n",
            took.as_secs_f64()
        )
    });
    let _ = child.kill();
    let _ = child.wait();
    let _ = netns::ip(&["netns", "delete", NODE_NS]);
    result
}

/// The agent with `--source kube` against the mocked API server inside the node
/// namespace, serving `pods`/`policies` synthetic objects as the API would.
fn memory_kube(pods: usize, policies: usize) -> anyhow::Result<String> {
    use palisade_kube::mock::{ApiObjects, MockApi};
    let dir = tempfile::tempdir()?;
    let mut objects = generate(&Spec::total(pods, policies, 1));
    for o in objects.iter_mut().filter(|o| o["kind"] == "Pod") {
        o["spec"]["nodeName"] = "n1".into();
    }
    let of = |k: &str| -> Vec<Value> { objects.iter().filter(|o| o["kind"] == k).cloned().collect() };
    // Dressed as the API sends them (palisade_synth::kubectl_like).
    let served: Vec<Value> = of("Pod")
        .into_iter()
        .enumerate()
        .map(|(i, mut p)| {
            palisade_synth::kubectl_like(&mut p, i);
            p
        })
        .collect();
    let bytes: usize = served.iter().map(|p| p.to_string().len()).sum();
    let api_objects = ApiObjects::default()
        .with("namespaces", of("Namespace"))
        .with("nodes", vec![])
        .with("pods", served)
        .with("networkpolicies", of("NetworkPolicy"));
    let _ = netns::ip(&["netns", "delete", NODE_NS]);
    netns::ip(&["netns", "add", NODE_NS])?;
    netns::ip(&["-n", NODE_NS, "link", "set", "lo", "up"])?;
    // The mock listens inside the node namespace, where the agent's loopback is.
    let api = std::thread::spawn(move || -> anyhow::Result<MockApi> {
        netns::enter(NODE_NS)?;
        Ok(MockApi::start(api_objects))
    })
    .join()
    .map_err(|_| anyhow::anyhow!("mock API thread panicked"))??;
    let kubeconfig = api.kubeconfig(dir.path());
    let mut child = std::process::Command::new("ip")
        .args(["netns", "exec", NODE_NS])
        .arg(palisade_exe()?)
        .args(["agent", "--source", "kube", "--node", "n1"])
        .env("KUBECONFIG", &kubeconfig)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    let result = ready_memory(&child, Duration::from_secs(180)).map(|(peak, resident, took)| {
        format!(
            "agent memory, kube source, {pods} pods ({:.0} MiB of pod JSON served) / {policies} policies: peak {peak:.0} MiB, resident {resident:.0} MiB once ready ({:.1} s to ready)\n",
            bytes as f64 / 1048576.0,
            took.as_secs_f64()
        )
    });
    let _ = child.kill();
    let _ = child.wait();
    drop(api);
    let _ = netns::ip(&["netns", "delete", NODE_NS]);
    result
}

pub fn run() -> anyhow::Result<String> {
    let mut out = format!(
        "palisade-bench agent: {} cores\n",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    );
    out.push_str(&change_to_enforcement(1_000, 500)?);
    out.push_str(&memory(10_000, 2_000)?);
    out.push_str(&memory_kube(10_000, 2_000)?);
    Ok(out)
}
