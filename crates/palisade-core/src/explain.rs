//! The direct evaluator: decides one connection by reading the policies one by one,
//! and records why. It is what `palisade explain` prints and the oracle the fast
//! matrix is tested against, so it follows the API reference as literally as possible.

use crate::ip::Cidr;
use crate::model::{Cluster, IpBlockPods, Options, Peer, Pod, PolicyPort, PortMatch, Protocol, Rule};
use crate::nodes;
use crate::tiers::{self, Action, PeerEnd, Tier};

/// One end of a connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// Index into `Cluster::pods`.
    Pod(usize),
    /// Addresses outside the pod network (a single IP is a /32 or /128).
    /// It matches an `ipBlock` only if the whole block is inside `cidr` and outside every `except`.
    External(Cidr),
}

/// Why a peer item did or did not match.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerOutcome {
    /// The item's index in the rule's `from`/`to` list.
    pub index: usize,
    /// Whether the item matches the other end.
    pub matched: bool,
    /// Why, in words.
    pub reason: String,
}

/// Why a port item did or did not match.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortOutcome {
    /// The item's index in the rule's `ports` list.
    pub index: usize,
    /// Whether the item matches the port.
    pub matched: bool,
    /// Why, in words.
    pub reason: String,
}

/// One rule of a policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleTrace {
    /// The rule's index in the policy's `ingress`/`egress` list.
    pub index: usize,
    /// Empty when the rule has no peers (all peers match).
    pub peers: Vec<PeerOutcome>,
    /// Empty when the rule has no ports (all ports match).
    pub ports: Vec<PortOutcome>,
    /// Whether some peer item (or the absence of peers) matches.
    pub peer_matched: bool,
    /// Whether some port item (or the absence of ports) matches.
    pub port_matched: bool,
}

impl RuleTrace {
    /// Whether the rule allows the connection: peer and port both match.
    pub fn matched(&self) -> bool {
        self.peer_matched && self.port_matched
    }
}

/// A policy that selects the pod for the direction, and its rules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyTrace {
    /// Index into `Cluster::policies`.
    pub policy: usize,
    /// Its rules for this direction, in written order.
    pub rules: Vec<RuleTrace>,
}

impl PolicyTrace {
    /// Whether some rule of the policy allows the connection.
    pub fn allows(&self) -> bool {
        self.rules.iter().any(RuleTrace::matched)
    }
}

/// Why the side's own pod is or is not subject to policies in this direction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Subject {
    /// Not a pod: nothing restricts it.
    NotAPod,
    /// A hostNetwork pod: pod selectors never select it.
    HostNetwork,
    /// A pod.
    Pod {
        /// At least one policy selects it for this direction.
        isolated: bool,
    },
}

/// One direction of the connection: egress at the source, ingress at the destination.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirectionTrace {
    /// Whether the side's own pod is subject to policies, and why.
    pub subject: Subject,
    /// Policies selecting the pod for this direction.
    pub policies: Vec<PolicyTrace>,
    /// Policies of the pod's namespace that apply to this direction but do not select it,
    /// with the selector requirement that failed.
    pub not_selecting: Vec<(usize, String)>,
    /// The pod's own node, when the other end is that node: allowed whatever the policies say.
    pub node_local: Option<String>,
    /// Admin-tier ClusterNetworkPolicies selecting the pod, in the order they were read
    /// (up to the one that decided).
    pub admin: Vec<CnpTrace>,
    /// Baseline-tier ClusterNetworkPolicies read (only when the earlier tiers left the
    /// connection undecided).
    pub baseline: Vec<CnpTrace>,
    /// Who decided this direction.
    pub decided_by: DecidedBy,
    /// Whether this direction allows the connection.
    pub allowed: bool,
}

/// A ClusterNetworkPolicy selecting the pod, and its rules for the direction as read (up
/// to the first that matched).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CnpTrace {
    /// Index into `Cluster::cluster_policies`.
    pub policy: usize,
    /// Each rule read: its index and whether it matched (only the last can have).
    pub rules: Vec<(usize, bool)>,
}

/// What decided one direction of a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecidedBy {
    /// Nothing restricts the side: not a pod, a host-network pod, or no policy of any
    /// tier selected it (or all passed).
    Default,
    /// A ClusterNetworkPolicy's rule (policy index, rule index) with its action (Accept
    /// or Deny; a Pass only hands over).
    ClusterPolicy(Tier, usize, usize, Action),
    /// The NetworkPolicies that isolate the pod.
    NetworkPolicy,
    /// Traffic between the pod and its own node: always allowed once some policy of any
    /// tier applies to the pod, before the Admin tier is read.
    NodeLocal,
}

/// The whole answer for one connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Explanation {
    /// The protocol asked about.
    pub protocol: Protocol,
    /// The destination port asked about.
    pub port: u16,
    /// A pod talking to itself: always allowed.
    pub self_traffic: bool,
    /// Egress, decided at the source.
    pub egress: DirectionTrace,
    /// Ingress, decided at the destination.
    pub ingress: DirectionTrace,
    /// The answer: both directions allow (or self traffic).
    pub allowed: bool,
}

/// Decides whether `from` may open a connection to `to` on `port`/`protocol`.
pub fn explain(
    cluster: &Cluster,
    options: &Options,
    from: &Endpoint,
    to: &Endpoint,
    protocol: Protocol,
    port: u16,
) -> Explanation {
    let ctx = Ctx { cluster, options };
    let egress = ctx.direction(Direction::Egress, from, to, protocol, port);
    let ingress = ctx.direction(Direction::Ingress, to, from, protocol, port);
    let self_traffic = matches!((from, to), (Endpoint::Pod(a), Endpoint::Pod(b)) if a == b);
    Explanation {
        protocol,
        port,
        self_traffic,
        allowed: self_traffic || (egress.allowed && ingress.allowed),
        egress,
        ingress,
    }
}

/// Just the verdict.
pub fn allowed(
    cluster: &Cluster,
    options: &Options,
    from: &Endpoint,
    to: &Endpoint,
    protocol: Protocol,
    port: u16,
) -> bool {
    explain(cluster, options, from, to, protocol, port).allowed
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Direction {
    Ingress,
    Egress,
}

struct Ctx<'a> {
    cluster: &'a Cluster,
    options: &'a Options,
}

impl Ctx<'_> {
    /// `subject` is the pod whose policies are read; `peer` the other end.
    fn direction(
        &self,
        dir: Direction,
        subject: &Endpoint,
        peer: &Endpoint,
        protocol: Protocol,
        port: u16,
    ) -> DirectionTrace {
        let pod = match subject {
            Endpoint::External(_) => return open(Subject::NotAPod),
            Endpoint::Pod(i) => &self.cluster.pods[*i],
        };
        if pod.host_network {
            return open(Subject::HostNetwork);
        }
        // The destination of the connection resolves named ports.
        let destination = match dir {
            Direction::Ingress => subject,
            Direction::Egress => peer,
        };
        let mut policies = Vec::new();
        let mut not_selecting = Vec::new();
        for (pi, policy) in self.cluster.policies.iter().enumerate() {
            let applies = match dir {
                Direction::Ingress => policy.types.ingress,
                Direction::Egress => policy.types.egress,
            };
            if policy.namespace != pod.namespace || !applies {
                continue;
            }
            if let Some(req) = policy.pod_selector.first_failure(&pod.labels) {
                not_selecting.push((pi, format!("podSelector requires {req}")));
                continue;
            }
            let rules = match dir {
                Direction::Ingress => &policy.ingress,
                Direction::Egress => &policy.egress,
            };
            let rules = rules
                .iter()
                .enumerate()
                .map(|(ri, rule)| self.rule(ri, rule, &policy.namespace, peer, destination, protocol, port))
                .collect();
            policies.push(PolicyTrace { policy: pi, rules });
        }
        let isolated = !policies.is_empty();
        let node_local = nodes::shared_node(self.cluster, pod, peer).map(str::to_string);
        let mut trace = DirectionTrace {
            subject: Subject::Pod { isolated },
            policies,
            not_selecting,
            node_local,
            admin: Vec::new(),
            baseline: Vec::new(),
            decided_by: DecidedBy::Default,
            allowed: true,
        };
        // 0. A pod and its own node, when some policy of any tier applies to the pod.
        if trace.node_local.is_some() && (isolated || self.tiers_pick(pod)) {
            trace.decided_by = DecidedBy::NodeLocal;
            return trace;
        }
        // 1. Admin tier.
        let (admin, decided) = self.tier(Tier::Admin, dir, pod, peer, destination, protocol, port);
        trace.admin = admin;
        if let Some(d) = decided {
            return trace.decided(d);
        }
        // 2. NetworkPolicy, for the pods it isolates.
        if isolated {
            trace.decided_by = DecidedBy::NetworkPolicy;
            trace.allowed = trace.policies.iter().any(PolicyTrace::allows);
            return trace;
        }
        // 3. Baseline tier, then the default.
        let (baseline, decided) = self.tier(Tier::Baseline, dir, pod, peer, destination, protocol, port);
        trace.baseline = baseline;
        match decided {
            Some(d) => trace.decided(d),
            None => trace,
        }
    }

    /// Whether some ClusterNetworkPolicy's subject picks `pod`.
    fn tiers_pick(&self, pod: &Pod) -> bool {
        let ns_labels = self.cluster.namespace_labels(&pod.namespace);
        self.cluster
            .cluster_policies
            .iter()
            .any(|c| c.subject.picks(pod, ns_labels))
    }

    /// One tier for `pod`'s side: the CNPs selecting it in order, each rule in order, up to
    /// the first match. `Some` when an Accept or Deny decided (a Pass ends the tier).
    #[allow(clippy::too_many_arguments)]
    fn tier(
        &self,
        tier: Tier,
        dir: Direction,
        pod: &Pod,
        peer: &Endpoint,
        destination: &Endpoint,
        protocol: Protocol,
        port: u16,
    ) -> (Vec<CnpTrace>, Option<DecidedBy>) {
        let mut read = Vec::new();
        if self.cluster.cluster_policies.is_empty() {
            return (read, None);
        }
        let ns_labels = self.cluster.namespace_labels(&pod.namespace);
        let end = match peer {
            Endpoint::Pod(i) => {
                let p = &self.cluster.pods[*i];
                PeerEnd::Pod(p, self.cluster.namespace_labels(&p.namespace))
            }
            Endpoint::External(c) => PeerEnd::Block(c),
        };
        let dst_pod = match destination {
            Endpoint::Pod(i) => Some(&self.cluster.pods[*i]),
            Endpoint::External(_) => None,
        };
        let ingress = dir == Direction::Ingress;
        for ci in tiers::tier_order(self.cluster, tier) {
            let cnp = &self.cluster.cluster_policies[ci];
            if !cnp.subject.picks(pod, ns_labels) || cnp.rules(ingress).is_empty() {
                continue;
            }
            let mut rules = Vec::new();
            for (ri, rule) in cnp.rules(ingress).iter().enumerate() {
                let matched = rule.matches(self.cluster, &end, protocol, port, dst_pod);
                rules.push((ri, matched));
                if matched {
                    read.push(CnpTrace { policy: ci, rules });
                    let action = rule.effective_action();
                    return match action {
                        Action::Pass => (read, None),
                        _ => (read, Some(DecidedBy::ClusterPolicy(tier, ci, ri, action))),
                    };
                }
            }
            read.push(CnpTrace { policy: ci, rules });
        }
        (read, None)
    }

    #[allow(clippy::too_many_arguments)]
    fn rule(
        &self,
        index: usize,
        rule: &Rule,
        policy_ns: &str,
        peer: &Endpoint,
        destination: &Endpoint,
        protocol: Protocol,
        port: u16,
    ) -> RuleTrace {
        let peers: Vec<PeerOutcome> = rule
            .peers
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let (matched, reason) = self.peer(p, policy_ns, peer);
                PeerOutcome {
                    index: i,
                    matched,
                    reason,
                }
            })
            .collect();
        let ports: Vec<PortOutcome> = rule
            .ports
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let (matched, reason) = self.port(p, destination, protocol, port);
                PortOutcome {
                    index: i,
                    matched,
                    reason,
                }
            })
            .collect();
        RuleTrace {
            index,
            peer_matched: peers.is_empty() || peers.iter().any(|p| p.matched),
            port_matched: ports.is_empty() || ports.iter().any(|p| p.matched),
            peers,
            ports,
        }
    }

    fn peer(&self, peer: &Peer, policy_ns: &str, other: &Endpoint) -> (bool, String) {
        match peer {
            Peer::Pods {
                namespace_selector,
                pod_selector,
            } => {
                let pod = match other {
                    Endpoint::External(c) => {
                        return (
                            false,
                            format!("{c} is not a pod; pod and namespace selectors only match pods"),
                        )
                    }
                    Endpoint::Pod(i) => &self.cluster.pods[*i],
                };
                if pod.host_network {
                    return (
                        false,
                        format!(
                            "{} uses hostNetwork; selectors never match node traffic",
                            pod.key()
                        ),
                    );
                }
                match namespace_selector {
                    None if pod.namespace != policy_ns => {
                        return (
                            false,
                            format!(
                                "no namespaceSelector, so only pods of namespace {policy_ns}; {} is in {}",
                                pod.key(),
                                pod.namespace
                            ),
                        )
                    }
                    None => {}
                    Some(sel) => {
                        let labels = self.cluster.namespace_labels(&pod.namespace);
                        if let Some(req) = sel.first_failure(labels) {
                            return (
                                false,
                                format!(
                                    "namespaceSelector requires {req}; namespace {} does not have it",
                                    pod.namespace
                                ),
                            );
                        }
                    }
                }
                if let Some(sel) = pod_selector {
                    if let Some(req) = sel.first_failure(&pod.labels) {
                        return (
                            false,
                            format!("podSelector requires {req}; {} does not have it", pod.key()),
                        );
                    }
                }
                (
                    true,
                    describe_pods_peer(namespace_selector.is_some(), pod_selector.is_some(), pod),
                )
            }
            Peer::IpBlock(block) => match other {
                Endpoint::External(c) => {
                    if !block.cidr.covers(c) {
                        (false, format!("{c} is not inside {}", block.cidr))
                    } else if let Some(e) = block.except.iter().find(|e| e.overlaps(c)) {
                        (false, format!("{c} is in the except range {e}"))
                    } else {
                        (true, format!("{c} is inside ipBlock {block}"))
                    }
                }
                Endpoint::Pod(i) => {
                    let pod = &self.cluster.pods[*i];
                    if !pod.host_network && self.options.ipblock_pods == IpBlockPods::Ignore {
                        return (
                            false,
                            format!(
                                "{} is a pod and ipBlock does not match pod IPs (--ipblock-pods ignore)",
                                pod.key()
                            ),
                        );
                    }
                    match pod.ips.iter().find(|ip| block.contains(**ip)) {
                        Some(ip) => (true, format!("{} has IP {ip}, inside ipBlock {block}", pod.key())),
                        None => (false, ip_miss(pod, block)),
                    }
                }
            },
        }
    }

    fn port(
        &self,
        spec: &PolicyPort,
        destination: &Endpoint,
        protocol: Protocol,
        port: u16,
    ) -> (bool, String) {
        if spec.protocol != protocol {
            return (false, format!("protocol {} is not {protocol}", spec.protocol));
        }
        match &spec.port {
            PortMatch::All => (true, format!("all {protocol} ports")),
            PortMatch::Range(lo, hi) if lo == hi => {
                if port == *lo {
                    (true, format!("port {lo}/{protocol}"))
                } else {
                    (false, format!("port {port} is not {lo}"))
                }
            }
            PortMatch::Range(lo, hi) => {
                if (*lo..=*hi).contains(&port) {
                    (true, format!("port range {lo}-{hi}/{protocol}"))
                } else {
                    (false, format!("port {port} is outside {lo}-{hi}"))
                }
            }
            PortMatch::Named(name) => match destination {
                Endpoint::External(_) => (
                    false,
                    format!("named port {name:?} cannot resolve on a non-pod destination"),
                ),
                Endpoint::Pod(i) => {
                    let pod = &self.cluster.pods[*i];
                    match pod.named_port(name, protocol) {
                        Some(p) if p == port => (
                            true,
                            format!("named port {name:?} is {p}/{protocol} on {}", pod.key()),
                        ),
                        Some(p) => (
                            false,
                            format!(
                                "named port {name:?} is {p}/{protocol} on {}, not {port}",
                                pod.key()
                            ),
                        ),
                        None => (
                            false,
                            format!("{} declares no {protocol} port named {name:?}", pod.key()),
                        ),
                    }
                }
            },
        }
    }
}

impl DirectionTrace {
    /// Decided by a ClusterNetworkPolicy rule's Accept or Deny.
    fn decided(mut self, by: DecidedBy) -> DirectionTrace {
        self.allowed = matches!(by, DecidedBy::ClusterPolicy(_, _, _, Action::Accept));
        self.decided_by = by;
        self
    }
}

fn open(subject: Subject) -> DirectionTrace {
    DirectionTrace {
        subject,
        policies: Vec::new(),
        not_selecting: Vec::new(),
        node_local: None,
        admin: Vec::new(),
        baseline: Vec::new(),
        decided_by: DecidedBy::Default,
        allowed: true,
    }
}

fn describe_pods_peer(ns: bool, pods: bool, pod: &Pod) -> String {
    match (ns, pods) {
        (true, true) => format!("{} matches both namespaceSelector and podSelector", pod.key()),
        (true, false) => format!("namespace {} matches namespaceSelector", pod.namespace),
        _ => format!("{} matches podSelector in the policy's namespace", pod.key()),
    }
}

fn ip_miss(pod: &Pod, block: &crate::model::IpBlock) -> String {
    let ips: Vec<String> = pod.ips.iter().map(|i| i.to_string()).collect();
    if let Some(e) = block
        .except
        .iter()
        .find(|e| pod.ips.iter().any(|ip| e.contains(*ip)))
    {
        format!("{} has IP {} in the except range {e}", pod.key(), ips.join(","))
    } else {
        format!(
            "{} has IP {}, not inside {}",
            pod.key(),
            ips.join(","),
            block.cidr
        )
    }
}
