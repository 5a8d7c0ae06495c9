//! Redundant rules and policies, decided by the engine: remove one, recompile, and
//! compare every pair of classes on every port class, the address space outside the pods
//! (one address per class the ipBlocks cut) included.

use palisade_core::bits::BitSet;
use palisade_core::{compile, Cluster, Compiled, Protocol};

use super::{rule_field, Ctx, Finding, REDUNDANT_POLICY, REDUNDANT_RULE};

/// Per protocol, the port classes of the full cluster where a removal can change a verdict
/// (`None`: all of them).
pub type Affected = [Option<BitSet>; 3];

/// Whether `reduced` allows exactly what `full` allows on the `affected` port classes
/// (elsewhere the removal changed nothing). The full cluster's classes and port classes
/// refine the reduced one's (removing a rule only merges classes), so one representative
/// per class and port class decides.
pub fn same_reachability(full: &Compiled, reduced: &Compiled, affected: &Affected) -> bool {
    let reps: Vec<usize> = full.classes.iter().map(|c| c.members[0]).collect();
    let identity = reduced.class_count() == full.class_count()
        && reps
            .iter()
            .enumerate()
            .all(|(s, &p)| reduced.endpoint_class[p] == s);
    let mut pod_classes = BitSet::new(reps.len());
    for s in (0..reps.len()).filter(|&s| full.is_pod_class(s)) {
        pod_classes.insert(s);
    }
    for proto in Protocol::ALL {
        let space = full.port_space(proto);
        let qs: Vec<usize> = match &affected[proto.index()] {
            None => (0..space.classes.len()).collect(),
            Some(set) => set.iter().collect(),
        };
        for q in qs {
            let port = space.classes[q][0].0;
            let a = full.class_matrix(proto, q);
            let Some(b) = reduced.port_matrix(proto, port) else {
                continue;
            };
            let differ = if identity {
                // Same classes in the same order (the usual case): row by row, word by word.
                (0..reps.len()).any(|s| {
                    if full.is_pod_class(s) {
                        a.rows[s] != b.rows[s]
                    } else {
                        !BitSet::differences_within(&a.rows[s], &b.rows[s], &pod_classes).is_empty()
                    }
                })
            } else {
                reps.iter().enumerate().any(|(s, &ps)| {
                    let rs = reduced.endpoint_class[ps];
                    reps.iter().enumerate().any(|(d, &pd)| {
                        (full.is_pod_class(s) || full.is_pod_class(d))
                            && a.get(s, d) != b.get(rs, reduced.endpoint_class[pd])
                    })
                })
            };
            if differ {
                return false;
            }
        }
    }
    true
}

/// Word operations the redundancy check may spend on recompiling and comparing (a few
/// seconds on one core).
pub const REDUNDANCY_BUDGET: f64 = 2e9;

pub fn check(cx: &Ctx, out: &mut Vec<Finding>) {
    let c = cx.cluster;
    let rules: usize = c.policies.iter().map(|p| p.ingress.len() + p.egress.len()).sum();
    if rules > cx.opts.max_redundancy_rules {
        cx.note(format!(
            "redundancy not checked: {rules} rules (the check recompiles once per rule; limit {}, see --max-redundancy-rules)",
            cx.opts.max_redundancy_rules
        ));
        return;
    }
    // The address space outside the pods counts too: a policy that only allows traffic
    // to the internet is not redundant because no pod is there.
    let (with_space, note) = crate::diff::with_address_space(&[c]);
    if let Some(n) = note {
        cx.note(format!("redundancy: {n}"));
    }
    let c = &with_space[0];
    let full = compile(c, &cx.opts.engine);
    // Each check recompiles and compares every class pair on the port classes the removal
    // can change: per port class, two matrices of classes² / 64 words, and each class's
    // ingress rules looked at (weighed as 16 word operations). Past the budget the rest is
    // skipped, with a note (deterministic: it counts work, not time).
    let n = full.class_count() as f64;
    let ingress_rules: usize = full
        .classes
        .iter()
        .flat_map(|k| &k.ingress_policies)
        .map(|&p| full.policies[p].ingress.len())
        .sum();
    let per_port_class = 2.0 * (n * n / 64.0 + 16.0 * ingress_rules as f64);
    let cost = |a: &Affected| -> f64 {
        Protocol::ALL
            .iter()
            .map(|p| match &a[p.index()] {
                None => full.port_space(*p).classes.len(),
                Some(s) => s.iter().count(),
            })
            .sum::<usize>() as f64
            * per_port_class
    };
    let budget = cx.opts.redundancy_budget;
    let mut spent = 0.0;
    let mut checked = 0usize;
    let mut stopped = false;
    let mut spend = |work: f64| {
        if !stopped && spent + work > budget {
            stopped = true;
            cx.note(format!(
                "redundancy checked for the first {checked} policies and rules only: each check recompiles {} classes and compares them on the port classes the removal can change, over the budget of {budget:.0} word operations",
                full.class_count()
            ));
        }
        spent += work;
        checked += 1;
        !stopped
    };
    let without = |edit: &dyn Fn(&mut Cluster)| {
        let mut reduced = c.clone();
        edit(&mut reduced);
        compile(&reduced, &cx.opts.engine)
    };
    for (pi, policy) in c.policies.iter().enumerate() {
        if policy.ingress.is_empty() && policy.egress.is_empty() {
            continue; // a pure default deny: it isolates on purpose, even when others do too
        }
        let affected = policy_affects(&full, pi);
        if !spend(cost(&affected)) {
            return;
        }
        let reduced = without(&|r: &mut Cluster| {
            r.policies.remove(pi);
        });
        if same_reachability(&full, &reduced, &affected) {
            out.push(
                Finding::new(
                    REDUNDANT_POLICY,
                    cx.policy_object(pi),
                    palisade_load::path::FieldPath::root(),
                    "removing this policy changes no connection: other policies already isolate the same pods and allow everything it allows",
                )
                .fix("delete it, or fix what it was meant to allow"),
            );
            continue;
        }
        for (ingress, n) in [(true, policy.ingress.len()), (false, policy.egress.len())] {
            for ri in 0..n {
                let affected = Protocol::ALL.map(|p| full.rule_port_classes(pi, ingress, ri, p));
                if !spend(cost(&affected)) {
                    return;
                }
                let reduced = without(&|r: &mut Cluster| {
                    let p = &mut r.policies[pi];
                    if ingress {
                        p.ingress.remove(ri);
                    } else {
                        p.egress.remove(ri);
                    }
                });
                if same_reachability(&full, &reduced, &affected) {
                    out.push(
                        Finding::new(
                            REDUNDANT_RULE,
                            cx.policy_object(pi),
                            rule_field(ingress, ri),
                            "everything this rule allows is already allowed by other rules",
                        )
                        .fix("delete the rule"),
                    );
                }
            }
        }
    }
}

/// Where removing policy `pi` can change a verdict: everywhere when some class it selects
/// is isolated (in a direction) by it alone, else only where one of its rules applies.
fn policy_affects(full: &Compiled, pi: usize) -> Affected {
    let alone = full.policies[pi].selected.iter().any(|c| {
        let k = &full.classes[c];
        k.ingress_policies == [pi] || k.egress_policies == [pi]
    });
    let policy = &full.policies[pi];
    Protocol::ALL.map(|proto| {
        if alone {
            return None;
        }
        let mut qs = BitSet::new(full.port_space(proto).classes.len());
        for (ingress, n) in [(true, policy.ingress.len()), (false, policy.egress.len())] {
            for ri in 0..n {
                qs.union_with(&full.rule_port_classes(pi, ingress, ri, proto)?);
            }
        }
        Some(qs)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use palisade_synth::small::{cluster, XorShift};

    /// Comparing only the port classes a removal can change decides as comparing them all
    /// (the oracle), on random small clusters, for every policy and rule.
    #[test]
    fn affected_port_classes_decide_as_all_of_them() {
        let all: Affected = [None, None, None];
        let (mut policies, mut rules) = (0, 0);
        for seed in 1..400u64 {
            let c = cluster(&mut XorShift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1));
            let opts = Default::default();
            let full = compile(&c, &opts);
            for pi in 0..c.policies.len() {
                let mut r = c.clone();
                r.policies.remove(pi);
                let reduced = compile(&r, &opts);
                let a = policy_affects(&full, pi);
                assert_eq!(
                    same_reachability(&full, &reduced, &a),
                    same_reachability(&full, &reduced, &all),
                    "seed {seed} policy {pi}"
                );
                policies += a.iter().any(Option::is_some) as usize;
                for (ingress, n) in [
                    (true, c.policies[pi].ingress.len()),
                    (false, c.policies[pi].egress.len()),
                ] {
                    for ri in 0..n {
                        let mut r = c.clone();
                        if ingress {
                            r.policies[pi].ingress.remove(ri);
                        } else {
                            r.policies[pi].egress.remove(ri);
                        }
                        let reduced = compile(&r, &opts);
                        let a = Protocol::ALL.map(|p| full.rule_port_classes(pi, ingress, ri, p));
                        assert_eq!(
                            same_reachability(&full, &reduced, &a),
                            same_reachability(&full, &reduced, &all),
                            "seed {seed} policy {pi} rule {ri} ingress {ingress}"
                        );
                        rules += a.iter().any(Option::is_some) as usize;
                    }
                }
            }
        }
        // The restriction was really used, for policies and for rules.
        assert!(policies > 50 && rules > 50, "{policies} {rules}");
    }
}
