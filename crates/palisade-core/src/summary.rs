//! The "how open is my cluster" figures: counts over the whole matrix.

use crate::compile::Compiled;
use crate::model::{Cluster, Protocol};

/// Counts for `palisade analyze -o summary`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    /// Pods (representative pods of workloads included).
    pub pods: usize,
    /// Namespaces.
    pub namespaces: usize,
    /// NetworkPolicies.
    pub policies: usize,
    /// Endpoint classes.
    pub classes: usize,
    /// Ordered pod pairs (self excluded) allowed on at least one port, per protocol.
    pub allowed_pairs: [u64; 3],
    /// Pods isolated for ingress / for egress.
    pub isolated_ingress: usize,
    /// Pods isolated for egress.
    pub isolated_egress: usize,
    /// Ordered pod pairs (self excluded).
    pub total_pairs: u64,
    /// Per tier (Admin, Baseline): ClusterNetworkPolicies, and pods some of them select.
    pub tiers: [(usize, usize); 2],
}

/// Counts over the whole matrix, without listing pairs.
pub fn summarize(cluster: &Cluster, compiled: &Compiled) -> Summary {
    let mut allowed_pairs = [0u64; 3];
    let node_local: Vec<(usize, usize, u64)> = compiled
        .node_local_class_pairs()
        .into_iter()
        .filter(|&(r, h, _)| compiled.is_pod_class(r) && compiled.is_pod_class(h))
        .collect();
    for proto in Protocol::ALL {
        let m = compiled.any_port_matrix(proto);
        let mut total = 0u64;
        for (s, row) in m.rows.iter().enumerate() {
            if !compiled.is_pod_class(s) {
                continue;
            }
            let ss = compiled.classes[s].members.len() as u64;
            for d in row.iter() {
                if !compiled.is_pod_class(d) {
                    continue;
                }
                let dd = compiled.classes[d].members.len() as u64;
                total += ss * dd;
                if s == d {
                    total -= ss;
                }
            }
        }
        // Node-local pairs the matrix does not already allow, in both directions.
        for &(r, h, pairs) in &node_local {
            total += pairs * (u64::from(!m.get(r, h)) + u64::from(!m.get(h, r)));
        }
        allowed_pairs[proto.index()] = total;
    }
    let mut isolated_ingress = 0;
    let mut isolated_egress = 0;
    for class in &compiled.classes {
        if !class.ingress_policies.is_empty() {
            isolated_ingress += class.members.len();
        }
        if !class.egress_policies.is_empty() {
            isolated_egress += class.members.len();
        }
    }
    let mut tiers = [(0usize, 0usize); 2];
    for (i, tier) in [crate::Tier::Admin, crate::Tier::Baseline]
        .into_iter()
        .enumerate()
    {
        tiers[i].0 = cluster.cluster_policies.iter().filter(|c| c.tier == tier).count();
        tiers[i].1 = compiled
            .classes
            .iter()
            .filter(|c| {
                c.cluster_policies
                    .iter()
                    .any(|&ci| compiled.cluster_policies[ci].tier == tier)
            })
            .map(|c| c.members.len())
            .sum();
    }
    let pods = cluster.pods.len() as u64;
    Summary {
        tiers,
        pods: cluster.pods.len(),
        namespaces: cluster.namespaces.len(),
        policies: cluster.policies.len(),
        classes: compiled.classes.len(),
        allowed_pairs,
        isolated_ingress,
        isolated_egress,
        total_pairs: pods * pods.saturating_sub(1),
    }
}
