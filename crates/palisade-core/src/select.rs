//! Which pods a selector picks, once for every reader: the policy's subjects (its
//! `podSelector` in its namespace) and a `from`/`to` item's pods (`namespaceSelector` and
//! `podSelector` ANDed; no `namespaceSelector`: the policy's own namespace). Selectors never
//! pick hostNetwork pods (their traffic is the node's). A namespace known only through its
//! pods has no labels. Compile, lint and assertions all use these; the direct evaluator
//! (`explain`) decides one pod at a time with the same rules and says why.

use std::collections::HashSet;

use crate::model::{Cluster, Labels, Pod, Policy};
use crate::selector::LabelSelector;

static NO_LABELS: Labels = Labels::new();

impl Cluster {
    /// A namespace's labels (none for a namespace known only through its pods).
    pub fn namespace_labels(&self, namespace: &str) -> &Labels {
        self.namespace(namespace).map_or(&NO_LABELS, |n| &n.labels)
    }

    /// The namespaces a `namespaceSelector` picks (`None`: just `own`), among those with a
    /// Namespace object and those known only through their pods, each once.
    pub fn selected_namespaces<'c>(&'c self, selector: Option<&LabelSelector>, own: &'c str) -> Vec<&'c str> {
        // Namespaces known only through their pods are looked for only when they can be
        // picked (they have no labels).
        if selector.is_some_and(|sel| sel.matches(&NO_LABELS)) {
            self.picked_namespaces(selector, own, &self.namespaces_only_of_pods())
        } else {
            self.picked_namespaces(selector, own, &[])
        }
    }

    /// Namespaces known only through their pods (no Namespace object), sorted, each once.
    fn namespaces_only_of_pods(&self) -> Vec<&str> {
        let known: HashSet<&str> = self.namespaces.iter().map(|n| n.name.as_str()).collect();
        let mut only_pods: Vec<&str> = self
            .pods
            .iter()
            .map(|p| p.namespace.as_str())
            .filter(|ns| !known.contains(ns))
            .collect();
        only_pods.sort_unstable();
        only_pods.dedup();
        only_pods
    }

    /// [`Cluster::selected_namespaces`], given the namespaces known only through their pods.
    fn picked_namespaces<'c>(
        &'c self,
        selector: Option<&LabelSelector>,
        own: &'c str,
        only_pods: &[&'c str],
    ) -> Vec<&'c str> {
        let Some(sel) = selector else {
            return vec![own];
        };
        let mut out: Vec<&str> = self
            .namespaces
            .iter()
            .filter(|n| sel.matches(&n.labels))
            .map(|n| n.name.as_str())
            .collect();
        if sel.matches(&NO_LABELS) {
            out.extend(only_pods.iter().copied());
        }
        out
    }

    /// The pods (indices) a `from`/`to` pods item of a policy in `own` selects.
    pub fn peer_pods(
        &self,
        own: &str,
        namespace_selector: Option<&LabelSelector>,
        pod_selector: Option<&LabelSelector>,
    ) -> Vec<usize> {
        let namespaces: HashSet<&str> = self
            .selected_namespaces(namespace_selector, own)
            .into_iter()
            .collect();
        self.pods
            .iter()
            .enumerate()
            .filter(|(_, p)| {
                !p.host_network
                    && namespaces.contains(p.namespace.as_str())
                    && pod_selector.is_none_or(|s| s.matches(&p.labels))
            })
            .map(|(i, _)| i)
            .collect()
    }

    /// The pods (indices) a policy applies to.
    pub fn subject_pods(&self, policy: &Policy) -> Vec<usize> {
        self.pods
            .iter()
            .enumerate()
            .filter(|(_, p)| policy.selects(p))
            .map(|(i, _)| i)
            .collect()
    }
}

/// The selectable pods by namespace, built once: the same answers as
/// [`Cluster::peer_pods`] and [`Cluster::subject_pods`] reading only the namespaces a
/// selector picks, for checks that ask for every policy and peer of a large cluster.
pub struct PodIndex<'c> {
    cluster: &'c Cluster,
    /// Non-hostNetwork pods (indices, in order) by namespace.
    by_namespace: std::collections::HashMap<&'c str, Vec<usize>>,
    /// Namespaces known only through their pods (no labels), sorted.
    only_pods: Vec<&'c str>,
}

impl<'c> PodIndex<'c> {
    /// The index of `cluster`'s pods.
    pub fn new(cluster: &'c Cluster) -> Self {
        let mut by_namespace: std::collections::HashMap<&str, Vec<usize>> = Default::default();
        for (i, p) in cluster.pods.iter().enumerate().filter(|(_, p)| !p.host_network) {
            by_namespace.entry(p.namespace.as_str()).or_default().push(i);
        }
        let only_pods = cluster.namespaces_only_of_pods();
        PodIndex {
            cluster,
            by_namespace,
            only_pods,
        }
    }

    /// [`Cluster::peer_pods`], in the same (index) order.
    pub fn peer_pods(
        &self,
        own: &str,
        namespace_selector: Option<&LabelSelector>,
        pod_selector: Option<&LabelSelector>,
    ) -> Vec<usize> {
        let mut namespaces = self
            .cluster
            .picked_namespaces(namespace_selector, own, &self.only_pods);
        namespaces.sort_unstable();
        namespaces.dedup();
        let mut out: Vec<usize> = namespaces
            .into_iter()
            .filter_map(|ns| self.by_namespace.get(ns))
            .flatten()
            .copied()
            .filter(|&i| pod_selector.is_none_or(|s| s.matches(&self.cluster.pods[i].labels)))
            .collect();
        out.sort_unstable();
        out
    }

    /// [`Cluster::subject_pods`].
    pub fn subject_pods(&self, policy: &Policy) -> Vec<usize> {
        self.by_namespace
            .get(policy.namespace.as_str())
            .into_iter()
            .flatten()
            .copied()
            .filter(|&i| policy.pod_selector.matches(&self.cluster.pods[i].labels))
            .collect()
    }
}

impl Policy {
    /// Whether the policy applies to `pod`: its namespace, its `podSelector`, and never a
    /// hostNetwork pod.
    pub fn selects(&self, pod: &Pod) -> bool {
        !pod.host_network && pod.namespace == self.namespace && self.pod_selector.matches(&pod.labels)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Namespace;

    fn pod(ns: &str, name: &str, labels: &[(&str, &str)], host: bool) -> Pod {
        Pod {
            namespace: ns.into(),
            name: name.into(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ips: Vec::new(),
            host_network: host,
            ports: Vec::new(),
            node: None,
            workload: None,
            source: None,
        }
    }

    fn sel(pairs: &[(&str, &str)]) -> LabelSelector {
        LabelSelector::from_labels(pairs.iter().copied())
    }

    /// Expectations by hand: `a` is labelled team=x; `b` exists without labels; `c` is
    /// known only through its pod; hostNetwork pods are never picked.
    #[test]
    fn peers_and_subjects_as_the_api_defines_them() {
        let c = Cluster {
            namespaces: vec![
                Namespace {
                    name: "a".into(),
                    labels: [("team".to_string(), "x".to_string())].into_iter().collect(),
                    annotations: Default::default(),
                },
                Namespace {
                    name: "b".into(),
                    labels: Labels::new(),
                    annotations: Default::default(),
                },
            ],
            pods: vec![
                pod("a", "web", &[("app", "web")], false),
                pod("a", "node-agent", &[("app", "web")], true),
                pod("b", "web", &[("app", "web")], false),
                pod("c", "web", &[("app", "web")], false),
                pod("a", "db", &[("app", "db")], false),
            ],
            ..Default::default()
        };
        let web = sel(&[("app", "web")]);
        let team = sel(&[("team", "x")]);
        let all = LabelSelector::everything();
        assert_eq!(c.peer_pods("a", None, Some(&web)), vec![0]);
        assert_eq!(c.peer_pods("a", None, None), vec![0, 4]);
        assert_eq!(c.peer_pods("a", Some(&team), Some(&web)), vec![0]);
        // An empty namespaceSelector: every namespace, the pod-only one too.
        assert_eq!(c.peer_pods("a", Some(&all), Some(&web)), vec![0, 2, 3]);
        assert_eq!(c.selected_namespaces(Some(&all), "a"), vec!["a", "b", "c"]);
        assert_eq!(c.selected_namespaces(Some(&team), "b"), vec!["a"]);
        assert!(c.namespace_labels("c").is_empty());
        let p = Policy {
            namespace: "a".into(),
            name: "p".into(),
            pod_selector: web.clone(),
            types: Default::default(),
            ingress: Vec::new(),
            egress: Vec::new(),
        };
        assert_eq!(c.subject_pods(&p), vec![0]);
    }
}
