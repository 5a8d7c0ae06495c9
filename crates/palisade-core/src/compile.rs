//! The compiled form: pods and external blocks folded into equivalence classes that
//! no policy can tell apart, policies and rules as bitsets over those classes, and the
//! port space of each protocol cut into port classes that no rule can tell apart.
//! The analyzer's matrix and the dataplane both start from here.

use std::collections::{BTreeSet, HashMap};

use crate::bits::BitSet;
use crate::ip::{ip_to_num, Family};
use crate::model::{Cluster, IpBlock, IpBlockPods, Labels, Options, Peer, PolicyPort, PortMatch, Protocol};
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
    pub kind: ClassKind,
    /// Endpoint indices: pods first (`0..pods`), then externals (`pods + i`).
    pub members: Vec<usize>,
    /// Policies (indices) that select this class for ingress / for egress.
    pub ingress_policies: Vec<usize>,
    pub egress_policies: Vec<usize>,
    /// Named container ports referenced by some policy, as the members declare them.
    pub named_ports: Vec<(String, Protocol, u16)>,
}

/// A rule with its peers resolved to classes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompiledRule {
    /// Classes the rule admits as the other end (all classes when the rule has no peers).
    pub peers: BitSet,
    /// As written; empty means every port of every protocol.
    pub ports: Vec<PolicyPort>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompiledPolicy {
    pub selected: BitSet,
    pub ingress: Vec<CompiledRule>,
    pub egress: Vec<CompiledRule>,
}

/// The ports of one protocol cut into classes: ports in one class are treated alike by every rule.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PortSpace {
    /// Each class as sorted, non-overlapping inclusive ranges.
    pub classes: Vec<Vec<(u16, u16)>>,
    /// Sorted atoms `(first, last, class)` covering 1..=65535.
    atoms: Vec<(u16, u16, usize)>,
}

impl PortSpace {
    pub fn class_of(&self, port: u16) -> Option<usize> {
        let i = self.atoms.partition_point(|a| a.1 < port);
        self.atoms.get(i).filter(|a| a.0 <= port).map(|a| a.2)
    }
}

#[derive(Clone, Debug)]
pub struct Compiled {
    pub options: Options,
    pub pods: usize,
    pub classes: Vec<Class>,
    /// Class of each endpoint (pods, then externals).
    pub endpoint_class: Vec<usize>,
    pub policies: Vec<CompiledPolicy>,
    pub ports: [PortSpace; 3],
    /// For each (named port, protocol) referenced: per port class, the classes whose
    /// members resolve the name to a port of that class.
    pub(crate) named: [HashMap<String, HashMap<usize, BitSet>>; 3],
}

impl Compiled {
    pub fn class_count(&self) -> usize {
        self.classes.len()
    }

    pub fn pod_class(&self, pod: usize) -> usize {
        self.endpoint_class[pod]
    }

    pub fn external_class(&self, i: usize) -> usize {
        self.endpoint_class[self.pods + i]
    }

    pub fn port_space(&self, p: Protocol) -> &PortSpace {
        &self.ports[p.index()]
    }

    /// Classes whose members resolve `name`/`protocol` into port class `q`.
    pub(crate) fn named_classes(&self, name: &str, protocol: Protocol, q: usize) -> Option<&BitSet> {
        self.named[protocol.index()].get(name)?.get(&q)
    }
}

/// Compiles a cluster. Cost grows with pods + selectors × (classes of the namespaces they
/// look at) + rules × classes / 64; never with pods × policies.
pub fn compile(cluster: &Cluster, options: &Options) -> Compiled {
    let pods = cluster.pods.len();
    let endpoints = pods + cluster.externals.len();
    let ns_index: HashMap<&str, usize> = cluster
        .namespaces
        .iter()
        .enumerate()
        .map(|(i, n)| (n.name.as_str(), i))
        .collect();
    let no_labels = Labels::new();
    let ns_labels = |ns: &str| -> &Labels {
        ns_index
            .get(ns)
            .map(|&i| &cluster.namespaces[i].labels)
            .unwrap_or(&no_labels)
    };

    // 1. Label groups: selectable pods with the same namespace and labels.
    let mut group_of: HashMap<(&str, &Labels), usize> = HashMap::new();
    let mut group_ns: Vec<&str> = Vec::new();
    let mut group_labels: Vec<&Labels> = Vec::new();
    let mut endpoint_group: Vec<Option<usize>> = vec![None; endpoints];
    let mut groups_in_ns: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, pod) in cluster.pods.iter().enumerate() {
        if pod.host_network {
            continue;
        }
        let g = *group_of
            .entry((pod.namespace.as_str(), &pod.labels))
            .or_insert_with(|| {
                group_ns.push(pod.namespace.as_str());
                group_labels.push(&pod.labels);
                groups_in_ns
                    .entry(pod.namespace.as_str())
                    .or_default()
                    .push(group_ns.len() - 1);
                group_ns.len() - 1
            });
        endpoint_group[i] = Some(g);
    }
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
                                            .or_insert_with(|| {
                                                let mut v: Vec<&str> = cluster
                                                    .namespaces
                                                    .iter()
                                                    .filter(|n| sel.matches(&n.labels))
                                                    .map(|n| n.name.as_str())
                                                    .collect();
                                                // Namespaces only known through their pods have just the name label.
                                                for &ns in groups_in_ns.keys() {
                                                    if !ns_index.contains_key(ns)
                                                        && sel.matches(ns_labels(ns))
                                                    {
                                                        v.push(ns);
                                                    }
                                                }
                                                v
                                            })
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
    let ip_index = IpIndex::build(&blocks);
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
        let mut s = BitSet::new(blocks.len());
        for (b, block) in blocks.iter().enumerate() {
            if block.cidr.covers(&ext.cidr) && !block.except.iter().any(|e| e.overlaps(&ext.cidr)) {
                s.insert(b);
            }
        }
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
    if !referenced.is_empty() {
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
    }

    // 6. Classes.
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

    // 8. Port classes.
    let ports = Protocol::ALL.map(|proto| port_space(cluster, &classes, proto));
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
    }
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
    let ranges: Vec<(u16, u16)> = ranges.into_iter().collect();
    let mut sig_ids: HashMap<(Vec<usize>, Option<u16>), usize> = HashMap::new();
    let mut space = PortSpace::default();
    for w in cuts.windows(2) {
        let (lo, hi) = (w[0] as u16, (w[1] - 1) as u16);
        let covering: Vec<usize> = ranges
            .iter()
            .enumerate()
            .filter(|(_, r)| r.0 <= lo && hi <= r.1)
            .map(|(i, _)| i)
            .collect();
        let named = (lo == hi && named_ports.contains(&lo)).then_some(lo);
        let next = sig_ids.len();
        let q = *sig_ids.entry((covering, named)).or_insert(next);
        if q == space.classes.len() {
            space.classes.push(Vec::new());
        }
        match space.classes[q].last_mut() {
            Some(last) if last.1 as u32 + 1 == lo as u32 => last.1 = hi,
            _ => space.classes[q].push((lo, hi)),
        }
        space.atoms.push((lo, hi, q));
    }
    space
}

/// Elementary address intervals of all ipBlocks, each with the set of blocks containing it.
struct IpIndex {
    families: Vec<(Family, Vec<u128>, Vec<BitSet>)>,
    empty: BitSet,
}

impl IpIndex {
    fn build(blocks: &[&IpBlock]) -> IpIndex {
        let mut families = Vec::new();
        for family in [Family::V4, Family::V6] {
            let mine: Vec<(usize, &IpBlock)> = blocks
                .iter()
                .enumerate()
                .filter(|(_, b)| b.cidr.family == family)
                .map(|(i, b)| (i, *b))
                .collect();
            if mine.is_empty() {
                continue;
            }
            let mut points: BTreeSet<u128> = [0u128].into_iter().collect();
            let mut add = |r: (u128, u128)| {
                points.insert(r.0);
                if let Some(e) = r.1.checked_add(1) {
                    points.insert(e);
                }
            };
            for (_, b) in &mine {
                add(b.cidr.range());
                for e in &b.except {
                    add(e.range());
                }
            }
            let points: Vec<u128> = points.into_iter().collect();
            let idx = |x: u128| points.partition_point(|p| *p <= x) - 1;
            let mut sets = vec![BitSet::new(blocks.len()); points.len()];
            for (bi, b) in &mine {
                let (lo, hi) = b.cidr.range();
                for s in &mut sets[idx(lo)..=idx(hi)] {
                    s.insert(*bi);
                }
            }
            // Clearing needs a second pass so an except never un-marks another block.
            for (bi, b) in &mine {
                for e in &b.except {
                    let (lo, hi) = e.range();
                    for s in &mut sets[idx(lo)..=idx(hi)] {
                        s.remove(*bi);
                    }
                }
            }
            families.push((family, points, sets));
        }
        IpIndex {
            families,
            empty: BitSet::new(blocks.len()),
        }
    }

    fn lookup(&self, ip: std::net::IpAddr) -> &BitSet {
        let (family, n) = ip_to_num(ip);
        for (f, points, sets) in &self.families {
            if *f == family {
                let i = points.partition_point(|p| *p <= n) - 1;
                return &sets[i];
            }
        }
        &self.empty
    }
}
