//! The compiled form: pods and external blocks folded into equivalence classes that
//! no policy can tell apart, policies and rules as bitsets over those classes, and the
//! port space of each protocol cut into port classes that no rule can tell apart.
//! The analyzer's matrix and the dataplane both start from here.

use std::collections::{BTreeSet, HashMap};

use crate::bits::BitSet;
use crate::ip::{ip_to_num, Family};
use crate::model::{Cluster, IpBlock, IpBlockPods, Labels, Options, Peer, PolicyPort, PortMatch, Protocol};
use crate::nodes::{resident_node, NodeIndex};
use crate::selector::LabelSelector;

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

/// Selectable pods grouped by namespace and labels (compile's first phase).
struct LabelGroups<'c> {
    /// Each group's namespace and labels.
    ns: Vec<&'c str>,
    labels: Vec<&'c Labels>,
    /// The group of each endpoint (`None` for host-network pods and externals).
    of_endpoint: Vec<Option<usize>>,
    /// The groups of each namespace.
    in_ns: HashMap<&'c str, Vec<usize>>,
}

fn label_groups(cluster: &Cluster, endpoints: usize) -> LabelGroups<'_> {
    let mut group_of: HashMap<(&str, &Labels), usize> = HashMap::new();
    let mut out = LabelGroups {
        ns: Vec::new(),
        labels: Vec::new(),
        of_endpoint: vec![None; endpoints],
        in_ns: HashMap::new(),
    };
    for (i, pod) in cluster.pods.iter().enumerate() {
        if pod.host_network {
            continue;
        }
        let g = *group_of
            .entry((pod.namespace.as_str(), &pod.labels))
            .or_insert_with(|| {
                out.ns.push(pod.namespace.as_str());
                out.labels.push(&pod.labels);
                out.in_ns
                    .entry(pod.namespace.as_str())
                    .or_default()
                    .push(out.ns.len() - 1);
                out.ns.len() - 1
            });
        out.of_endpoint[i] = Some(g);
    }
    out
}

/// The named ports some policy references, as each endpoint declares them: distinct
/// signatures (the first is the empty one) and each endpoint's signature.
#[allow(clippy::type_complexity)]
fn named_port_signatures(
    cluster: &Cluster,
    endpoints: usize,
) -> (Vec<Vec<(String, Protocol, u16)>>, Vec<usize>) {
    let mut referenced: BTreeSet<(&str, Protocol)> = BTreeSet::new();
    for policy in &cluster.policies {
        for rule in policy.ingress.iter().chain(&policy.egress) {
            for p in &rule.ports {
                if let PortMatch::Named(n) = &p.port {
                    referenced.insert((n.as_str(), p.protocol));
                }
            }
        }
    }
    let mut named_sig_ids: HashMap<Vec<(String, Protocol, u16)>, usize> = HashMap::new();
    let mut named_sigs: Vec<Vec<(String, Protocol, u16)>> = Vec::new();
    let mut endpoint_named = vec![0usize; endpoints];
    named_sig_ids.insert(Vec::new(), 0);
    named_sigs.push(Vec::new());
    if referenced.is_empty() {
        return (named_sigs, endpoint_named);
    }
    for (i, pod) in cluster.pods.iter().enumerate() {
        let mut sig: Vec<(String, Protocol, u16)> = pod
            .ports
            .iter()
            .filter_map(|p| {
                let n = p.name.as_deref()?;
                referenced
                    .contains(&(n, p.protocol))
                    .then(|| (n.to_string(), p.protocol, p.port))
            })
            .collect();
        sig.sort();
        sig.dedup_by(|a, b| a.0 == b.0 && a.1 == b.1);
        let n = named_sigs.len();
        let id = *named_sig_ids.entry(sig.clone()).or_insert_with(|| {
            named_sigs.push(sig);
            n
        });
        endpoint_named[i] = id;
    }
    (named_sigs, endpoint_named)
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
    let LabelGroups {
        ns: group_ns,
        labels: group_labels,
        of_endpoint: endpoint_group,
        in_ns: groups_in_ns,
    } = label_groups(cluster, endpoints);
    let groups = group_ns.len();

    // 2. Selector tokens: each policy's podSelector, and each distinct pod/namespace peer.
    let mut ns_sel_memo: HashMap<&LabelSelector, Vec<&str>> = HashMap::new();
    let mut peer_memo: HashMap<(Option<&LabelSelector>, Option<&LabelSelector>, &str), usize> =
        HashMap::new();
    let mut token_groups: Vec<Vec<usize>> = Vec::new();
    let select_in = |sel: Option<&LabelSelector>, ns: &str| -> Vec<usize> {
        groups_in_ns
            .get(ns)
            .map(|gs| {
                gs.iter()
                    .copied()
                    .filter(|&g| sel.is_none_or(|s| s.matches(group_labels[g])))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut policy_token = Vec::with_capacity(cluster.policies.len());
    // Per policy, per direction, per rule, per peer: the token (pod peers) or block id (ipBlock).
    enum PeerRef {
        Token(usize),
        Block(usize),
    }
    let mut block_ids: HashMap<&IpBlock, usize> = HashMap::new();
    let mut blocks: Vec<&IpBlock> = Vec::new();
    let mut policy_peers: Vec<[Vec<Vec<PeerRef>>; 2]> = Vec::with_capacity(cluster.policies.len());
    for policy in &cluster.policies {
        token_groups.push(select_in(Some(&policy.pod_selector), &policy.namespace));
        policy_token.push(token_groups.len() - 1);
        let mut dirs: [Vec<Vec<PeerRef>>; 2] = [Vec::new(), Vec::new()];
        for (d, rules) in [&policy.ingress, &policy.egress].into_iter().enumerate() {
            for rule in rules {
                let mut refs = Vec::with_capacity(rule.peers.len());
                for peer in &rule.peers {
                    match peer {
                        Peer::Pods {
                            namespace_selector,
                            pod_selector,
                        } => {
                            let own_ns = if namespace_selector.is_none() {
                                policy.namespace.as_str()
                            } else {
                                ""
                            };
                            let key = (namespace_selector.as_ref(), pod_selector.as_ref(), own_ns);
                            let t = match peer_memo.get(&key) {
                                Some(&t) => t,
                                None => {
                                    let namespaces: Vec<&str> = match namespace_selector {
                                        None => vec![own_ns],
                                        Some(sel) => ns_sel_memo
                                            .entry(sel)
                                            .or_insert_with(|| cluster.selected_namespaces(Some(sel), ""))
                                            .clone(),
                                    };
                                    let mut gs = Vec::new();
                                    for ns in namespaces {
                                        gs.extend(select_in(pod_selector.as_ref(), ns));
                                    }
                                    token_groups.push(gs);
                                    peer_memo.insert(key, token_groups.len() - 1);
                                    token_groups.len() - 1
                                }
                            };
                            refs.push(PeerRef::Token(t));
                        }
                        Peer::IpBlock(b) => {
                            let id = *block_ids.entry(b).or_insert_with(|| {
                                blocks.push(b);
                                blocks.len() - 1
                            });
                            refs.push(PeerRef::Block(id));
                        }
                    }
                }
                dirs[d].push(refs);
            }
        }
        policy_peers.push(dirs);
    }

    // 3. Group signatures: the tokens a group belongs to.
    let mut group_tokens: Vec<Vec<u32>> = vec![Vec::new(); groups];
    for (t, gs) in token_groups.iter().enumerate() {
        for &g in gs {
            group_tokens[g].push(t as u32);
        }
    }
    let mut sig_ids: HashMap<&[u32], usize> = HashMap::new();
    let mut sig_tokens: Vec<&[u32]> = Vec::new();
    let group_sig: Vec<usize> = group_tokens
        .iter()
        .map(|t| {
            *sig_ids.entry(t.as_slice()).or_insert_with(|| {
                sig_tokens.push(t.as_slice());
                sig_tokens.len() - 1
            })
        })
        .collect();

    // 4. ipBlock signatures of endpoints.
    let looked_up = cluster
        .pods
        .iter()
        .filter(|p| p.host_network || options.ipblock_pods == IpBlockPods::Match)
        .flat_map(|p| p.ips.iter().copied())
        .chain(
            cluster
                .externals
                .iter()
                .filter(|e| e.cidr.is_host())
                .map(|e| e.cidr.network_ip()),
        );
    let ip_index = IpIndex::build(&blocks, looked_up);
    let mut ipsig_ids: HashMap<BitSet, usize> = HashMap::new();
    let mut intern_ipsig = |s: BitSet| {
        let n = ipsig_ids.len();
        *ipsig_ids.entry(s).or_insert(n)
    };
    let empty_sig = intern_ipsig(BitSet::new(blocks.len()));
    let mut endpoint_ipsig = vec![empty_sig; endpoints];
    for (i, pod) in cluster.pods.iter().enumerate() {
        if pod.host_network || options.ipblock_pods == IpBlockPods::Match {
            let mut s = BitSet::new(blocks.len());
            for ip in &pod.ips {
                s.union_with(ip_index.lookup(*ip));
            }
            endpoint_ipsig[i] = intern_ipsig(s);
        }
    }
    for (i, ext) in cluster.externals.iter().enumerate() {
        // A single address is a lookup; a wider block must lie inside cidr and outside
        // every except as a whole.
        let s = if ext.cidr.is_host() {
            ip_index.lookup(ext.cidr.network_ip()).clone()
        } else {
            let mut s = BitSet::new(blocks.len());
            for (b, block) in blocks.iter().enumerate() {
                if block.cidr.covers(&ext.cidr) && !block.except.iter().any(|e| e.overlaps(&ext.cidr)) {
                    s.insert(b);
                }
            }
            s
        };
        endpoint_ipsig[pods + i] = intern_ipsig(s);
    }
    let ipsig_of: Vec<BitSet> = {
        let mut v = vec![BitSet::new(0); ipsig_ids.len()];
        for (s, id) in ipsig_ids {
            v[id] = s;
        }
        v
    };

    // 5. Named ports that policies reference.
    let (named_sigs, endpoint_named) = named_port_signatures(cluster, endpoints);

    // 6. Classes.
    let ties = node_ties(
        cluster,
        &group_isolated(&group_sig, &sig_tokens, &policy_token, token_groups.len()),
        &endpoint_group,
    );
    let mut class_ids: HashMap<(ClassKind, usize, usize, usize), usize> = HashMap::new();
    let mut classes: Vec<Class> = Vec::new();
    let mut endpoint_class = vec![0usize; endpoints];
    let mut class_group_sig: Vec<Option<usize>> = Vec::new();
    let mut class_ipsig: Vec<usize> = Vec::new();
    for e in 0..endpoints {
        let (kind, gsig) = if e >= pods {
            (ClassKind::External, usize::MAX - (e - pods))
        } else if cluster.pods[e].host_network {
            (ClassKind::HostNetwork, usize::MAX)
        } else {
            (
                ClassKind::Pod,
                group_sig[endpoint_group[e].expect("selectable pod has a group")],
            )
        };
        let key = (kind, gsig, endpoint_ipsig[e], endpoint_named[e]);
        let c = *class_ids.entry(key).or_insert_with(|| {
            classes.push(Class {
                kind,
                members: Vec::new(),
                ingress_policies: Vec::new(),
                egress_policies: Vec::new(),
                named_ports: named_sigs[endpoint_named[e]].clone(),
            });
            class_group_sig.push((kind == ClassKind::Pod).then_some(gsig));
            class_ipsig.push(endpoint_ipsig[e]);
            classes.len() - 1
        });
        classes[c].members.push(e);
        endpoint_class[e] = c;
    }
    let n = classes.len();

    // Classes of each token and of each ipBlock.
    let mut sig_classes: HashMap<usize, Vec<usize>> = HashMap::new();
    for (c, gs) in class_group_sig.iter().enumerate() {
        if let Some(gs) = gs {
            sig_classes.entry(*gs).or_default().push(c);
        }
    }
    let mut token_classes: Vec<BitSet> = vec![BitSet::new(n); token_groups.len()];
    for (sig, cs) in &sig_classes {
        for &t in sig_tokens[*sig] {
            for &c in cs {
                token_classes[t as usize].insert(c);
            }
        }
    }
    let mut block_classes: Vec<BitSet> = vec![BitSet::new(n); blocks.len()];
    for (c, &sig) in class_ipsig.iter().enumerate() {
        for b in ipsig_of[sig].iter() {
            block_classes[b].insert(c);
        }
    }

    // 7. Policies and rules over classes.
    let mut compiled_policies = Vec::with_capacity(cluster.policies.len());
    for (pi, policy) in cluster.policies.iter().enumerate() {
        let selected = token_classes[policy_token[pi]].clone();
        for c in selected.iter() {
            if policy.types.ingress {
                classes[c].ingress_policies.push(pi);
            }
            if policy.types.egress {
                classes[c].egress_policies.push(pi);
            }
        }
        let mut dirs: [Vec<CompiledRule>; 2] = [Vec::new(), Vec::new()];
        for (d, rules) in [&policy.ingress, &policy.egress].into_iter().enumerate() {
            for (ri, rule) in rules.iter().enumerate() {
                let peers = if rule.peers.is_empty() {
                    BitSet::full(n)
                } else {
                    let mut s = BitSet::new(n);
                    for r in &policy_peers[pi][d][ri] {
                        match r {
                            PeerRef::Token(t) => s.union_with(&token_classes[*t]),
                            PeerRef::Block(b) => s.union_with(&block_classes[*b]),
                        }
                    }
                    s
                };
                dirs[d].push(CompiledRule {
                    peers,
                    ports: rule.ports.clone(),
                    numeric: [BitSet::new(0), BitSet::new(0), BitSet::new(0)],
                });
            }
        }
        let [ingress, egress] = dirs;
        compiled_policies.push(CompiledPolicy {
            selected,
            ingress,
            egress,
        });
    }

    // 8. Port classes, and the ones each rule's numeric items cover.
    let ports = Protocol::ALL.map(|proto| port_space(cluster, &classes, proto));
    for rule in compiled_policies
        .iter_mut()
        .flat_map(|p| p.ingress.iter_mut().chain(p.egress.iter_mut()))
    {
        rule.numeric = Protocol::ALL.map(|proto| numeric_cover(&ports[proto.index()], &rule.ports, proto));
    }
    let mut named: [HashMap<String, HashMap<usize, BitSet>>; 3] = Default::default();
    for (c, class) in classes.iter().enumerate() {
        for (name, proto, port) in &class.named_ports {
            let q = ports[proto.index()]
                .class_of(*port)
                .expect("every port has a class");
            named[proto.index()]
                .entry(name.clone())
                .or_default()
                .entry(q)
                .or_insert_with(|| BitSet::new(n))
                .insert(c);
        }
    }

    Compiled {
        options: options.clone(),
        pods,
        classes,
        endpoint_class,
        policies: compiled_policies,
        ports,
        named,
        endpoint_node: ties.of,
        nodes: ties.names,
    }
}

/// Whether each label group is selected by some policy (isolated in some direction).
fn group_isolated(
    group_sig: &[usize],
    sig_tokens: &[&[u32]],
    policy_token: &[usize],
    tokens: usize,
) -> Vec<bool> {
    let mut is_policy = vec![false; tokens];
    for &t in policy_token {
        is_policy[t] = true;
    }
    group_sig
        .iter()
        .map(|&s| sig_tokens[s].iter().any(|&t| is_policy[t as usize]))
        .collect()
}

/// Each endpoint's tie to a node, and the nodes' names.
struct Ties {
    of: Vec<Option<NodeTie>>,
    names: Vec<String>,
}

/// Endpoints that are a node, and isolated pods living on a node that some endpoint is
/// (pods elsewhere need no tie: splitting their classes would only cost).
fn node_ties(cluster: &Cluster, group_isolated: &[bool], endpoint_group: &[Option<usize>]) -> Ties {
    let index = NodeIndex::new(cluster);
    let mut ids: HashMap<&str, usize> = HashMap::new();
    let mut names: Vec<String> = Vec::new();
    let mut of: Vec<Option<NodeTie>> = vec![None; cluster.pods.len() + cluster.externals.len()];
    let itself = cluster
        .pods
        .iter()
        .map(|p| index.pod_as_node(p))
        .chain(cluster.externals.iter().map(|x| {
            x.cidr
                .is_host()
                .then(|| index.node_with_address(x.cidr.network_ip()))?
        }));
    for (e, node) in itself.enumerate() {
        if let Some(node) = node {
            let n = *ids.entry(node).or_insert_with(|| {
                names.push(node.to_string());
                names.len() - 1
            });
            of[e] = Some(NodeTie::Itself(n));
        }
    }
    for (e, pod) in cluster.pods.iter().enumerate() {
        let isolated = endpoint_group[e].is_some_and(|g| group_isolated[g]);
        if let (true, Some(home)) = (isolated, resident_node(pod)) {
            if let Some(&n) = ids.get(home) {
                of[e] = Some(NodeTie::Resident(n));
            }
        }
    }
    Ties { of, names }
}

/// The port classes of `space` that the numeric items of `ports` (for `proto`) cover:
/// their ranges merged, then the atoms inside them (port classes never straddle a range
/// boundary). The cost is the items' sort plus the atoms covered, not items × classes.
fn numeric_cover(space: &PortSpace, ports: &[PolicyPort], proto: Protocol) -> BitSet {
    let mut ranges: Vec<(u16, u16)> = ports
        .iter()
        .filter(|p| p.protocol == proto)
        .filter_map(|p| match p.port {
            PortMatch::All => Some((1, 65535)),
            PortMatch::Range(lo, hi) => Some((lo, hi)),
            PortMatch::Named(_) => None,
        })
        .collect();
    ranges.sort_unstable();
    let mut merged: Vec<(u16, u16)> = Vec::new();
    for (lo, hi) in ranges {
        match merged.last_mut() {
            Some(last) if lo as u32 <= last.1 as u32 + 1 => last.1 = last.1.max(hi),
            _ => merged.push((lo, hi)),
        }
    }
    let mut out = BitSet::new(space.classes.len());
    for (lo, hi) in merged {
        let start = space.atoms.partition_point(|a| a.1 < lo);
        for a in space.atoms[start..].iter().take_while(|a| a.0 <= hi) {
            out.insert(a.2);
        }
    }
    out
}

/// Adds or removes range `i` from a set hash: two independent 64-bit tags (splitmix64).
fn toggle(h: (u64, u64), i: usize) -> (u64, u64) {
    let mix = |mut z: u64| {
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let i = i as u64;
    (
        h.0 ^ mix(i.wrapping_mul(2).wrapping_add(0x9E37_79B9_7F4A_7C15)),
        h.1 ^ mix(i
            .wrapping_mul(2)
            .wrapping_add(1)
            .wrapping_add(0x632B_E59B_D9B4_E019)),
    )
}

/// Cuts 1..=65535 of one protocol at every range boundary and every resolved named port,
/// then merges the pieces that every rule treats alike.
fn port_space(cluster: &Cluster, classes: &[Class], proto: Protocol) -> PortSpace {
    let mut ranges: BTreeSet<(u16, u16)> = BTreeSet::new();
    for policy in &cluster.policies {
        for rule in policy.ingress.iter().chain(&policy.egress) {
            for p in rule.ports.iter().filter(|p| p.protocol == proto) {
                if let PortMatch::Range(lo, hi) = p.port {
                    ranges.insert((lo, hi));
                }
            }
        }
    }
    let named_ports: BTreeSet<u16> = classes
        .iter()
        .flat_map(|c| c.named_ports.iter())
        .filter(|(_, p, _)| *p == proto)
        .map(|(_, _, port)| *port)
        .collect();
    let mut cuts: BTreeSet<u32> = [1u32, 65536].into_iter().collect();
    for (lo, hi) in &ranges {
        cuts.insert(*lo as u32);
        cuts.insert(*hi as u32 + 1);
    }
    for p in &named_ports {
        cuts.insert(*p as u32);
        cuts.insert(*p as u32 + 1);
    }
    let cuts: Vec<u32> = cuts.into_iter().collect();
    // The ranges covering each piece, as a 128-bit hash of the set kept up to date by a
    // sweep (ranges start and end only at cuts): (pieces + ranges) log, where listing the
    // covering ranges of every piece was pieces × ranges.
    let ranges: Vec<(u16, u16)> = ranges.into_iter().collect();
    let mut starts: Vec<(u32, usize)> = ranges.iter().enumerate().map(|(i, r)| (r.0 as u32, i)).collect();
    let mut ends: Vec<(u32, usize)> = ranges
        .iter()
        .enumerate()
        .map(|(i, r)| (r.1 as u32 + 1, i))
        .collect();
    starts.sort_unstable();
    ends.sort_unstable();
    let (mut si, mut ei) = (0, 0);
    let mut covering: (u64, u64) = (0, 0);
    let mut sig_ids: HashMap<((u64, u64), Option<u16>), usize> = HashMap::new();
    let mut group_ids: HashMap<(u64, u64), usize> = HashMap::new();
    let mut space = PortSpace::default();
    for w in cuts.windows(2) {
        let (lo, hi) = (w[0] as u16, (w[1] - 1) as u16);
        while si < starts.len() && starts[si].0 <= w[0] {
            covering = toggle(covering, starts[si].1);
            si += 1;
        }
        while ei < ends.len() && ends[ei].0 <= w[0] {
            covering = toggle(covering, ends[ei].1);
            ei += 1;
        }
        let named = (lo == hi && named_ports.contains(&lo)).then_some(lo);
        let next = sig_ids.len();
        let q = *sig_ids.entry((covering, named)).or_insert(next);
        if q == space.classes.len() {
            let next_group = group_ids.len();
            let g = *group_ids.entry(covering).or_insert(next_group);
            space.classes.push(Vec::new());
            space.numeric_group.push(g);
        }
        match space.classes[q].last_mut() {
            Some(last) if last.1 as u32 + 1 == lo as u32 => last.1 = hi,
            _ => space.classes[q].push((lo, hi)),
        }
        space.atoms.push((lo, hi, q));
    }
    space
}

/// For the addresses that are looked up (pods', and single-address externals'), the set
/// of ipBlocks containing each: one sweep over the blocks' boundaries (cidr and except
/// starts and ends) in address order, so the cost is (boundaries + addresses) log, plus a
/// copy of the current set where it changed between two addresses; never addresses ×
/// blocks, nor elementary intervals × blocks.
struct IpIndex {
    at: HashMap<std::net::IpAddr, usize>,
    sets: Vec<BitSet>,
    empty: BitSet,
}

/// A boundary of an ipBlock: the block, and whether its cidr or one of its excepts starts
/// (+1) or ends (-1) here.
#[derive(Clone, Copy)]
struct Boundary {
    at: u128,
    block: usize,
    except: bool,
    delta: i32,
}

impl IpIndex {
    fn build(blocks: &[&IpBlock], addresses: impl IntoIterator<Item = std::net::IpAddr>) -> IpIndex {
        let mut at = HashMap::new();
        let mut sets = Vec::new();
        let mut queries: Vec<(Family, u128, std::net::IpAddr)> = addresses
            .into_iter()
            .map(|ip| {
                let (f, n) = ip_to_num(ip);
                (f, n, ip)
            })
            .collect();
        queries.sort_unstable_by_key(|q| (q.0 == Family::V6, q.1));
        queries.dedup();
        for family in [Family::V4, Family::V6] {
            let mut events: Vec<Boundary> = Vec::new();
            let mut add = |(lo, hi): (u128, u128), block: usize, except: bool| {
                events.push(Boundary {
                    at: lo,
                    block,
                    except,
                    delta: 1,
                });
                if let Some(end) = hi.checked_add(1) {
                    events.push(Boundary {
                        at: end,
                        block,
                        except,
                        delta: -1,
                    });
                }
            };
            for (bi, b) in blocks.iter().enumerate().filter(|(_, b)| b.cidr.family == family) {
                add(b.cidr.range(), bi, false);
                for e in &b.except {
                    add(e.range(), bi, true);
                }
            }
            events.sort_unstable_by_key(|e| e.at);
            let mut inside = vec![0i32; blocks.len()];
            let mut excepted = vec![0i32; blocks.len()];
            let mut current = BitSet::new(blocks.len());
            let mut changed = true;
            let mut next = 0;
            for &(f, n, ip) in queries.iter().filter(|q| q.0 == family) {
                debug_assert_eq!(f, family);
                while next < events.len() && events[next].at <= n {
                    let e = events[next];
                    let counter = if e.except { &mut excepted } else { &mut inside };
                    counter[e.block] += e.delta;
                    let matches = inside[e.block] > 0 && excepted[e.block] == 0;
                    if matches != current.contains(e.block) {
                        if matches {
                            current.insert(e.block);
                        } else {
                            current.remove(e.block);
                        }
                        changed = true;
                    }
                    next += 1;
                }
                if changed {
                    sets.push(current.clone());
                    changed = false;
                }
                at.insert(ip, sets.len() - 1);
            }
        }
        IpIndex {
            at,
            sets,
            empty: BitSet::new(blocks.len()),
        }
    }

    /// The blocks containing `ip` (which must have been among the addresses built for).
    fn lookup(&self, ip: std::net::IpAddr) -> &BitSet {
        self.at.get(&ip).map_or(&self.empty, |&i| &self.sets[i])
    }
}
