//! The compiled form: pods and external blocks folded into equivalence classes that
//! no policy can tell apart, policies and rules as bitsets over those classes, and the
//! port space of each protocol cut into port classes that no rule can tell apart.
//! The analyzer's matrix and the dataplane both start from here.

use std::collections::HashMap;

use crate::bits::BitSet;
use crate::model::{Cluster, Options, PolicyPort, PortMatch, Protocol};

mod addresses;
mod classes;
mod groups;
mod policies;
mod ports;
mod tiers;

use addresses::ip_signatures;
use classes::{endpoint_classes, group_isolated, node_ties, token_and_block_classes, ClassKeys};
use groups::{group_signatures, label_groups, selector_tokens};
use policies::compile_policies;
use ports::{named_port_signatures, port_classes};
use tiers::{cluster_policy_tokens, cnp_address_classes, cnp_addresses, compile_cluster_policies};
pub use tiers::{CompiledClusterPolicy, TierRule};

/// What kind of endpoint a class holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ClassKind {
    /// Ordinary pods: selectable by policies.
    Pod,
    /// hostNetwork pods: node traffic, matched only by ipBlock.
    HostNetwork,
    /// Named external address blocks.
    External,
}

/// Endpoints that every policy treats the same.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Class {
    /// Pods, hostNetwork pods or external blocks: a class holds one kind only.
    pub kind: ClassKind,
    /// Endpoint indices: pods first (`0..pods`), then externals (`pods + i`).
    pub members: Vec<usize>,
    /// Policies (indices) that select this class for ingress / for egress.
    pub ingress_policies: Vec<usize>,
    /// Policies (indices) that select this class for egress.
    pub egress_policies: Vec<usize>,
    /// ClusterNetworkPolicies (indices) whose subject picks this class, in the order they
    /// are read: the Admin tier by priority and name, then the Baseline tier.
    pub cluster_policies: Vec<usize>,
    /// Named container ports referenced by some policy, as the members declare them.
    pub named_ports: Vec<(String, Protocol, u16)>,
}

/// How an endpoint relates to a node (an index into [`Compiled::nodes`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NodeTie {
    /// Isolated pods living on the node: their traffic with the node is always allowed.
    Resident(usize),
    /// Endpoints that are the node (hostNetwork pods, the Node's addresses).
    Itself(usize),
}

/// A rule with its peers resolved to classes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompiledRule {
    /// Classes the rule admits as the other end (all classes when the rule has no peers).
    pub peers: BitSet,
    /// As written; empty means every port of every protocol.
    pub ports: Vec<PolicyPort>,
    /// Per protocol, the port classes its numeric items (ranges, or all ports) cover.
    pub numeric: [BitSet; 3],
}

/// A policy with its selection and rules resolved to classes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompiledPolicy {
    /// The classes the policy's `podSelector` selects.
    pub selected: BitSet,
    /// Ingress rules, in written order (empty when the policy is not for ingress).
    pub ingress: Vec<CompiledRule>,
    /// Egress rules, in written order (empty when the policy is not for egress).
    pub egress: Vec<CompiledRule>,
}

impl CompiledPolicy {
    /// The ingress or the egress rules.
    pub fn rules(&self, ingress: bool) -> &[CompiledRule] {
        if ingress {
            &self.ingress
        } else {
            &self.egress
        }
    }
}

/// The ports of one protocol cut into classes: ports in one class are treated alike by every rule.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PortSpace {
    /// Each class as sorted, non-overlapping inclusive ranges.
    pub classes: Vec<Vec<(u16, u16)>>,
    /// Sorted atoms `(first, last, class)` covering 1..=65535.
    atoms: Vec<(u16, u16, usize)>,
    /// Per class, its numeric group: classes of one group are covered by the same numeric
    /// items (ranges, all ports) and differ only in the named ports that resolve into them.
    /// Groups are numbered in order of their first class.
    pub(crate) numeric_group: Vec<usize>,
}

impl PortSpace {
    /// The class of `port`, or `None` for port 0.
    pub fn class_of(&self, port: u16) -> Option<usize> {
        let i = self.atoms.partition_point(|a| a.1 < port);
        self.atoms.get(i).filter(|a| a.0 <= port).map(|a| a.2)
    }
}

/// A cluster folded into equivalence classes of endpoints and of ports: the compiled
/// form every answer (matrix, dataplane, lint, diff) is computed from.
#[derive(Clone, Debug)]
pub struct Compiled {
    /// The options it was compiled with.
    pub options: Options,
    /// The number of pods (endpoints `0..pods`; externals follow).
    pub pods: usize,
    /// The endpoint classes.
    pub classes: Vec<Class>,
    /// Class of each endpoint (pods, then externals).
    pub endpoint_class: Vec<usize>,
    /// Each policy of the cluster, compiled (same indices as `Cluster::policies`).
    pub policies: Vec<CompiledPolicy>,
    /// Each ClusterNetworkPolicy, compiled (same indices as `Cluster::cluster_policies`).
    pub cluster_policies: Vec<CompiledClusterPolicy>,
    /// The port classes of TCP, UDP and SCTP (by [`Protocol::index`]).
    pub ports: [PortSpace; 3],
    /// For each (named port, protocol) referenced: per port class, the classes whose
    /// members resolve the name to a port of that class.
    pub(crate) named: [HashMap<String, HashMap<usize, BitSet>>; 3],
    /// Names of the nodes endpoints are tied to.
    pub nodes: Vec<String>,
    /// Each endpoint's tie to a node. Node-local traffic is an exception to the class
    /// matrix at endpoint level: splitting classes by node would make every replica of a
    /// workload its own class (replicas spread over nodes).
    pub endpoint_node: Vec<Option<NodeTie>>,
}

impl Compiled {
    /// Whether endpoints `a` and `b` are a pod and its own node: allowed both ways on every
    /// port, whatever the class matrix says.
    pub fn node_local(&self, a: usize, b: usize) -> bool {
        use NodeTie::{Itself, Resident};
        match (self.endpoint_node[a], self.endpoint_node[b]) {
            (Some(Resident(x)), Some(Itself(y))) | (Some(Itself(x)), Some(Resident(y))) => x == y,
            _ => false,
        }
    }

    /// Node-local traffic counted by classes: `(resident class, node class, endpoint pairs)`
    /// for every node, each pair allowed both ways. The cost is per node the resident classes
    /// times the node's classes, never residents times node endpoints.
    pub fn node_local_class_pairs(&self) -> Vec<(usize, usize, u64)> {
        // Per node: how many residents and node endpoints each class holds.
        let mut per_node: HashMap<usize, [HashMap<usize, u64>; 2]> = HashMap::new();
        for (e, tie) in self.endpoint_node.iter().enumerate() {
            let (n, side) = match tie {
                Some(NodeTie::Resident(n)) => (*n, 0),
                Some(NodeTie::Itself(n)) => (*n, 1),
                None => continue,
            };
            *per_node.entry(n).or_default()[side]
                .entry(self.endpoint_class[e])
                .or_default() += 1;
        }
        let mut out = Vec::new();
        for [residents, itself] in per_node.values() {
            for (&r, &a) in residents {
                out.extend(itself.iter().map(|(&h, &b)| (r, h, a * b)));
            }
        }
        out
    }

    /// The port classes of `proto` on which rule `ri` of policy `pi` (ingress or egress)
    /// can apply: its numeric items' and the resolutions of its named ports; `None` when it
    /// has no ports (every port). Elsewhere removing the rule changes no verdict.
    pub fn rule_port_classes(&self, pi: usize, ingress: bool, ri: usize, proto: Protocol) -> Option<BitSet> {
        let rule = &self.policies[pi].rules(ingress)[ri];
        if rule.ports.is_empty() {
            return None;
        }
        let mut qs = rule.numeric[proto.index()].clone();
        for p in rule.ports.iter().filter(|p| p.protocol == proto) {
            if let PortMatch::Named(name) = &p.port {
                for q in self.named[proto.index()]
                    .get(name)
                    .into_iter()
                    .flat_map(|m| m.keys())
                {
                    qs.insert(*q);
                }
            }
        }
        Some(qs)
    }

    /// The number of endpoint classes.
    pub fn class_count(&self) -> usize {
        self.classes.len()
    }

    /// The class of pod `pod`.
    pub fn pod_class(&self, pod: usize) -> usize {
        self.endpoint_class[pod]
    }

    /// The class of the `i`-th external block.
    pub fn external_class(&self, i: usize) -> usize {
        self.endpoint_class[self.pods + i]
    }

    /// The port classes of one protocol.
    pub fn port_space(&self, p: Protocol) -> &PortSpace {
        &self.ports[p.index()]
    }

    /// Classes whose members resolve `name`/`protocol` into port class `q`.
    pub(crate) fn named_classes(&self, name: &str, protocol: Protocol, q: usize) -> Option<&BitSet> {
        self.named[protocol.index()].get(name)?.get(&q)
    }
}

/// A cluster and its compiled form, made together: what needs both (the dataplane's
/// renderer) takes this, so that it can never be handed the compiled form of another
/// cluster.
#[derive(Debug)]
pub struct CompiledCluster<'c> {
    cluster: &'c Cluster,
    compiled: Compiled,
}

impl<'c> CompiledCluster<'c> {
    /// Compiles `cluster`.
    pub fn new(cluster: &'c Cluster, options: &Options) -> Self {
        CompiledCluster {
            cluster,
            compiled: compile(cluster, options),
        }
    }

    /// The cluster that was compiled.
    pub fn cluster(&self) -> &'c Cluster {
        self.cluster
    }

    /// Its compiled form.
    pub fn compiled(&self) -> &Compiled {
        &self.compiled
    }

    /// The compiled form, for callers that are done with the pair.
    pub fn into_compiled(self) -> Compiled {
        self.compiled
    }
}

/// Compiles a cluster. Cost grows with pods + selectors × (classes of the namespaces they
/// look at) + rules × classes / 64; never with pods × policies.
pub fn compile(cluster: &Cluster, options: &Options) -> Compiled {
    let pods = cluster.pods.len();
    let endpoints = pods + cluster.externals.len();
    // 1. Label groups: selectable pods with the same namespace and labels.
    let groups = label_groups(cluster, endpoints);
    // 2. Selector tokens: each policy's podSelector, each distinct pod/namespace peer, and
    //    the same of ClusterNetworkPolicies (subjects and peers).
    let mut tokens = selector_tokens(cluster, &groups);
    let mut cnp_tokens = cluster_policy_tokens(cluster, &groups, &mut tokens.groups);
    // 3. Group signatures: the tokens a group belongs to.
    let sigs = group_signatures(&tokens.groups, groups.ns.len());
    // 4. ipBlock signatures of endpoints, and their ClusterNetworkPolicy address signatures
    //    (`networks` and `nodes` peers).
    let ipsigs = ip_signatures(cluster, options, &tokens.blocks);
    let cnp_addrs = cnp_addresses(cluster, &cnp_tokens);
    // 5. Named ports that policies of either kind reference.
    let (named_sigs, endpoint_named) = named_port_signatures(cluster, cnp_tokens.all_ports(), endpoints);
    // 6. Classes: endpoints alike in all of the above; each endpoint's tie to a node
    //    is kept beside them.
    let policy_tokens = tokens.of_policy.iter().chain(&cnp_tokens.subject).copied();
    let ties = node_ties(
        cluster,
        &group_isolated(&sigs.of_group, &sigs.tokens, policy_tokens, tokens.groups.len()),
        &groups.of_endpoint,
    );
    let keys = ClassKeys {
        groups: &groups,
        sigs: &sigs,
        ipsigs: &ipsigs,
        named_sigs: &named_sigs,
        endpoint_named: &endpoint_named,
        cnp: &cnp_addrs.of_endpoint,
    };
    let mut found = endpoint_classes(cluster, &keys);
    let (token_classes, block_classes) = token_and_block_classes(&found, &sigs, &ipsigs, &tokens);
    let address_classes = cnp_address_classes(&found.cnp_sig, &cnp_addrs, &cnp_tokens);
    // 7. Policies and rules over classes, then ClusterNetworkPolicies.
    let mut policies = compile_policies(
        cluster,
        &mut found.classes,
        &tokens,
        &token_classes,
        &block_classes,
    );
    let mut cluster_policies = compile_cluster_policies(
        cluster,
        &mut found.classes,
        &mut cnp_tokens,
        &token_classes,
        &address_classes,
    );
    // 8. Port classes, and the ones each rule's numeric items cover.
    let (ports, named) = port_classes(cluster, &found.classes, &mut policies, &mut cluster_policies);
    Compiled {
        options: options.clone(),
        pods,
        classes: found.classes,
        endpoint_class: found.of_endpoint,
        policies,
        cluster_policies,
        ports,
        named,
        endpoint_node: ties.of,
        nodes: ties.names,
    }
}
