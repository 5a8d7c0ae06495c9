//! Manifests applied over a cluster read from the API, as `kubectl apply -f` would leave
//! it: an object in the files replaces the cluster's object of the same kind, namespace
//! and name, and is added when the cluster has none. A workload in the files (a
//! Deployment, say) replaces the running pods that belong to it. With `prune`, the files
//! are the whole policy set where they have policies: the cluster's NetworkPolicies in a
//! namespace where the files have one, and its cluster-scoped policies when the files
//! have one, are removed unless the files have them too (like `kubectl apply --prune`).

use std::collections::{BTreeSet, HashSet};

use palisade_core::{Cluster, Workload};

use crate::Loaded;

/// What the overlay did, for a line on stderr.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OverlayReport {
    /// Objects of the cluster the files replaced (pods of a replaced workload count one each).
    pub replaced: usize,
    /// Objects of the files the cluster did not have.
    pub added: usize,
    /// Policies removed by `prune`.
    pub pruned: usize,
}

/// `files` applied over `base`: the cluster, with the files' origins and texts (so
/// findings point into the files).
pub fn overlay(base: Cluster, files: Loaded, prune: bool) -> (Loaded, OverlayReport) {
    let mut report = OverlayReport::default();
    let mut out = base;
    let new = &files.cluster;

    // Namespaces: only those the files declare replace the cluster's (a namespace known
    // only through a policy's metadata.namespace has no labels of its own).
    for ns in &new.namespaces {
        let declared =
            files
                .origins
                .contains_key(&palisade_core::ObjectRef::new("Namespace", None, &ns.name));
        match out.namespaces.iter_mut().find(|n| n.name == ns.name) {
            Some(n) if declared => {
                *n = ns.clone();
                report.replaced += 1;
            }
            Some(_) => {}
            None => {
                out.namespaces.push(ns.clone());
                report.added += 1;
            }
        }
    }
    for node in &new.nodes {
        replace_or_add(&mut out.nodes, node.clone(), |n| n.name == node.name, &mut report);
    }

    // Pods: a Pod by name; a workload's representative pod replaces the workload's pods.
    for pod in &new.pods {
        let from_workload = pod.source.as_ref().is_some_and(|s| s.kind != "Pod");
        let before = out.pods.len();
        if from_workload {
            let w = Workload::new(&pod.source.as_ref().expect("checked").kind, &pod.name);
            out.pods
                .retain(|p| !(p.namespace == pod.namespace && p.workload.as_ref() == Some(&w)));
        } else {
            out.pods
                .retain(|p| !(p.namespace == pod.namespace && p.name == pod.name && p.workload.is_none()));
        }
        match before - out.pods.len() {
            0 => report.added += 1,
            n => report.replaced += n,
        }
        out.pods.push(pod.clone());
    }

    let mut policy_namespaces: BTreeSet<&str> = BTreeSet::new();
    for p in &new.policies {
        policy_namespaces.insert(&p.namespace);
        out.shadow_policies
            .retain(|q| !(q.namespace == p.namespace && q.name == p.name));
        replace_or_add(
            &mut out.policies,
            p.clone(),
            |q| q.namespace == p.namespace && q.name == p.name,
            &mut report,
        );
    }
    // A policy staged in the files replaces the cluster's of that name, enforced or not.
    for p in &new.shadow_policies {
        let same = |q: &palisade_core::Policy| q.namespace == p.namespace && q.name == p.name;
        out.policies.retain(|q| !same(q));
        replace_or_add(&mut out.shadow_policies, p.clone(), same, &mut report);
    }
    for c in &new.cluster_policies {
        out.shadow_cluster_policies
            .retain(|q| !(q.name == c.name && q.tier == c.tier));
        replace_or_add(
            &mut out.cluster_policies,
            c.clone(),
            |q| q.name == c.name && q.tier == c.tier,
            &mut report,
        );
    }
    for c in &new.shadow_cluster_policies {
        let same = |q: &palisade_core::ClusterPolicy| q.name == c.name && q.tier == c.tier;
        out.cluster_policies.retain(|q| !same(q));
        replace_or_add(&mut out.shadow_cluster_policies, c.clone(), same, &mut report);
    }
    if prune {
        let keep: HashSet<(&str, &str)> = new
            .policies
            .iter()
            .map(|p| (p.namespace.as_str(), p.name.as_str()))
            .collect();
        let before = out.policies.len();
        out.policies.retain(|p| {
            !policy_namespaces.contains(p.namespace.as_str())
                || keep.contains(&(p.namespace.as_str(), p.name.as_str()))
        });
        report.pruned += before - out.policies.len();
        if !new.cluster_policies.is_empty() {
            let before = out.cluster_policies.len();
            out.cluster_policies.retain(|c| {
                new.cluster_policies
                    .iter()
                    .any(|n| n.name == c.name && n.tier == c.tier)
            });
            report.pruned += before - out.cluster_policies.len();
        }
    }
    out.externals = new.externals.clone();
    (
        Loaded {
            cluster: out,
            ..files
        },
        report,
    )
}

fn replace_or_add<T>(list: &mut Vec<T>, item: T, same: impl Fn(&T) -> bool, report: &mut OverlayReport) {
    match list.iter_mut().find(|x| same(x)) {
        Some(x) => {
            *x = item;
            report.replaced += 1;
        }
        None => {
            list.push(item);
            report.added += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{load, LoadOptions, Source};

    fn loaded(yaml: &str) -> Loaded {
        let src = Source::Text {
            name: "t.yaml".into(),
            text: yaml.into(),
        };
        load(&[src], &LoadOptions::default()).ok().unwrap()
    }

    /// The cluster as read from the API: namespace shop (team=a), two pods of Deployment
    /// web (through their ReplicaSet), a pod db, policies p1 and p2 in shop, q in other.
    fn live() -> Cluster {
        loaded(
            "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop, labels: {team: a}}\n---\n\
             apiVersion: v1\nkind: Namespace\nmetadata: {name: other}\n---\n\
             apiVersion: v1\nkind: Pod\nmetadata: {name: web-5f7-a, namespace: shop, labels: {app: web, pod-template-hash: 5f7},\n  ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: web-5f7, uid: u, controller: true}]}\nspec: {containers: [{name: c}]}\nstatus: {podIP: 10.0.0.1}\n---\n\
             apiVersion: v1\nkind: Pod\nmetadata: {name: web-5f7-b, namespace: shop, labels: {app: web, pod-template-hash: 5f7},\n  ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: web-5f7, uid: u, controller: true}]}\nspec: {containers: [{name: c}]}\nstatus: {podIP: 10.0.0.2}\n---\n\
             apiVersion: v1\nkind: Pod\nmetadata: {name: db, namespace: shop, labels: {app: db}}\nspec: {containers: [{name: c}]}\nstatus: {podIP: 10.0.0.3}\n---\n\
             apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p1, namespace: shop}\nspec: {podSelector: {}}\n---\n\
             apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p2, namespace: shop}\nspec: {podSelector: {}}\n---\n\
             apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: q, namespace: other}\nspec: {podSelector: {}}\n",
        )
        .cluster
    }

    fn names(c: &Cluster) -> (Vec<String>, Vec<String>) {
        let mut pods: Vec<String> = c.pods.iter().map(|p| p.key()).collect();
        let mut pols: Vec<String> = c.policies.iter().map(|p| p.key()).collect();
        pods.sort();
        pols.sort();
        (pods, pols)
    }

    #[test]
    fn files_replace_and_add_by_kind_namespace_and_name() {
        // p1 replaced (now selecting app=db), p3 added; shop is only named by the policies,
        // so its labels stay the cluster's.
        let files = loaded(
            "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p1, namespace: shop}\nspec: {podSelector: {matchLabels: {app: db}}}\n---\n\
             apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p3, namespace: shop}\nspec: {podSelector: {}}\n",
        );
        let (out, r) = overlay(live(), files, false);
        assert_eq!(
            r,
            OverlayReport {
                replaced: 1,
                added: 1,
                pruned: 0
            }
        );
        let (pods, pols) = names(&out.cluster);
        assert_eq!(pods, ["shop/db", "shop/web-5f7-a", "shop/web-5f7-b"]);
        assert_eq!(pols, ["other/q", "shop/p1", "shop/p2", "shop/p3"]);
        let p1 = out.cluster.policies.iter().find(|p| p.name == "p1").unwrap();
        assert_eq!(p1.pod_selector.to_string(), "app=db");
        assert_eq!(out.cluster.namespace("shop").unwrap().labels["team"], "a");
    }

    #[test]
    fn a_workload_replaces_its_pods_and_a_declared_namespace_its_labels() {
        let files = loaded(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: shop}\nspec:\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web, v: '2'}}\n    spec: {containers: [{name: c}]}\n---\n\
             apiVersion: v1\nkind: Namespace\nmetadata: {name: shop, labels: {team: b}}\n",
        );
        let (out, r) = overlay(live(), files, false);
        // Two running pods of web replaced by the Deployment's one; shop's labels replaced.
        assert_eq!(
            r,
            OverlayReport {
                replaced: 3,
                added: 0,
                pruned: 0
            }
        );
        let (pods, _) = names(&out.cluster);
        assert_eq!(pods, ["shop/db", "shop/web"]);
        assert_eq!(out.cluster.namespace("shop").unwrap().labels["team"], "b");
    }

    #[test]
    fn prune_removes_what_the_files_lack_in_their_namespaces_only() {
        let files = loaded(
            "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p1, namespace: shop}\nspec: {podSelector: {}}\n",
        );
        let (out, r) = overlay(live(), files, true);
        // p2 goes (shop has policies in the files); q stays (no file names other).
        assert_eq!(
            r,
            OverlayReport {
                replaced: 1,
                added: 0,
                pruned: 1
            }
        );
        let (_, pols) = names(&out.cluster);
        assert_eq!(pols, ["other/q", "shop/p1"]);
    }
}
