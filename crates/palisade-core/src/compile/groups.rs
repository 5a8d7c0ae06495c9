//! Compile phases 1–3: selectable pods grouped by namespace and labels, every selector
//! (policies' podSelectors and distinct pod peers) as the groups it selects, and groups
//! that belong to the same selectors sharing one signature.

use std::collections::HashMap;

use crate::model::{Cluster, IpBlock, Labels, Peer};
use crate::selector::LabelSelector;

/// Selectable pods grouped by namespace and labels (compile's first phase).
pub(super) struct LabelGroups<'c> {
    /// Each group's namespace and labels.
    pub(super) ns: Vec<&'c str>,
    pub(super) labels: Vec<&'c Labels>,
    /// The group of each endpoint (`None` for host-network pods and externals).
    pub(super) of_endpoint: Vec<Option<usize>>,
    /// The groups of each namespace.
    pub(super) in_ns: HashMap<&'c str, Vec<usize>>,
}

pub(super) fn label_groups(cluster: &Cluster, endpoints: usize) -> LabelGroups<'_> {
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

impl LabelGroups<'_> {
    /// The groups of namespace `ns` whose labels `sel` picks (`None`: all of them).
    pub(super) fn select_in(&self, sel: Option<&LabelSelector>, ns: &str) -> Vec<usize> {
        self.in_ns
            .get(ns)
            .map(|gs| {
                gs.iter()
                    .copied()
                    .filter(|&g| sel.is_none_or(|s| s.matches(self.labels[g])))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// A peer of a rule, before classes exist: a selector token (pod peers) or an ipBlock.
pub(super) enum PeerRef {
    Token(usize),
    Block(usize),
}

/// Selector tokens (compile's second phase): every policy's podSelector and every
/// distinct pod peer, each as the label groups it selects.
pub(super) struct Tokens<'c> {
    /// Each token's label groups.
    pub(super) groups: Vec<Vec<usize>>,
    /// The token of each policy's podSelector.
    pub(super) of_policy: Vec<usize>,
    /// Per policy, per direction (ingress, egress), per rule: its peers.
    pub(super) peers: Vec<[Vec<Vec<PeerRef>>; 2]>,
    /// The distinct ipBlocks of all rules.
    pub(super) blocks: Vec<&'c IpBlock>,
}

pub(super) fn selector_tokens<'c>(cluster: &'c Cluster, groups: &LabelGroups<'c>) -> Tokens<'c> {
    let mut ns_sel_memo: HashMap<&LabelSelector, Vec<&str>> = HashMap::new();
    let mut peer_memo: HashMap<(Option<&LabelSelector>, Option<&LabelSelector>, &str), usize> =
        HashMap::new();
    let select_in = |sel: Option<&LabelSelector>, ns: &str| groups.select_in(sel, ns);
    let mut out = Tokens {
        groups: Vec::new(),
        of_policy: Vec::with_capacity(cluster.policies.len()),
        peers: Vec::with_capacity(cluster.policies.len()),
        blocks: Vec::new(),
    };
    let mut block_ids: HashMap<&IpBlock, usize> = HashMap::new();
    for policy in &cluster.policies {
        out.groups
            .push(select_in(Some(&policy.pod_selector), &policy.namespace));
        out.of_policy.push(out.groups.len() - 1);
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
                                    out.groups.push(gs);
                                    peer_memo.insert(key, out.groups.len() - 1);
                                    out.groups.len() - 1
                                }
                            };
                            refs.push(PeerRef::Token(t));
                        }
                        Peer::IpBlock(b) => {
                            let id = *block_ids.entry(b).or_insert_with(|| {
                                out.blocks.push(b);
                                out.blocks.len() - 1
                            });
                            refs.push(PeerRef::Block(id));
                        }
                    }
                }
                dirs[d].push(refs);
            }
        }
        out.peers.push(dirs);
    }
    out
}

/// Group signatures (compile's third phase): groups that belong to the same tokens share
/// a signature.
pub(super) struct Signatures {
    /// The signature of each label group.
    pub(super) of_group: Vec<usize>,
    /// Each signature's tokens, sorted.
    pub(super) tokens: Vec<Vec<u32>>,
}

pub(super) fn group_signatures(token_groups: &[Vec<usize>], groups: usize) -> Signatures {
    let mut group_tokens: Vec<Vec<u32>> = vec![Vec::new(); groups];
    for (t, gs) in token_groups.iter().enumerate() {
        for &g in gs {
            group_tokens[g].push(t as u32);
        }
    }
    let mut ids: HashMap<&[u32], usize> = HashMap::new();
    let mut tokens: Vec<Vec<u32>> = Vec::new();
    let of_group = group_tokens
        .iter()
        .map(|t| {
            *ids.entry(t.as_slice()).or_insert_with(|| {
                tokens.push(t.clone());
                tokens.len() - 1
            })
        })
        .collect();
    Signatures { of_group, tokens }
}
