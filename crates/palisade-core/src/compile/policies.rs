//! Compile phase 7: each policy's selection and each rule's peers as sets of classes.

use super::groups::{PeerRef, Tokens};
use super::*;
use crate::bits::BitSet;
use crate::model::Cluster;

/// Policies over classes (compile's seventh phase): the classes each selects (recorded in
/// the classes too) and each rule's peers as a class set.
pub(super) fn compile_policies(
    cluster: &Cluster,
    classes: &mut [Class],
    tokens: &Tokens<'_>,
    token_classes: &[BitSet],
    block_classes: &[BitSet],
) -> Vec<CompiledPolicy> {
    let n = classes.len();
    let mut out = Vec::with_capacity(cluster.policies.len());
    for (pi, policy) in cluster.policies.iter().enumerate() {
        let selected = token_classes[tokens.of_policy[pi]].clone();
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
                    for r in &tokens.peers[pi][d][ri] {
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
        out.push(CompiledPolicy {
            selected,
            ingress,
            egress,
        });
    }
    out
}
