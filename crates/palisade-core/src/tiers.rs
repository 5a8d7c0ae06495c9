//! ClusterNetworkPolicy (`policy.networking.k8s.io/v1alpha2`): cluster-wide rules in two
//! tiers around NetworkPolicy. Per direction (egress at the source, ingress at the
//! destination) the Admin tier decides first, then NetworkPolicy for the pods it
//! isolates, then the Baseline tier, then the default (allow):
//!
//! ```text
//! Admin CNPs (priority, then name; rules in order; first match)
//!   Accept -> allowed   Deny -> denied   Pass / no match -> next tier
//! NetworkPolicy (only for pods a NetworkPolicy isolates in this direction)
//!   some rule allows -> allowed   else -> denied
//! Baseline CNPs (as Admin)
//!   Accept -> allowed   Deny -> denied   Pass / no match -> allowed (default)
//! ```
//!
//! This module holds the model and the direct reading of one tier for one connection
//! (what `explain` shows and the compiled form is tested against).

use std::net::IpAddr;

use crate::ip::Cidr;
use crate::model::{Cluster, Labels, Pod, PolicyPort, PortMatch, Protocol};
use crate::selector::LabelSelector;

/// The tier of a ClusterNetworkPolicy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Tier {
    /// Before NetworkPolicy: namespace owners cannot undo it.
    Admin,
    /// After NetworkPolicy: for pods no NetworkPolicy isolates.
    Baseline,
}

impl Tier {
    /// `Admin` or `Baseline`, as the API writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Admin => "Admin",
            Tier::Baseline => "Baseline",
        }
    }
}

/// What a matching rule does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// Allowed for this direction; no later rule or tier is read.
    Accept,
    /// Denied; no later rule or tier is read.
    Deny,
    /// The rest of this tier is skipped; the next tier decides.
    Pass,
}

impl Action {
    /// `Accept`, `Deny` or `Pass`.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Accept => "Accept",
            Action::Deny => "Deny",
            Action::Pass => "Pass",
        }
    }
}

/// The pods a ClusterNetworkPolicy applies to (never host-network pods).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum CnpSubject {
    /// Every pod of the namespaces the selector picks.
    Namespaces(LabelSelector),
    /// The pods the pod selector picks in the namespaces the namespace selector picks.
    Pods {
        /// `namespaceSelector` (empty: every namespace).
        namespaces: LabelSelector,
        /// `podSelector` (empty: every pod).
        pods: LabelSelector,
    },
}

/// One peer of a rule: exactly one field was set.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum CnpPeer {
    /// Every pod (not host-network) of the namespaces the selector picks.
    Namespaces(LabelSelector),
    /// The pods (not host-network) a pod selector picks in the namespaces a namespace
    /// selector picks.
    Pods {
        /// `namespaceSelector`.
        namespaces: LabelSelector,
        /// `podSelector`.
        pods: LabelSelector,
    },
    /// Egress only: the addresses (`status.addresses`) of the Nodes the selector picks.
    Nodes(LabelSelector),
    /// Egress only: address blocks; they match pod and node addresses too.
    Networks(Vec<Cidr>),
    /// Egress only: domain names. Not modelled: nothing offline or in nftables can tell
    /// which addresses they resolve to, so they match nothing here, and every command
    /// says so where they appear.
    DomainNames(Vec<String>),
    /// A peer with no field Palisade knows: it fails closed, as the API asks (an Accept
    /// rule matches nothing; a Deny or Pass rule denies everything).
    Unknown,
}

/// One entry of a rule's `protocols`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum CnpPort {
    /// `tcp`/`udp`/`sctp` with a `destinationPort` number or an inclusive range (every
    /// port when `None`).
    Ports(Protocol, Option<(u16, u16)>),
    /// `destinationNamedPort`: a container port name, resolved on the destination pod.
    Named(String),
}

/// One rule of a ClusterNetworkPolicy.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CnpRule {
    /// `name`, when given.
    pub name: Option<String>,
    /// What it does when it matches.
    pub action: Action,
    /// `from` (ingress) or `to` (egress): ORed, never empty.
    pub peers: Vec<CnpPeer>,
    /// `protocols`: ORed; empty matches all traffic.
    pub protocols: Vec<CnpPort>,
}

/// A ClusterNetworkPolicy (or a v1alpha1 AdminNetworkPolicy / BaselineAdminNetworkPolicy
/// read as one).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterPolicy {
    /// `metadata.name`.
    pub name: String,
    /// `spec.tier`.
    pub tier: Tier,
    /// `spec.priority`, 0–1000: lower first.
    pub priority: u16,
    /// `spec.subject`.
    pub subject: CnpSubject,
    /// `spec.ingress`, in order.
    pub ingress: Vec<CnpRule>,
    /// `spec.egress`, in order.
    pub egress: Vec<CnpRule>,
}

impl ClusterPolicy {
    /// The object, as a `ClusterNetworkPolicy` (v1alpha1 objects are read as one).
    pub fn object_ref(&self) -> crate::model::ObjectRef {
        crate::model::ObjectRef::new("ClusterNetworkPolicy", None, &self.name)
    }

    /// The ingress or the egress rules.
    pub fn rules(&self, ingress: bool) -> &[CnpRule] {
        if ingress {
            &self.ingress
        } else {
            &self.egress
        }
    }
}

/// Whether a namespace with `ns_labels` and a pod with `labels` (not host-network) are
/// picked by a subject or a pod/namespace peer.
fn picks(
    namespaces: &LabelSelector,
    pods: Option<&LabelSelector>,
    ns_labels: &Labels,
    labels: &Labels,
) -> bool {
    namespaces.matches(ns_labels) && pods.is_none_or(|p| p.matches(labels))
}

impl CnpSubject {
    /// Whether the subject picks `pod` (never a host-network pod).
    pub fn picks(&self, pod: &Pod, ns_labels: &Labels) -> bool {
        if pod.host_network {
            return false;
        }
        match self {
            CnpSubject::Namespaces(n) => picks(n, None, ns_labels, &pod.labels),
            CnpSubject::Pods { namespaces, pods } => picks(namespaces, Some(pods), ns_labels, &pod.labels),
        }
    }
}

/// The other end of a connection, as a CNP peer sees it.
pub enum PeerEnd<'a> {
    /// A pod, with its namespace's labels.
    Pod(&'a Pod, &'a Labels),
    /// An address block outside the pods (an external, or a single address).
    Block(&'a Cidr),
}

impl CnpPeer {
    /// Whether the peer matches the other end. `DomainNames` and `Unknown` match nothing
    /// here (see [`CnpRule::matches`] for how `Unknown` fails closed).
    pub fn matches(&self, cluster: &Cluster, end: &PeerEnd<'_>) -> bool {
        match (self, end) {
            (CnpPeer::Namespaces(n), PeerEnd::Pod(p, nl)) => !p.host_network && picks(n, None, nl, &p.labels),
            (CnpPeer::Pods { namespaces, pods }, PeerEnd::Pod(p, nl)) => {
                !p.host_network && picks(namespaces, Some(pods), nl, &p.labels)
            }
            (CnpPeer::Networks(cidrs), PeerEnd::Pod(p, _)) => {
                p.ips.iter().any(|ip| cidrs.iter().any(|c| c.contains(*ip)))
            }
            (CnpPeer::Networks(cidrs), PeerEnd::Block(b)) => cidrs.iter().any(|c| c.covers(b)),
            (CnpPeer::Nodes(sel), PeerEnd::Pod(p, _)) => {
                p.host_network && node_addressed(cluster, sel, &p.ips)
            }
            (CnpPeer::Nodes(sel), PeerEnd::Block(b)) => {
                b.is_host() && node_addressed(cluster, sel, &[b.network_ip()])
            }
            _ => false,
        }
    }
}

/// Whether one of `ips` is an address of a Node the selector picks.
fn node_addressed(cluster: &Cluster, sel: &LabelSelector, ips: &[IpAddr]) -> bool {
    cluster
        .nodes
        .iter()
        .any(|n| sel.matches(&n.labels) && n.addresses.iter().any(|a| ips.contains(a)))
}

impl CnpPort {
    /// Whether the entry matches `protocol`/`port` towards `dst` (named ports resolve on
    /// the destination pod only).
    pub fn matches(&self, protocol: Protocol, port: u16, dst: Option<&Pod>) -> bool {
        match self {
            CnpPort::Ports(p, None) => *p == protocol,
            CnpPort::Ports(p, Some((lo, hi))) => *p == protocol && (*lo..=*hi).contains(&port),
            CnpPort::Named(name) => dst.is_some_and(|d| d.named_port(name, protocol) == Some(port)),
        }
    }
}

impl CnpRule {
    /// Whether the rule applies to the connection: a peer matches (an `Unknown` peer
    /// matches everything in a Deny or Pass rule, which then denies) and a protocol entry
    /// matches (or there are none).
    pub fn matches(
        &self,
        cluster: &Cluster,
        end: &PeerEnd<'_>,
        protocol: Protocol,
        port: u16,
        dst: Option<&Pod>,
    ) -> bool {
        let fail_closed = self.fails_closed();
        let peer = fail_closed || self.peers.iter().any(|p| p.matches(cluster, end));
        let ports = fail_closed
            || self.protocols.is_empty()
            || self.protocols.iter().any(|p| p.matches(protocol, port, dst));
        peer && ports
    }

    /// Whether an `Unknown` peer makes the rule match every connection (Deny and Pass
    /// rules fail closed).
    pub fn fails_closed(&self) -> bool {
        self.action != Action::Accept && self.peers.contains(&CnpPeer::Unknown)
    }

    /// `protocols` as NetworkPolicy port entries, which match the same connections: a
    /// named port stands for that name under each protocol. Empty (every connection) when
    /// the rule has none or fails closed.
    pub fn policy_ports(&self) -> Vec<PolicyPort> {
        if self.fails_closed() {
            return Vec::new();
        }
        let mut out = Vec::new();
        for p in &self.protocols {
            match p {
                CnpPort::Ports(protocol, None) => out.push(PolicyPort {
                    protocol: *protocol,
                    port: PortMatch::All,
                }),
                CnpPort::Ports(protocol, Some((lo, hi))) => out.push(PolicyPort {
                    protocol: *protocol,
                    port: PortMatch::Range(*lo, *hi),
                }),
                CnpPort::Named(name) => out.extend(Protocol::ALL.map(|protocol| PolicyPort {
                    protocol,
                    port: PortMatch::Named(name.clone()),
                })),
            }
        }
        out
    }

    /// The action taken when the rule matches: a Pass rule that fails closed denies.
    pub fn effective_action(&self) -> Action {
        if self.action == Action::Pass && self.peers.contains(&CnpPeer::Unknown) {
            Action::Deny
        } else {
            self.action
        }
    }
}

/// The order rules are read in within a tier: priority, then name (ties are
/// implementation-defined upstream; lint warns when tied policies disagree).
pub fn tier_order(cluster: &Cluster, tier: Tier) -> Vec<usize> {
    let mut v: Vec<usize> = (0..cluster.cluster_policies.len())
        .filter(|&i| cluster.cluster_policies[i].tier == tier)
        .collect();
    v.sort_by(|&a, &b| {
        let (a, b) = (&cluster.cluster_policies[a], &cluster.cluster_policies[b]);
        (a.priority, &a.name).cmp(&(b.priority, &b.name))
    });
    v
}
