//! Compile phase 6: endpoints alike in kind, label-group signature, ipBlock signature and
//! named ports become one class; the classes of each selector and ipBlock; and each
//! endpoint's tie to a node (kept beside the classes, not in them).

use std::collections::HashMap;

use super::addresses::IpSignatures;
use super::groups::{LabelGroups, Signatures, Tokens};
use super::*;
use crate::bits::BitSet;
use crate::model::{Cluster, Protocol};
use crate::nodes::{resident_node, NodeIndex};

/// What decides an endpoint's class (phases 1–5).
pub(super) struct ClassKeys<'a, 'c> {
    pub(super) groups: &'a LabelGroups<'c>,
    pub(super) sigs: &'a Signatures,
    pub(super) ipsigs: &'a IpSignatures,
    pub(super) named_sigs: &'a [Vec<(String, Protocol, u16)>],
    pub(super) endpoint_named: &'a [usize],
    /// ClusterNetworkPolicy address signatures.
    pub(super) cnp: &'a [usize],
}

/// The endpoint classes (compile's sixth phase), with what each class was keyed by.
pub(super) struct FoundClasses {
    pub(super) classes: Vec<Class>,
    /// The class of each endpoint.
    pub(super) of_endpoint: Vec<usize>,
    /// Each class's group signature (pod classes only).
    pub(super) group_sig: Vec<Option<usize>>,
    /// Each class's ipBlock signature.
    pub(super) ipsig: Vec<usize>,
    /// Each class's ClusterNetworkPolicy address signature.
    pub(super) cnp_sig: Vec<usize>,
}

pub(super) fn endpoint_classes(cluster: &Cluster, keys: &ClassKeys<'_, '_>) -> FoundClasses {
    let pods = cluster.pods.len();
    let endpoints = keys.endpoint_named.len();
    let mut ids: HashMap<(ClassKind, usize, usize, usize, usize), usize> = HashMap::new();
    let mut out = FoundClasses {
        classes: Vec::new(),
        of_endpoint: vec![0usize; endpoints],
        group_sig: Vec::new(),
        ipsig: Vec::new(),
        cnp_sig: Vec::new(),
    };
    for e in 0..endpoints {
        let (kind, gsig) = if e >= pods {
            (ClassKind::External, usize::MAX - (e - pods))
        } else if cluster.pods[e].host_network {
            (ClassKind::HostNetwork, usize::MAX)
        } else {
            let group = keys.groups.of_endpoint[e].expect("selectable pod has a group");
            (ClassKind::Pod, keys.sigs.of_group[group])
        };
        let ipsig = keys.ipsigs.of_endpoint[e];
        let named = keys.endpoint_named[e];
        let cnp = keys.cnp[e];
        let c = *ids.entry((kind, gsig, ipsig, named, cnp)).or_insert_with(|| {
            out.classes.push(Class {
                kind,
                members: Vec::new(),
                ingress_policies: Vec::new(),
                egress_policies: Vec::new(),
                cluster_policies: Vec::new(),
                named_ports: keys.named_sigs[named].clone(),
            });
            out.group_sig.push((kind == ClassKind::Pod).then_some(gsig));
            out.ipsig.push(ipsig);
            out.cnp_sig.push(cnp);
            out.classes.len() - 1
        });
        out.classes[c].members.push(e);
        out.of_endpoint[e] = c;
    }
    out
}

/// The classes of each selector token and of each ipBlock.
pub(super) fn token_and_block_classes(
    found: &FoundClasses,
    sigs: &Signatures,
    ipsigs: &IpSignatures,
    tokens: &Tokens<'_>,
) -> (Vec<BitSet>, Vec<BitSet>) {
    let n = found.classes.len();
    let mut sig_classes: HashMap<usize, Vec<usize>> = HashMap::new();
    for (c, gs) in found.group_sig.iter().enumerate() {
        if let Some(gs) = gs {
            sig_classes.entry(*gs).or_default().push(c);
        }
    }
    let mut token_classes: Vec<BitSet> = vec![BitSet::new(n); tokens.groups.len()];
    for (sig, cs) in &sig_classes {
        for &t in &sigs.tokens[*sig] {
            for &c in cs {
                token_classes[t as usize].insert(c);
            }
        }
    }
    let mut block_classes: Vec<BitSet> = vec![BitSet::new(n); tokens.blocks.len()];
    for (c, &sig) in found.ipsig.iter().enumerate() {
        for b in ipsigs.blocks[sig].iter() {
            block_classes[b].insert(c);
        }
    }
    (token_classes, block_classes)
}

/// Whether each label group is selected by some policy of any tier (a NetworkPolicy's
/// podSelector or a ClusterNetworkPolicy's subject, among `policy_tokens`).
pub(super) fn group_isolated(
    group_sig: &[usize],
    sig_tokens: &[Vec<u32>],
    policy_tokens: impl Iterator<Item = usize>,
    tokens: usize,
) -> Vec<bool> {
    let mut is_policy = vec![false; tokens];
    for t in policy_tokens {
        is_policy[t] = true;
    }
    group_sig
        .iter()
        .map(|&s| sig_tokens[s].iter().any(|&t| is_policy[t as usize]))
        .collect()
}

/// Each endpoint's tie to a node, and the nodes' names.
pub(super) struct Ties {
    pub(super) of: Vec<Option<NodeTie>>,
    pub(super) names: Vec<String>,
}

/// Endpoints that are a node, and isolated pods living on a node that some endpoint is
/// (pods elsewhere need no tie: splitting their classes would only cost).
pub(super) fn node_ties(
    cluster: &Cluster,
    group_isolated: &[bool],
    endpoint_group: &[Option<usize>],
) -> Ties {
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
