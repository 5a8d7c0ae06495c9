//! Redundant rules and policies, decided by the engine: remove one, recompile, and
//! compare every pair of classes on every port class, the address space outside the pods
//! (one address per class the ipBlocks cut) included.

use palisade_core::{compile, Cluster, Compiled, Protocol};

use super::{rule_field, Ctx, Finding, REDUNDANT_POLICY, REDUNDANT_RULE};

/// Whether `reduced` allows exactly what `full` allows. The full cluster's classes and
/// port classes refine the reduced one's (removing a rule only merges classes), so one
/// representative per class and port class decides.
pub fn same_reachability(full: &Compiled, reduced: &Compiled) -> bool {
    let reps: Vec<usize> = full.classes.iter().map(|c| c.members[0]).collect();
    for proto in Protocol::ALL {
        let space = full.port_space(proto);
        for q in 0..space.classes.len() {
            let port = space.classes[q][0].0;
            let a = full.class_matrix(proto, q);
            let Some(b) = reduced.port_matrix(proto, port) else {
                continue;
            };
            for (s, &ps) in reps.iter().enumerate() {
                let rs = reduced.endpoint_class[ps];
                for (d, &pd) in reps.iter().enumerate() {
                    if !full.is_pod_class(s) && !full.is_pod_class(d) {
                        continue;
                    }
                    if a.get(s, d) != b.get(rs, reduced.endpoint_class[pd]) {
                        return false;
                    }
                }
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
    // Each check recompiles and compares every class pair on every port class: about
    // classes² × port classes / 64 word operations. Past the budget the rest is skipped,
    // with a note (deterministic: it counts work, not time).
    let per_check = {
        let n = full.class_count() as f64;
        let q: usize = Protocol::ALL
            .iter()
            .map(|p| full.port_space(*p).classes.len())
            .sum();
        (n * n * q as f64 / 64.0).max(1.0)
    };
    let budget = cx.opts.redundancy_budget;
    let affordable = (budget / per_check).floor() as usize;
    let mut checks = 0usize;
    let mut stopped = false;
    let mut spend = || {
        checks += 1;
        if checks > affordable && !stopped {
            stopped = true;
            cx.note(format!(
                "redundancy checked for the first {affordable} policies and rules only: each check recompiles {} classes and compares them on every port class (about {per_check:.0} word operations), over the budget of {budget:.0}",
                full.class_count()
            ));
        }
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
        if !spend() {
            return;
        }
        let reduced = without(&|r: &mut Cluster| {
            r.policies.remove(pi);
        });
        if same_reachability(&full, &reduced) {
            out.push(
                Finding::new(
                    REDUNDANT_POLICY,
                    cx.policy_object(pi),
                    "",
                    "removing this policy changes no connection: other policies already isolate the same pods and allow everything it allows",
                )
                .fix("delete it, or fix what it was meant to allow"),
            );
            continue;
        }
        for (ingress, n) in [(true, policy.ingress.len()), (false, policy.egress.len())] {
            for ri in 0..n {
                if !spend() {
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
                if same_reachability(&full, &reduced) {
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
