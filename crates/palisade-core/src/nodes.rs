//! Node-local traffic. The NetworkPolicy API: "traffic to and from the node where a Pod
//! is running is always allowed, regardless of the IP address of the Pod or the node."
//!
//! - An endpoint *is* a node when it is a hostNetwork pod (its node is `spec.nodeName`,
//!   or the Node whose `status.addresses` hold the pod's address), or an external single
//!   address that a Node object lists.
//! - A pod *lives on* a node when it is not hostNetwork and names it in `spec.nodeName`.
//! - A connection between a pod and the node it lives on is allowed in both directions,
//!   whatever isolates the pod. Nothing else about nodes changes: a node's traffic to pods
//!   on other nodes is judged like any hostNetwork traffic (only ipBlock peers match it).

use std::collections::HashMap;
use std::net::IpAddr;

use crate::explain::Endpoint;
use crate::model::{Cluster, Pod};

/// Answers "which node is this endpoint?" for one cluster.
pub struct NodeIndex<'a> {
    by_address: HashMap<IpAddr, &'a str>,
}

impl<'a> NodeIndex<'a> {
    /// The index of `cluster`'s nodes.
    pub fn new(cluster: &'a Cluster) -> Self {
        let mut by_address = HashMap::new();
        for node in &cluster.nodes {
            for ip in &node.addresses {
                by_address.entry(*ip).or_insert(node.name.as_str());
            }
        }
        NodeIndex { by_address }
    }

    /// The Node that lists `ip` among its addresses.
    pub fn node_with_address(&self, ip: IpAddr) -> Option<&'a str> {
        self.by_address.get(&ip).copied()
    }

    /// The node a hostNetwork pod is (its `spec.nodeName`, else the Node holding its address).
    pub fn pod_as_node(&self, pod: &'a Pod) -> Option<&'a str> {
        pod_as_node(pod, |ip| self.node_with_address(ip))
    }
}

fn pod_as_node<'a>(pod: &'a Pod, lookup: impl Fn(IpAddr) -> Option<&'a str>) -> Option<&'a str> {
    if !pod.host_network {
        return None;
    }
    pod.node
        .as_deref()
        .or_else(|| pod.ips.iter().find_map(|ip| lookup(*ip)))
}

fn node_with_address_direct(cluster: &Cluster, ip: IpAddr) -> Option<&str> {
    cluster
        .nodes
        .iter()
        .find(|n| n.addresses.contains(&ip))
        .map(|n| n.name.as_str())
}

/// The node an endpoint is, found by reading the nodes one by one (the direct evaluator's way).
pub fn endpoint_as_node_direct<'a>(cluster: &'a Cluster, e: &Endpoint) -> Option<&'a str> {
    match e {
        Endpoint::Pod(i) => pod_as_node_direct(cluster, &cluster.pods[*i]),
        Endpoint::External(c) if c.is_host() => node_with_address_direct(cluster, c.network_ip()),
        Endpoint::External(_) => None,
    }
}

/// The node a pod is (see [`NodeIndex::pod_as_node`]), read directly.
pub fn pod_as_node_direct<'a>(cluster: &'a Cluster, pod: &'a Pod) -> Option<&'a str> {
    pod_as_node(pod, |ip| node_with_address_direct(cluster, ip))
}

/// The node both ends share when one end is that node and the other a pod living on it:
/// then the connection is node-local and always allowed in that direction.
pub fn shared_node<'a>(cluster: &'a Cluster, pod: &'a Pod, other: &Endpoint) -> Option<&'a str> {
    let home = resident_node(pod)?;
    (endpoint_as_node_direct(cluster, other) == Some(home)).then_some(home)
}

/// The node a (non-hostNetwork) pod runs on.
pub fn resident_node(pod: &Pod) -> Option<&str> {
    if pod.host_network {
        None
    } else {
        pod.node.as_deref()
    }
}
