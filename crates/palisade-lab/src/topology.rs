//! The lab's shape, from the cluster: namespaces, links and addresses. Plain data, saved in
//! the state file so that `probe` and `down` work on a lab left up.

use std::collections::BTreeSet;
use std::net::IpAddr;

use palisade_core::nodes::{resident_node, NodeIndex};
use palisade_core::{Cluster, Protocol};
use serde::{Deserialize, Serialize};

/// Every namespace the lab makes starts with this.
pub const PREFIX: &str = "pal-";

/// A pod of the lab: a network namespace on a lab node, its addresses and listeners.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct LabPod {
    /// `namespace/name`.
    pub key: String,
    /// Its network namespace.
    pub netns: String,
    /// Its node (index into [`Topology::nodes`]).
    pub node: usize,
    /// Its addresses.
    pub ips: Vec<IpAddr>,
    /// Listeners: (port, protocol name).
    pub ports: Vec<(u16, String)>,
    /// A hostNetwork pod is its node: `netns` is the node's, its addresses are the node's
    /// own, and its traffic with the node's pods never crosses the forward hook.
    #[serde(default)]
    pub host_network: bool,
}

/// A lab node: a network namespace that routes between its pods and other nodes.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct LabNode {
    /// The Kubernetes node name it stands for.
    pub name: String,
    /// Its network namespace.
    pub netns: String,
}

/// A whole lab: nodes and pods, as `up` builds it and `down` removes it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Topology {
    /// Lab name ("" for the default lab).
    pub lab: String,
    /// The nodes.
    pub nodes: Vec<LabNode>,
    /// The pods.
    pub pods: Vec<LabPod>,
}

/// The prefix of a lab's namespaces.
pub fn lab_prefix(lab: &str) -> String {
    if lab.is_empty() {
        PREFIX.to_string()
    } else {
        format!("{PREFIX}{lab}-")
    }
}

impl Topology {
    /// One node per distinct node of a pod (pods without one go to the first node, or to
    /// `node` when no pod names one). A hostNetwork pod lives in its node's namespace with
    /// its addresses on the node's loopback, as on a real node: the node's own traffic
    /// with its pods goes through the output and input hooks, never the forward hook the
    /// dataplane filters, and only ipBlock peers match it elsewhere.
    pub fn plan(cluster: &Cluster, lab: &str, extra_ports: &[(u16, Protocol)]) -> Topology {
        let prefix = lab_prefix(lab);
        let index = NodeIndex::new(cluster);
        let node_of = |p| index.pod_as_node(p).or(resident_node(p));
        let mut names: BTreeSet<String> = cluster
            .pods
            .iter()
            .filter_map(|p| node_of(p).map(str::to_string))
            .collect();
        if names.is_empty() {
            names.insert("node".into());
        }
        let nodes: Vec<LabNode> = names
            .iter()
            .map(|n| LabNode {
                name: n.clone(),
                netns: format!("{prefix}node@{n}"),
            })
            .collect();
        let pods = cluster
            .pods
            .iter()
            .map(|p| {
                let node = node_of(p)
                    .and_then(|n| nodes.iter().position(|x| x.name == n))
                    .unwrap_or(0);
                let mut ports: BTreeSet<(u16, String)> = p
                    .ports
                    .iter()
                    .map(|c| (c.port, c.protocol.as_str().to_string()))
                    .collect();
                ports.extend(extra_ports.iter().map(|(n, pr)| (*n, pr.as_str().to_string())));
                LabPod {
                    key: p.key(),
                    netns: if p.host_network {
                        nodes[node].netns.clone()
                    } else {
                        format!("{prefix}{}.{}", p.namespace, p.name)
                    },
                    node,
                    ips: p.ips.clone(),
                    ports: ports.into_iter().collect(),
                    host_network: p.host_network,
                }
            })
            .collect();
        Topology {
            lab: lab.to_string(),
            nodes,
            pods,
        }
    }
}
