//! Bringing a lab up and down: namespaces, routed veths, the dataplane in each node, and
//! the state file that lets `probe` and `down` find a lab left up.

use std::collections::HashSet;
use std::net::IpAddr;
use std::path::PathBuf;

use palisade_nft::Ruleset;

use crate::netns::{self, ip, NetnsError};
use crate::topology::{lab_prefix, LabPod, Topology};

/// What went wrong building, probing or removing a lab.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// A network namespace command failed.
    #[error(transparent)]
    Netns(#[from] NetnsError),
    /// A node's nftables table was refused.
    #[error("applying the dataplane in {node}: {err}")]
    Apply {
        /// The lab node.
        node: String,
        /// Why the kernel refused.
        err: palisade_nft::ApplyError,
    },
    /// The lab's state file could not be read or written (path, reason).
    #[error("lab state {0}: {1}")]
    State(String, String),
    /// A lab name that is not lowercase letters and digits.
    #[error("lab names are lowercase letters and digits, got {0:?}")]
    BadName(String),
    /// A probe could not be run.
    #[error("{0}")]
    Probe(String),
}

/// Where a lab's state lives.
pub fn state_path(lab: &str) -> PathBuf {
    PathBuf::from(format!("/run/palisade-lab/{lab}.json"))
}

/// Refuses lab names that could escape their namespace prefix or the state directory.
pub fn check_name(lab: &str) -> Result<(), LabError> {
    if lab.is_empty() || !lab.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()) {
        return Err(LabError::BadName(lab.into()));
    }
    Ok(())
}

/// What a lab that is up remembers between commands.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct State {
    /// Its nodes and pods.
    pub topology: Topology,
    /// The listener daemon, when the lab was brought up by `lab up`.
    pub serve_pid: Option<u32>,
}

/// Writes the lab's state under `/run/palisade-lab`.
pub fn save_state(state: &State) -> Result<(), LabError> {
    let p = state_path(&state.topology.lab);
    let err = |e: std::io::Error| LabError::State(p.display().to_string(), e.to_string());
    std::fs::create_dir_all(p.parent().expect("has a parent")).map_err(err)?;
    std::fs::write(&p, serde_json::to_vec_pretty(state).expect("json")).map_err(err)
}

/// Reads the state of a lab that is up.
pub fn load_state(lab: &str) -> Result<State, LabError> {
    let p = state_path(lab);
    let text = std::fs::read(&p)
        .map_err(|e| LabError::State(p.display().to_string(), format!("{e} (is the lab up?)")))?;
    serde_json::from_slice(&text).map_err(|e| LabError::State(p.display().to_string(), e.to_string()))
}

/// Removes everything a lab made: its listener daemon, its namespaces (and with them every
/// veth), its state. Safe to call on a lab that is not there.
pub fn down(lab: &str) -> Result<usize, LabError> {
    check_name(lab)?;
    if let Ok(state) = load_state(lab) {
        if let Some(pid) = state.serve_pid {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
    let spaces = netns::list(&lab_prefix(lab));
    for ns in &spaces {
        // A namespace can be busy for a moment after its processes die; retry briefly.
        let mut last = Ok(());
        for _ in 0..20 {
            last = ip(&["netns", "delete", ns]);
            if last.is_ok() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        last?;
    }
    let _ = std::fs::remove_file(state_path(lab));
    Ok(spaces.len())
}

fn v4(ip: &IpAddr) -> bool {
    ip.is_ipv4()
}

/// Builds the lab: node namespaces linked pairwise, one namespace per pod with its
/// addresses, routes through its node, and each node's ruleset applied. Cleans up a
/// stale lab of the same name first, and everything it made if a step fails.
pub fn up(topo: &Topology, rulesets: &[Ruleset]) -> Result<(), LabError> {
    check_name(&topo.lab)?;
    down(&topo.lab)?;
    let r = build(topo, rulesets);
    if r.is_err() {
        let _ = down(&topo.lab);
    }
    r
}

fn build(topo: &Topology, rulesets: &[Ruleset]) -> Result<(), LabError> {
    for node in &topo.nodes {
        let n = node.netns.as_str();
        ip(&["netns", "add", n])?;
        ip(&["-n", n, "link", "set", "lo", "up"])?;
        netns::exec(
            n,
            "sysctl",
            &[
                "-qw",
                "net.ipv4.ip_forward=1",
                "net.ipv6.conf.all.forwarding=1",
                "net.ipv4.conf.all.rp_filter=0",
            ],
        )?;
    }
    // Node links: a full mesh of routed veth pairs, link-local addresses at each end.
    for a in 0..topo.nodes.len() {
        for b in a + 1..topo.nodes.len() {
            let (na, nb) = (&topo.nodes[a].netns, &topo.nodes[b].netns);
            let (la, lb) = (format!("nl{b}"), format!("nl{a}"));
            ip(&[
                "link", "add", &la, "netns", na, "type", "veth", "peer", "name", &lb, "netns", nb,
            ])?;
            for (ns, dev, k) in [(na, &la, a), (nb, &lb, b)] {
                ip(&["-n", ns, "link", "set", dev, "up"])?;
                ip(&[
                    "-n",
                    ns,
                    "addr",
                    "add",
                    &format!("169.254.100.{}/32", k + 1),
                    "dev",
                    dev,
                ])?;
                ip(&[
                    "-n",
                    ns,
                    "addr",
                    "add",
                    &format!("fe80::100:{}/64", k + 1),
                    "dev",
                    dev,
                    "nodad",
                ])?;
            }
        }
    }
    let mut routed: HashSet<IpAddr> = HashSet::new();
    for (i, pod) in topo.pods.iter().enumerate() {
        if pod.host_network {
            host_network_pod(pod, &mut routed)?;
        } else {
            pod_namespace(i, pod, &topo.nodes[pod.node].netns)?;
        }
        for a in &pod.ips {
            if routed.insert(*a) {
                route_from_other_nodes(topo, pod.node, a)?;
            }
        }
    }
    for (node, rs) in topo.nodes.iter().zip(rulesets) {
        palisade_nft::apply::run_script_in(Some(&node.netns), &rs.replace_script()).map_err(|err| {
            LabError::Apply {
                node: node.name.clone(),
                err,
            }
        })?;
    }
    Ok(())
}

/// A pod's own namespace, linked to its node by a veth pair, with its addresses, its
/// default route through the node and the node's route back.
fn pod_namespace(i: usize, pod: &LabPod, node: &str) -> Result<(), LabError> {
    let p = pod.netns.as_str();
    let dev = format!("pv{i}");
    ip(&["netns", "add", p])?;
    ip(&["-n", p, "link", "set", "lo", "up"])?;
    ip(&[
        "link", "add", &dev, "netns", node, "type", "veth", "peer", "name", "eth0", "netns", p,
    ])?;
    ip(&["-n", node, "link", "set", &dev, "up"])?;
    ip(&["-n", node, "addr", "add", "169.254.1.1/32", "dev", &dev])?;
    ip(&["-n", node, "addr", "add", "fe80::1/64", "dev", &dev, "nodad"])?;
    ip(&["-n", p, "link", "set", "eth0", "up"])?;
    for a in &pod.ips {
        let (plen, extra): (&str, &[&str]) = if v4(a) { ("32", &[]) } else { ("128", &["nodad"]) };
        let mut args = vec!["-n", p, "addr", "add"];
        let addr = format!("{a}/{plen}");
        args.push(&addr);
        args.extend(["dev", "eth0"]);
        args.extend(extra);
        ip(&args)?;
        ip(&["-n", node, "route", "add", &a.to_string(), "dev", &dev])?;
    }
    ip(&["-n", p, "route", "add", "169.254.1.1/32", "dev", "eth0"])?;
    ip(&[
        "-n",
        p,
        "route",
        "add",
        "default",
        "via",
        "169.254.1.1",
        "dev",
        "eth0",
        "onlink",
    ])?;
    ip(&[
        "-n", p, "-6", "route", "add", "default", "via", "fe80::1", "dev", "eth0",
    ])?;
    Ok(())
}

/// A hostNetwork pod's addresses become its node's own (on the node's loopback); pods
/// sharing their node's address share it here too.
fn host_network_pod(pod: &LabPod, placed: &mut HashSet<IpAddr>) -> Result<(), LabError> {
    for a in pod.ips.iter().filter(|a| !placed.contains(*a)) {
        let (plen, extra): (&str, &[&str]) = if v4(a) { ("32", &[]) } else { ("128", &["nodad"]) };
        let addr = format!("{a}/{plen}");
        let mut args = vec!["-n", pod.netns.as_str(), "addr", "add", &addr, "dev", "lo"];
        args.extend(extra);
        ip(&args)?;
    }
    Ok(())
}

/// Other nodes reach `a` through the node of `node`.
fn route_from_other_nodes(topo: &Topology, node: usize, a: &IpAddr) -> Result<(), LabError> {
    let host = a.to_string();
    for (k, other) in topo.nodes.iter().enumerate() {
        if k == node {
            continue;
        }
        let link = format!("nl{node}");
        // IPv4 routes go via the node's link-local address `onlink`; IPv6 ones via its fe80::.
        let (family, via, onlink): (&str, String, &[&str]) = if v4(a) {
            ("-4", format!("169.254.100.{}", node + 1), &["onlink"])
        } else {
            ("-6", format!("fe80::100:{}", node + 1), &[])
        };
        let mut args = vec![
            "-n",
            other.netns.as_str(),
            family,
            "route",
            "add",
            &host,
            "via",
            &via,
            "dev",
            &link,
        ];
        args.extend(onlink);
        ip(&args)?;
    }
    Ok(())
}
