//! ClusterNetworkPolicy findings: subjects that select nothing, rules that never decide
//! (shadowed in their tier), tied priorities that disagree, NetworkPolicy rules the Admin
//! tier always decides first, Baseline policies never reached, Pass rules with nothing
//! below them, and `domainNames` that nothing offline can check. Every judgement reads the
//! compiled form (class sets per port class), never pods × rules.

use palisade_core::bits::BitSet;
use palisade_core::{Action, CnpPeer, Compiled, Protocol, Tier};

use super::{keys, rule_field, some, Ctx, Finding};
use super::{
    BASELINE_UNREACHED, DOMAIN_NAMES, NP_UNDER_ADMIN, PASS_TO_NOTHING, TIER_RULE_SHADOWED,
    TIER_SUBJECT_EMPTY, TIER_TIE,
};

/// Every (protocol, port class) of the compiled form.
fn port_classes(c: &Compiled) -> Vec<(Protocol, usize)> {
    Protocol::ALL
        .into_iter()
        .flat_map(|p| (0..c.port_space(p).classes.len()).map(move |q| (p, q)))
        .collect()
}

/// The most word operations the shadowing and override checks may cost (estimated from
/// the classes' rule counts); above it they are skipped with a note.
const BUDGET: f64 = 4e9;

pub fn check(cx: &Ctx, out: &mut Vec<Finding>) {
    let c = cx.cluster;
    if c.cluster_policies.is_empty() {
        return;
    }
    let comp = &cx.compiled;
    for (ci, cnp) in c.cluster_policies.iter().enumerate() {
        if comp.cluster_policies[ci].selected.is_empty() {
            out.push(
                Finding::new(
                    TIER_SUBJECT_EMPTY,
                    cnp.object_ref(),
                    keys(&["spec", "subject"]),
                    "the subject selects no pod: this ClusterNetworkPolicy applies to nothing",
                )
                .fix("check the subject's namespace and pod labels against the pods"),
            );
        }
        for ingress in [true, false] {
            for (ri, rule) in cnp.rules(ingress).iter().enumerate() {
                if rule.peers.iter().any(|p| matches!(p, CnpPeer::DomainNames(_))) {
                    out.push(
                        Finding::new(
                            DOMAIN_NAMES,
                            cnp.object_ref(),
                            rule_field(ingress, ri).key("to"),
                            "domainNames cannot be checked offline nor enforced in nftables: Palisade treats these peers as matching nothing",
                        )
                        .fix("list the destinations' addresses as `networks` where they are stable"),
                    );
                }
            }
        }
    }
    baseline_unreached(cx, out);
    pass_to_nothing(cx, out);
    let pcs = port_classes(comp);
    // Word operations: a shadowing check reads, per subject class and port class, each of
    // its tier rules against those before it (rules² per class); the override check reads
    // each NetworkPolicy rule against the class's Admin rules.
    let words = comp.class_count() as f64 / 64.0 + 1.0;
    let tier_rules = |s: usize| -> f64 {
        comp.classes[s]
            .cluster_policies
            .iter()
            .map(|&ci| (c.cluster_policies[ci].ingress.len() + c.cluster_policies[ci].egress.len()) as f64)
            .sum()
    };
    let np_rules = |s: usize| -> f64 {
        let class = &comp.classes[s];
        class
            .ingress_policies
            .iter()
            .chain(&class.egress_policies)
            .map(|&p| (c.policies[p].ingress.len() + c.policies[p].egress.len()) as f64)
            .sum()
    };
    let cost: f64 = (0..comp.class_count())
        .map(|s| {
            let t = tier_rules(s);
            t * t + np_rules(s) * t
        })
        .sum::<f64>()
        * pcs.len() as f64
        * words;
    if cost > BUDGET {
        cx.note(format!(
            "ClusterNetworkPolicy shadowing, tie and override checks skipped: about {cost:.1e} word operations ({} classes, {} port classes), over the budget of {BUDGET:.0e}",
            comp.class_count(),
            pcs.len()
        ));
        return;
    }
    shadowed(cx, &pcs, out);
    ties(cx, &pcs, out);
    networkpolicy_under_admin(cx, &pcs, out);
}

/// A rule that matches connections, all of which rules read before it in its tier decide.
fn shadowed(cx: &Ctx, pcs: &[(Protocol, usize)], out: &mut Vec<Finding>) {
    let (c, comp) = (cx.cluster, &cx.compiled);
    for (ci, cnp) in c.cluster_policies.iter().enumerate() {
        for ingress in [true, false] {
            for ri in 0..cnp.rules(ingress).len() {
                let mut matches_any = false;
                let mut decides = false;
                let mut by: Vec<String> = Vec::new();
                'classes: for s in comp.cluster_policies[ci].selected.iter() {
                    for &(proto, q) in pcs {
                        let mine = comp.tier_rule_matches(ci, ingress, ri, s, proto, q);
                        if mine.is_empty() {
                            continue;
                        }
                        matches_any = true;
                        let mut earlier = BitSet::new(comp.class_count());
                        for &cj in comp.classes[s]
                            .cluster_policies
                            .iter()
                            .filter(|&&cj| comp.cluster_policies[cj].tier == cnp.tier)
                        {
                            let count = if cj == ci {
                                ri
                            } else {
                                c.cluster_policies[cj].rules(ingress).len()
                            };
                            for rj in 0..count {
                                let m = comp.tier_rule_matches(cj, ingress, rj, s, proto, q);
                                if !m.is_empty() && !by.contains(&c.cluster_policies[cj].name) && cj != ci {
                                    by.push(c.cluster_policies[cj].name.clone());
                                }
                                earlier.union_with(&m);
                            }
                            if cj == ci {
                                break;
                            }
                        }
                        let mut left = mine;
                        left.subtract(&earlier);
                        if !left.is_empty() {
                            decides = true;
                            break 'classes;
                        }
                    }
                }
                if matches_any && !decides {
                    let earlier = if by.is_empty() {
                        "earlier rules of this policy".to_string()
                    } else {
                        format!("earlier rules (also of {})", some(&by))
                    };
                    out.push(
                        Finding::new(
                            TIER_RULE_SHADOWED,
                            cnp.object_ref(),
                            rule_field(ingress, ri),
                            format!(
                                "never decides anything: every connection it matches is decided first by {earlier} in the {} tier",
                                cnp.tier.as_str()
                            ),
                        )
                        .fix("remove the rule, or move it (or its policy's priority) ahead of the rules that shadow it"),
                    );
                }
            }
        }
    }
}

/// Policies of one tier with the same priority whose rules disagree on some connection.
fn ties(cx: &Ctx, pcs: &[(Protocol, usize)], out: &mut Vec<Finding>) {
    let (c, comp) = (cx.cluster, &cx.compiled);
    // Only policies of one (tier, priority) are compared: sorted, then pairs within runs.
    let key = |i: usize| {
        let p = &c.cluster_policies[i];
        (p.tier, p.priority, p.name.as_str())
    };
    let mut order: Vec<usize> = (0..c.cluster_policies.len()).collect();
    order.sort_by(|&x, &y| key(x).cmp(&key(y)));
    let same = |x: usize, y: usize| key(x).0 == key(y).0 && key(x).1 == key(y).1;
    for (k, &a) in order.iter().enumerate() {
        for &b in order[k + 1..].iter().take_while(|&&b| same(a, b)) {
            let (pa, pb) = (&c.cluster_policies[a], &c.cluster_policies[b]);
            if pa.name == pb.name {
                continue;
            }
            let mut shared = comp.cluster_policies[a].selected.clone();
            shared.intersect_with(&comp.cluster_policies[b].selected);
            let disagree = shared.iter().any(|s| {
                [true, false].into_iter().any(|ingress| {
                    let (ra, rb) = (pa.rules(ingress), pb.rules(ingress));
                    (0..ra.len()).any(|i| {
                        (0..rb.len()).any(|j| {
                            ra[i].effective_action() != rb[j].effective_action()
                                && pcs.iter().any(|&(proto, q)| {
                                    let mut m = comp.tier_rule_matches(a, ingress, i, s, proto, q);
                                    m.intersect_with(&comp.tier_rule_matches(b, ingress, j, s, proto, q));
                                    !m.is_empty()
                                })
                        })
                    })
                })
            });
            if disagree {
                out.push(
                    Finding::new(
                        TIER_TIE,
                        pb.object_ref(),
                        keys(&["spec", "priority"]),
                        format!(
                            "shares priority {} with {} in the {} tier and they disagree on some connections: the API leaves their order to the implementation (Palisade reads {} first, by name)",
                            pa.priority,
                            pa.name,
                            pa.tier.as_str(),
                            pa.name
                        ),
                    )
                    .fix("give the two policies different priorities"),
                );
            }
        }
    }
}

/// NetworkPolicy rules whose every allowed connection the Admin tier decides first.
fn networkpolicy_under_admin(cx: &Ctx, pcs: &[(Protocol, usize)], out: &mut Vec<Finding>) {
    let (c, comp) = (cx.cluster, &cx.compiled);
    let any_admin = c.cluster_policies.iter().any(|p| p.tier == Tier::Admin);
    if !any_admin {
        return;
    }
    for (pi, policy) in c.policies.iter().enumerate() {
        for ingress in [true, false] {
            let applies = if ingress {
                policy.types.ingress
            } else {
                policy.types.egress
            };
            if !applies {
                continue;
            }
            for ri in 0..policy.rules(ingress).len() {
                let rule = &comp.policies[pi].rules(ingress)[ri];
                let mut allows_any = false;
                let mut effective = false;
                'classes: for s in comp.policies[pi].selected.iter() {
                    for &(proto, q) in pcs {
                        let on_q = comp
                            .rule_port_classes(pi, ingress, ri, proto)
                            .is_none_or(|qs| qs.contains(q));
                        if !on_q || rule.peers.is_empty() {
                            continue;
                        }
                        allows_any = true;
                        let mut left = rule.peers.clone();
                        left.subtract(&comp.admin_decided(s, ingress, proto, q));
                        if !left.is_empty() {
                            effective = true;
                            break 'classes;
                        }
                    }
                }
                if allows_any && !effective {
                    out.push(
                        Finding::new(
                            NP_UNDER_ADMIN,
                            cx.policy_object(pi),
                            rule_field(ingress, ri),
                            "never takes effect: an Admin ClusterNetworkPolicy decides every connection this rule allows before NetworkPolicy is read",
                        )
                        .fix("ask the cluster admins for a Pass (or Accept) for this traffic, or remove the rule"),
                    );
                }
            }
        }
    }
}

/// Baseline policies whose every subject pod a NetworkPolicy isolates in each direction
/// they have rules for.
fn baseline_unreached(cx: &Ctx, out: &mut Vec<Finding>) {
    let (c, comp) = (cx.cluster, &cx.compiled);
    for (ci, cnp) in c.cluster_policies.iter().enumerate() {
        let selected = &comp.cluster_policies[ci].selected;
        if cnp.tier != Tier::Baseline || selected.is_empty() {
            continue;
        }
        let isolated = |ingress: bool| {
            selected.iter().all(|s| {
                let class = &comp.classes[s];
                !if ingress {
                    &class.ingress_policies
                } else {
                    &class.egress_policies
                }
                .is_empty()
            })
        };
        let dirs: Vec<bool> = [true, false]
            .into_iter()
            .filter(|&i| !cnp.rules(i).is_empty())
            .collect();
        if !dirs.is_empty() && dirs.iter().all(|&i| isolated(i)) {
            out.push(
                Finding::new(
                    BASELINE_UNREACHED,
                    cnp.object_ref(),
                    keys(&["spec", "subject"]),
                    "never reached: NetworkPolicies isolate every pod it selects, and NetworkPolicy decides for isolated pods before the Baseline tier",
                )
                .fix("move the rules to the Admin tier if they must apply, or remove the policy"),
            );
        }
    }
}

/// Pass rules that hand over to nothing: a Baseline Pass (the default follows: allow), or
/// an Admin Pass for pods that no NetworkPolicy isolates and no Baseline rule applies to.
fn pass_to_nothing(cx: &Ctx, out: &mut Vec<Finding>) {
    let (c, comp) = (cx.cluster, &cx.compiled);
    for (ci, cnp) in c.cluster_policies.iter().enumerate() {
        for ingress in [true, false] {
            for (ri, rule) in cnp.rules(ingress).iter().enumerate() {
                if rule.effective_action() != Action::Pass {
                    continue;
                }
                let nothing_below = cnp.tier == Tier::Baseline
                    || comp.cluster_policies[ci].selected.iter().all(|s| {
                        let class = &comp.classes[s];
                        let np = if ingress {
                            &class.ingress_policies
                        } else {
                            &class.egress_policies
                        };
                        np.is_empty()
                            && !class.cluster_policies.iter().any(|&cj| {
                                comp.cluster_policies[cj].tier == Tier::Baseline
                                    && !comp.cluster_policies[cj].rules(ingress).is_empty()
                            })
                    });
                if nothing_below && !comp.cluster_policies[ci].selected.is_empty() {
                    out.push(
                        Finding::new(
                            PASS_TO_NOTHING,
                            cnp.object_ref(),
                            rule_field(ingress, ri).key("action"),
                            "Pass hands over to nothing below it (no NetworkPolicy isolates these pods and no Baseline rule applies): the default allows, so this is an Accept in effect",
                        )
                        .fix("write `action: Accept` if allowing is meant, or add the NetworkPolicy or Baseline rule it should hand over to"),
                    );
                }
            }
        }
    }
}
