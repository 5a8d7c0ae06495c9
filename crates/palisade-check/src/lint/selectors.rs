//! Selectors that select nothing, namespace labels nobody carries, and the AND/OR trap.

use std::collections::BTreeSet;

use palisade_core::{LabelSelector, Operator, Peer};

use super::{
    peer_field, peers, rule_field, selector_json, Ctx, Finding, AND_OR, PEER_SELECTS_NOTHING,
    POLICY_SELECTS_NOTHING, UNKNOWN_NAMESPACE_LABEL,
};

/// Label keys a selector requires to be present with some value (In, Exists).
fn required_keys(s: &LabelSelector) -> Vec<&str> {
    s.requirements
        .iter()
        .filter(|r| matches!(r.operator, Operator::In | Operator::Exists))
        .map(|r| r.key.as_str())
        .collect()
}

pub fn check(cx: &Ctx, out: &mut Vec<Finding>) {
    let c = cx.cluster;
    let ns_keys: BTreeSet<&str> = c
        .namespaces
        .iter()
        .flat_map(|n| n.labels.keys().map(String::as_str))
        .collect();
    for (pi, ingress, ri, xi, peer) in peers(c) {
        let Peer::Pods {
            namespace_selector,
            pod_selector,
        } = peer
        else {
            continue;
        };
        let policy = &c.policies[pi];
        let field = peer_field(ingress, ri, xi);
        if let Some(ns_sel) = namespace_selector {
            let unknown: Vec<&str> = required_keys(ns_sel)
                .into_iter()
                .filter(|k| !ns_keys.contains(k))
                .collect();
            if !unknown.is_empty() {
                let mut f = Finding::new(
                    UNKNOWN_NAMESPACE_LABEL,
                    cx.policy_object(pi),
                    field.key("namespaceSelector"),
                    format!(
                        "no namespace in these manifests has the label {}: the selector {{{ns_sel}}} selects no namespace",
                        unknown.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")
                    ),
                );
                // The classic mistake: `name: X` for the automatic metadata name label.
                if let Some(r) = ns_sel
                    .requirements
                    .iter()
                    .find(|r| r.key == "name" && r.values.len() == 1)
                {
                    f = f.fix(palisade_load::emit::yaml(&serde_json::json!({
                        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": r.values[0]}}
                    })));
                } else {
                    f = f.fix("label the namespaces, or select them by `kubernetes.io/metadata.name`");
                }
                out.push(f);
                continue;
            }
        }
        if cx
            .pods
            .peer_pods(
                &policy.namespace,
                namespace_selector.as_ref(),
                pod_selector.as_ref(),
            )
            .is_empty()
        {
            let what = match (namespace_selector, pod_selector) {
                (Some(n), Some(p)) => format!("pods {{{p}}} in namespaces {{{n}}}"),
                (Some(n), None) => format!("namespaces {{{n}}}"),
                (None, Some(p)) => format!("pods {{{p}}} in namespace {}", policy.namespace),
                (None, None) => "nothing".into(),
            };
            out.push(
                Finding::new(
                    PEER_SELECTS_NOTHING,
                    cx.policy_object(pi),
                    field,
                    format!("this item selects no pod in these manifests ({what}); the rule allows nothing through it"),
                )
                .fix("check the labels against the pods' and namespaces' labels (`palisade analyze` lists them)"),
            );
        }
    }
    for (pi, policy) in c.policies.iter().enumerate() {
        let selected = cx.pods.subject_pods(policy).len();
        if selected == 0 {
            let in_ns = cx
                .selectable()
                .filter(|(_, p)| p.namespace == policy.namespace)
                .count();
            out.push(
                Finding::new(
                    POLICY_SELECTS_NOTHING,
                    cx.policy_object(pi),
                    super::keys(&["spec", "podSelector"]),
                    format!(
                        "podSelector {{{}}} selects none of the {in_ns} pod(s) of namespace {}",
                        policy.pod_selector, policy.namespace
                    ),
                )
                .fix("match the podSelector to the workload's pod template labels"),
            );
        }
        and_or(cx, pi, out);
    }
}

/// A rule with a namespaceSelector-only item and a podSelector-only item: ORed as written,
/// perhaps meant as one ANDed item.
fn and_or(cx: &Ctx, pi: usize, out: &mut Vec<Finding>) {
    let c = cx.cluster;
    let policy = &c.policies[pi];
    for (ingress, rules) in [(true, &policy.ingress), (false, &policy.egress)] {
        for (ri, rule) in rules.iter().enumerate() {
            let ns_only: Vec<(usize, &LabelSelector)> = rule
                .peers
                .iter()
                .enumerate()
                .filter_map(|(i, p)| match p {
                    Peer::Pods {
                        namespace_selector: Some(n),
                        pod_selector: None,
                    } => Some((i, n)),
                    _ => None,
                })
                .collect();
            let pod_only: Vec<(usize, &LabelSelector)> = rule
                .peers
                .iter()
                .enumerate()
                .filter_map(|(i, p)| match p {
                    Peer::Pods {
                        namespace_selector: None,
                        pod_selector: Some(s),
                    } => Some((i, s)),
                    _ => None,
                })
                .collect();
            for &(ni, ns_sel) in &ns_only {
                for &(pj, pod_sel) in &pod_only {
                    let pods = &cx.pods;
                    let as_written: BTreeSet<usize> = pods
                        .peer_pods(&policy.namespace, Some(ns_sel), None)
                        .into_iter()
                        .chain(pods.peer_pods(&policy.namespace, None, Some(pod_sel)))
                        .collect();
                    let anded = pods.peer_pods(&policy.namespace, Some(ns_sel), Some(pod_sel));
                    if anded.len() >= as_written.len() {
                        continue;
                    }
                    let dir = if ingress { "from" } else { "to" };
                    out.push(
                        Finding::new(
                            AND_OR,
                            cx.policy_object(pi),
                            rule_field(ingress, ri),
                            format!(
                                "`{dir}[{ni}]` (namespaceSelector {{{ns_sel}}}) and `{dir}[{pj}]` (podSelector {{{pod_sel}}}) are separate items, so they are ORed: \
                                 as written the rule admits {} pod(s) (every pod of those namespaces, plus {{{pod_sel}}} in {}); \
                                 as one item (AND) it would admit {} pod(s) ({{{pod_sel}}} within those namespaces)",
                                as_written.len(),
                                policy.namespace,
                                anded.len()
                            ),
                        )
                        .fix(format!(
                            "if you meant AND, make them one item (no dash before podSelector):\n{}",
                            palisade_load::emit::yaml(&serde_json::json!({
                                dir: [{"namespaceSelector": selector_json(ns_sel), "podSelector": selector_json(pod_sel)}]
                            }))
                        )),
                    );
                }
            }
        }
    }
}
