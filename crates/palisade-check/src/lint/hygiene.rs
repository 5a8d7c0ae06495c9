//! Label hygiene: pods nothing can single out.

use std::collections::{BTreeMap, BTreeSet};

use palisade_core::Peer;

use super::{Ctx, Finding, POD_MISSING_LABELS, POD_NO_LABELS};

pub fn check(cx: &Ctx, out: &mut Vec<Finding>) {
    let c = cx.cluster;
    // Label keys the policies of each namespace select its pods on: their podSelectors,
    // and podSelectors of rule items that look into that namespace.
    let mut keys: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for p in &c.policies {
        keys.entry(p.namespace.as_str())
            .or_default()
            .extend(p.pod_selector.requirements.iter().map(|r| r.key.as_str()));
        for rule in p.ingress.iter().chain(&p.egress) {
            for peer in &rule.peers {
                if let Peer::Pods {
                    namespace_selector: None,
                    pod_selector: Some(s),
                } = peer
                {
                    keys.entry(p.namespace.as_str())
                        .or_default()
                        .extend(s.requirements.iter().map(|r| r.key.as_str()));
                }
            }
        }
    }
    let mut seen = BTreeSet::new();
    for (_, pod) in cx.selectable() {
        // One finding per workload; it names (and is placed at) the object the first of
        // its pods was read from: the workload, or a Pod `kubectl get` wrote.
        if !seen.insert(cx.pod_group(pod)) {
            continue;
        }
        let object = cx.pod_object(pod);
        // Where the labels are written: on the Pod, or in the workload's pod template.
        let field = match object.kind.as_str() {
            "Pod" => super::keys(&["metadata", "labels"]),
            "CronJob" => super::keys(&["spec", "jobTemplate", "spec", "template", "metadata", "labels"]),
            _ => super::keys(&["spec", "template", "metadata", "labels"]),
        };
        if pod.labels.is_empty() {
            out.push(
                Finding::new(
                    POD_NO_LABELS,
                    object,
                    field,
                    format!(
                        "{} has no labels: policies can select it only with an empty podSelector",
                        pod.key()
                    ),
                )
                .fix("labels:\n  app.kubernetes.io/name: <name>\n"),
            );
            continue;
        }
        let Some(used) = keys.get(pod.namespace.as_str()).filter(|k| !k.is_empty()) else {
            continue;
        };
        if !used.iter().any(|k| pod.labels.contains_key(*k)) {
            out.push(
                Finding::new(
                    POD_MISSING_LABELS,
                    object,
                    field,
                    format!(
                        "{} has none of the label keys the policies of namespace {} select on ({}): only namespace-wide rules apply to it",
                        pod.key(),
                        pod.namespace,
                        used.iter().copied().collect::<Vec<_>>().join(", ")
                    ),
                )
                .fix(format!("add the label your policies use, e.g. `{}: <value>`", used.iter().next().expect("not empty"))),
            );
        }
    }
}
