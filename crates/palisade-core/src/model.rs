//! The cluster as the engine sees it: namespaces, pods and NetworkPolicies cut down
//! to what NetworkPolicy semantics depend on. Built by the loader from real
//! Kubernetes objects, after validation; the engine never sees invalid input.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use crate::ip::Cidr;
use crate::selector::LabelSelector;
pub use crate::selector::Labels;

/// Transport protocols NetworkPolicy knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
    /// SCTP.
    Sctp,
}

impl Protocol {
    /// The three protocols, in index order.
    pub const ALL: [Protocol; 3] = [Protocol::Tcp, Protocol::Udp, Protocol::Sctp];

    /// The name as Kubernetes writes it (`TCP`).
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
            Protocol::Sctp => "SCTP",
        }
    }

    /// 0, 1, 2 for TCP, UDP, SCTP: the index into per-protocol arrays.
    pub fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Protocol {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_uppercase().as_str() {
            "TCP" => Ok(Protocol::Tcp),
            "UDP" => Ok(Protocol::Udp),
            "SCTP" => Ok(Protocol::Sctp),
            _ => Err(format!("unknown protocol {s:?} (expected TCP, UDP or SCTP)")),
        }
    }
}

/// `80` or `8000-8100`.
pub fn port_range_text(lo: u16, hi: u16) -> String {
    if lo == hi {
        lo.to_string()
    } else {
        format!("{lo}-{hi}")
    }
}

/// A namespace and its labels (including `kubernetes.io/metadata.name`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Namespace {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.labels` (with `kubernetes.io/metadata.name` set by the loader).
    pub labels: Labels,
    /// Annotations (the dataplane reads `palisade.dev/audit`).
    pub annotations: Labels,
}

/// A container port a pod declares; only named ones matter to policies.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContainerPort {
    /// The port's name, when it has one.
    pub name: Option<String>,
    /// `containerPort`.
    pub port: u16,
    /// `protocol` (TCP when unset).
    pub protocol: Protocol,
}

/// A Kubernetes object by kind, namespace and name: how findings and origins name what
/// they are about. Shown as `Kind namespace/name` (`Kind name` without a namespace).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectRef {
    /// `Pod`, `NetworkPolicy`, `Deployment`, …
    pub kind: String,
    /// `None` for cluster-scoped objects (Namespace, Node).
    pub namespace: Option<String>,
    /// `metadata.name`.
    pub name: String,
}

impl ObjectRef {
    /// The object of `kind` named `name` in `namespace`.
    pub fn new(kind: &str, namespace: Option<&str>, name: &str) -> Self {
        ObjectRef {
            kind: kind.to_string(),
            namespace: namespace.map(str::to_string),
            name: name.to_string(),
        }
    }

    /// `namespace/name` (or `name` for cluster-scoped objects), the way the CLI names
    /// objects of a known kind.
    pub fn key(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{ns}/{}", self.name),
            None => self.name.clone(),
        }
    }
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{} {ns}/{}", self.kind, self.name),
            None => write!(f, "{} {}", self.kind, self.name),
        }
    }
}

/// The workload a pod belongs to: its controlling owner (for a ReplicaSet made by a
/// Deployment, the Deployment), in the pod's namespace. Shown as `Kind/name`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Workload {
    /// `Deployment`, `StatefulSet`, `Job`, …
    pub kind: String,
    /// Its name.
    pub name: String,
}

impl Workload {
    /// The workload `kind`/`name`.
    pub fn new(kind: &str, name: &str) -> Self {
        Workload {
            kind: kind.to_string(),
            name: name.to_string(),
        }
    }
}

impl fmt::Display for Workload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.kind, self.name)
    }
}

/// A pod (or the representative pod of a workload).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pod {
    /// `metadata.namespace`.
    pub namespace: String,
    /// `metadata.name` (for a workload's representative pod, the workload's name).
    pub name: String,
    /// `metadata.labels` (a workload's pod template labels).
    pub labels: Labels,
    /// Pod addresses; the first is the primary one. Never empty after loading.
    pub ips: Vec<IpAddr>,
    /// `spec.hostNetwork`: never selected by pod selectors; its traffic is node traffic.
    pub host_network: bool,
    /// The container ports the pod declares.
    pub ports: Vec<ContainerPort>,
    /// `spec.nodeName`, when known.
    pub node: Option<String>,
    /// The workload that produced this pod (`Deployment/web`), for grouping output.
    pub workload: Option<Workload>,
    /// The object it was read from: a Pod, or the workload it stands for (`None` for pods
    /// built in code). Where its file and line are found.
    pub source: Option<ObjectRef>,
}

impl Pod {
    /// `namespace/name`, the way the CLI names pods.
    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// The port a named port resolves to on this pod for the given protocol.
    pub fn named_port(&self, name: &str, protocol: Protocol) -> Option<u16> {
        self.ports
            .iter()
            .find(|p| p.protocol == protocol && p.name.as_deref() == Some(name))
            .map(|p| p.port)
    }
}

/// Which directions a policy applies to (after `policyTypes` defaulting).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PolicyTypes {
    /// The policy isolates the pods it selects for ingress.
    pub ingress: bool,
    /// The policy isolates the pods it selects for egress.
    pub egress: bool,
}

/// The port part of a rule entry.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum PortMatch {
    /// No `port`: every port of the protocol.
    All,
    /// `port` (and `endPort`): an inclusive range.
    Range(u16, u16),
    /// A named port, resolved against the destination pod.
    Named(String),
}

/// One entry of a rule's `ports`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PolicyPort {
    /// `protocol` (TCP when unset).
    pub protocol: Protocol,
    /// `port` and `endPort`: a number, a range, a name, or every port.
    pub port: PortMatch,
}

/// `ipBlock`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct IpBlock {
    /// `cidr`.
    pub cidr: Cidr,
    /// `except`: blocks inside `cidr` that do not match.
    pub except: Vec<Cidr>,
}

impl IpBlock {
    /// Whether `ip` is in `cidr` and in no `except` block.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.cidr.contains(ip) && !self.except.iter().any(|e| e.contains(ip))
    }
}

impl fmt::Display for IpBlock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.cidr)?;
        if !self.except.is_empty() {
            let ex: Vec<String> = self.except.iter().map(|c| c.to_string()).collect();
            write!(f, " except {}", ex.join(", "))?;
        }
        Ok(())
    }
}

/// One item of `from` / `to`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Peer {
    /// `podSelector` and/or `namespaceSelector` (at least one is set).
    /// A missing `namespaceSelector` means the policy's own namespace;
    /// a missing `podSelector` means every pod of the selected namespaces.
    Pods {
        /// `namespaceSelector`.
        namespace_selector: Option<LabelSelector>,
        /// `podSelector`.
        pod_selector: Option<LabelSelector>,
    },
    /// `ipBlock`.
    IpBlock(IpBlock),
}

/// One ingress or egress rule. An empty `peers` matches every peer and an empty
/// `ports` matches every port (missing and empty lists mean the same in the API).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rule {
    /// `from` (ingress) or `to` (egress): ORed; empty matches every peer.
    pub peers: Vec<Peer>,
    /// `ports`: ORed; empty matches every port.
    pub ports: Vec<PolicyPort>,
}

/// A NetworkPolicy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    /// `metadata.namespace`.
    pub namespace: String,
    /// `metadata.name`.
    pub name: String,
    /// `spec.podSelector`: the pods of its namespace the policy applies to.
    pub pod_selector: LabelSelector,
    /// The directions it isolates (`spec.policyTypes`, defaulted).
    pub types: PolicyTypes,
    /// `spec.ingress`.
    pub ingress: Vec<Rule>,
    /// `spec.egress`.
    pub egress: Vec<Rule>,
}

impl Policy {
    /// `namespace/name`, the way the CLI names policies.
    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// The NetworkPolicy object this policy is.
    pub fn object_ref(&self) -> ObjectRef {
        ObjectRef::new("NetworkPolicy", Some(&self.namespace), &self.name)
    }

    /// The ingress or the egress rules.
    pub fn rules(&self, ingress: bool) -> &[Rule] {
        if ingress {
            &self.ingress
        } else {
            &self.egress
        }
    }
}

/// Whether `ipBlock` peers also match pod addresses (implementation-defined upstream).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum IpBlockPods {
    /// ipBlock matches pod IPs too (what the upstream conformance tests expect).
    #[default]
    Match,
    /// ipBlock matches only non-pod traffic (Cilium, GKE Dataplane V2).
    Ignore,
}

/// A named block of addresses outside the cluster, analysed as an endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct External {
    /// The name it is shown under.
    pub name: String,
    /// Its addresses.
    pub cidr: Cidr,
}

/// Options that change the answer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// Whether `ipBlock` peers also match pod addresses.
    pub ipblock_pods: IpBlockPods,
}

/// A node (`kind: Node`): its name, labels and `status.addresses` that are IP addresses.
/// Traffic between a pod and its own node is always allowed, whatever the policies.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Node {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.labels`.
    pub labels: Labels,
    /// `status.addresses` that are IP addresses.
    pub addresses: Vec<IpAddr>,
}

/// Everything the engine reasons about.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cluster {
    /// Namespaces (declared, or known through their pods and policies).
    pub namespaces: Vec<Namespace>,
    /// Pods, and the representative pods of workloads.
    pub pods: Vec<Pod>,
    /// NetworkPolicies.
    pub policies: Vec<Policy>,
    /// Named external address blocks analysed as endpoints.
    pub externals: Vec<External>,
    /// Nodes known from `kind: Node` objects (hostNetwork pods also name theirs).
    pub nodes: Vec<Node>,
    /// ClusterNetworkPolicies (Admin and Baseline tiers).
    pub cluster_policies: Vec<crate::tiers::ClusterPolicy>,
    /// NetworkPolicies annotated `palisade.dev/mode: shadow`: staged, not enforced; no
    /// answer counts them until [`Cluster::with_shadow_enforced`] moves them in.
    pub shadow_policies: Vec<Policy>,
    /// ClusterNetworkPolicies annotated `palisade.dev/mode: shadow`, staged the same way.
    pub shadow_cluster_policies: Vec<crate::tiers::ClusterPolicy>,
}

/// The annotation that stages a NetworkPolicy (`shadow`) instead of enforcing it
/// (`enforce`, the default).
pub const MODE_ANNOTATION: &str = "palisade.dev/mode";

impl Cluster {
    /// The cluster as it would be with its shadow policies enforced (promoted).
    pub fn with_shadow_enforced(mut self) -> Cluster {
        self.policies.append(&mut self.shadow_policies);
        self.cluster_policies.append(&mut self.shadow_cluster_policies);
        self
    }

    /// Whether `other` differs from this cluster in its pods at most: what decides
    /// between following pod churn and compiling again. Every other field is compared (a
    /// field added to `Cluster` must be named here, or this does not compile).
    pub fn same_but_pods(&self, other: &Cluster) -> bool {
        let Cluster {
            namespaces,
            pods: _,
            policies,
            externals,
            nodes,
            cluster_policies,
            shadow_policies,
            shadow_cluster_policies,
        } = self;
        *namespaces == other.namespaces
            && *policies == other.policies
            && *externals == other.externals
            && *nodes == other.nodes
            && *cluster_policies == other.cluster_policies
            && *shadow_policies == other.shadow_policies
            && *shadow_cluster_policies == other.shadow_cluster_policies
    }

    /// Whether some policy of either kind is staged.
    pub fn has_shadow(&self) -> bool {
        !self.shadow_policies.is_empty() || !self.shadow_cluster_policies.is_empty()
    }

    /// The namespace called `name`.
    pub fn namespace(&self, name: &str) -> Option<&Namespace> {
        self.namespaces.iter().find(|n| n.name == name)
    }
}
