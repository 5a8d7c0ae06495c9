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
    Tcp,
    Udp,
    Sctp,
}

impl Protocol {
    pub const ALL: [Protocol; 3] = [Protocol::Tcp, Protocol::Udp, Protocol::Sctp];

    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
            Protocol::Sctp => "SCTP",
        }
    }

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
    pub name: String,
    pub labels: Labels,
    /// Annotations (the dataplane reads `palisade.dev/audit`).
    pub annotations: Labels,
}

/// A container port a pod declares; only named ones matter to policies.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContainerPort {
    pub name: Option<String>,
    pub port: u16,
    pub protocol: Protocol,
}

/// A Kubernetes object by kind, namespace and name: how findings and origins name what
/// they are about. Shown as `Kind namespace/name` (`Kind name` without a namespace).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectRef {
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
}

impl ObjectRef {
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

/// A pod (or the representative pod of a workload).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pod {
    pub namespace: String,
    pub name: String,
    pub labels: Labels,
    /// Pod addresses; the first is the primary one. Never empty after loading.
    pub ips: Vec<IpAddr>,
    /// `spec.hostNetwork`: never selected by pod selectors; its traffic is node traffic.
    pub host_network: bool,
    pub ports: Vec<ContainerPort>,
    /// `spec.nodeName`, when known.
    pub node: Option<String>,
    /// The workload that produced this pod (`Deployment/web`), for grouping output.
    pub workload: Option<String>,
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
    pub ingress: bool,
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
    pub protocol: Protocol,
    pub port: PortMatch,
}

/// `ipBlock`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct IpBlock {
    pub cidr: Cidr,
    pub except: Vec<Cidr>,
}

impl IpBlock {
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
        namespace_selector: Option<LabelSelector>,
        pod_selector: Option<LabelSelector>,
    },
    IpBlock(IpBlock),
}

/// One ingress or egress rule. An empty `peers` matches every peer and an empty
/// `ports` matches every port (missing and empty lists mean the same in the API).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rule {
    pub peers: Vec<Peer>,
    pub ports: Vec<PolicyPort>,
}

/// A NetworkPolicy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    pub namespace: String,
    pub name: String,
    pub pod_selector: LabelSelector,
    pub types: PolicyTypes,
    pub ingress: Vec<Rule>,
    pub egress: Vec<Rule>,
}

impl Policy {
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
    pub name: String,
    pub cidr: Cidr,
}

/// Options that change the answer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Options {
    pub ipblock_pods: IpBlockPods,
}

/// A node (`kind: Node`): its name, labels and `status.addresses` that are IP addresses.
/// Traffic between a pod and its own node is always allowed, whatever the policies.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Node {
    pub name: String,
    pub labels: Labels,
    pub addresses: Vec<IpAddr>,
}

/// Everything the engine reasons about.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cluster {
    pub namespaces: Vec<Namespace>,
    pub pods: Vec<Pod>,
    pub policies: Vec<Policy>,
    pub externals: Vec<External>,
    /// Nodes known from `kind: Node` objects (hostNetwork pods also name theirs).
    pub nodes: Vec<Node>,
}

impl Cluster {
    pub fn namespace(&self, name: &str) -> Option<&Namespace> {
        self.namespaces.iter().find(|n| n.name == name)
    }
}
