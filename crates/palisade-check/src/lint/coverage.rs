//! Zero-trust coverage: default deny per namespace and direction, and the DNS path of
//! egress-isolated pods.

use std::collections::{BTreeMap, BTreeSet};

use palisade_core::{allowed, Cluster, Endpoint, Labels, ObjectRef, Pod, Protocol};

use super::{
    some, Ctx, Finding, DNS_BLOCKED, DNS_TCP_BLOCKED, NO_DEFAULT_DENY_EGRESS, NO_DEFAULT_DENY_INGRESS,
};

fn default_deny(ns: &str, ingress: bool) -> String {
    let (name, kind) = if ingress {
        ("default-deny-ingress", "Ingress")
    } else {
        ("default-deny-egress", "Egress")
    };
    crate::scaffold::policy_yaml(
        name,
        ns,
        None,
        serde_json::json!({"podSelector": {}, "policyTypes": [kind]}),
    )
}

/// Per direction (ingress, egress), the namespaces where a ClusterNetworkPolicy denies
/// every pod towards (or from) every pod on every port: each of their pods is selected by a
/// CNP with a Deny rule without protocols whose peers hold every selectable pod.
/// Cluster-wide guardrails (`scaffold zero-trust --cluster-wide`) are a default deny too.
/// One pass over the pods; nothing without CNPs.
fn tier_default_deny<'c>(cx: &'c Ctx) -> [BTreeSet<&'c str>; 2] {
    let comp = &cx.compiled;
    let mut out: [BTreeSet<&str>; 2] = Default::default();
    if comp.cluster_policies.is_empty() {
        return out;
    }
    let mut pod_classes = palisade_core::bits::BitSet::new(comp.class_count());
    for (i, _) in cx.selectable() {
        pod_classes.insert(comp.pod_class(i));
    }
    let denies_all = |class: usize, ingress: bool| {
        comp.classes[class].cluster_policies.iter().any(|&ci| {
            comp.cluster_policies[ci].rules(ingress).iter().any(|r| {
                let mut missing = pod_classes.clone();
                missing.subtract(&r.rule.peers);
                r.action == palisade_core::Action::Deny && r.rule.ports.is_empty() && missing.is_empty()
            })
        })
    };
    for (d, ingress) in [true, false].into_iter().enumerate() {
        let mut open: BTreeSet<&str> = BTreeSet::new();
        let mut all: BTreeSet<&str> = BTreeSet::new();
        let mut memo: BTreeMap<usize, bool> = BTreeMap::new();
        for (i, p) in cx.selectable() {
            all.insert(p.namespace.as_str());
            let c = comp.pod_class(i);
            if !*memo.entry(c).or_insert_with(|| denies_all(c, ingress)) {
                open.insert(p.namespace.as_str());
            }
        }
        out[d] = all.difference(&open).copied().collect();
    }
    out
}

pub fn check(cx: &Ctx, out: &mut Vec<Finding>) {
    let c = cx.cluster;
    // Namespaces with selectable pods.
    let mut pods_by_ns: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, p) in cx.selectable() {
        *pods_by_ns.entry(p.namespace.as_str()).or_default() += 1;
    }
    let tier_denied = tier_default_deny(cx);
    for (ns, n) in &pods_by_ns {
        if cx.opts.skip_namespaces.iter().any(|s| s == ns) {
            continue;
        }
        for ingress in [true, false] {
            // A default deny: a policy of the namespace selecting every pod (`podSelector: {}`)
            // for this direction. Allow rules in it are fine; it still isolates every pod.
            let covered = c.policies.iter().any(|p| {
                p.namespace == *ns
                    && p.pod_selector.is_everything()
                    && if ingress { p.types.ingress } else { p.types.egress }
            });
            if covered || tier_denied[usize::from(!ingress)].contains(ns) {
                continue;
            }
            let rule = if ingress {
                NO_DEFAULT_DENY_INGRESS
            } else {
                NO_DEFAULT_DENY_EGRESS
            };
            let dir = if ingress { "ingress" } else { "egress" };
            let open = cx
                .selectable()
                .filter(|(i, p)| {
                    p.namespace == *ns && {
                        let class = &cx.compiled.classes[cx.compiled.pod_class(*i)];
                        if ingress {
                            class.ingress_policies.is_empty()
                        } else {
                            class.egress_policies.is_empty()
                        }
                    }
                })
                .count();
            out.push(
                Finding::new(
                    rule,
                    ObjectRef::new("Namespace", None, ns),
                    palisade_load::path::FieldPath::root(),
                    format!(
                        "namespace {ns} ({n} pod(s)) has no default deny for {dir}: {open} pod(s) are open to any {}",
                        if ingress { "source" } else { "destination" }
                    ),
                )
                .fix(default_deny(ns, ingress)),
            );
        }
    }
    dns(cx, out);
}

/// The cluster DNS pods, or a stand-in when the manifests have none.
fn dns_cluster(cx: &Ctx) -> (Cluster, Vec<usize>) {
    let mut c = cx.cluster.clone();
    let is_dns = |p: &Pod| {
        p.namespace == cx.opts.dns_namespace
            && cx.opts.dns_labels.iter().all(|(k, v)| p.labels.get(k) == Some(v))
    };
    let mut pods: Vec<usize> = c
        .pods
        .iter()
        .enumerate()
        .filter(|(_, p)| is_dns(p))
        .map(|(i, _)| i)
        .collect();
    if pods.is_empty() {
        let labels: Labels = cx.opts.dns_labels.iter().cloned().collect();
        c.pods.push(Pod {
            namespace: cx.opts.dns_namespace.clone(),
            name: "cluster-dns (stand-in)".into(),
            labels,
            ips: vec![cx.opts.dns_stand_in_ip],
            host_network: false,
            ports: Vec::new(),
            node: None,
            workload: None,
            source: None,
        });
        if !c.namespaces.iter().any(|n| n.name == cx.opts.dns_namespace) {
            c.namespaces.push(palisade_core::Namespace {
                name: cx.opts.dns_namespace.clone(),
                labels: [(
                    "kubernetes.io/metadata.name".to_string(),
                    cx.opts.dns_namespace.clone(),
                )]
                .into(),
                annotations: Default::default(),
            });
        }
        pods.push(c.pods.len() - 1);
    }
    (c, pods)
}

fn dns(cx: &Ctx, out: &mut Vec<Finding>) {
    let (c, dns_pods) = dns_cluster(cx);
    let dns_set: BTreeSet<usize> = dns_pods.iter().copied().collect();
    // One representative pod per class: every pod of a class is judged alike.
    let mut seen = BTreeSet::new();
    // (UDP blocked?, isolating policies) -> pods
    let mut groups: BTreeMap<(bool, Vec<usize>), Vec<String>> = BTreeMap::new();
    let mut members: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    for (i, p) in cx.selectable() {
        if dns_set.contains(&i) {
            continue;
        }
        members.entry(cx.compiled.pod_class(i)).or_default().push(p.key());
    }
    for (i, _) in cx.selectable() {
        let class = cx.compiled.pod_class(i);
        if dns_set.contains(&i) || !seen.insert(class) {
            continue;
        }
        let policies = &cx.compiled.classes[class].egress_policies;
        if policies.is_empty() {
            continue;
        }
        let reaches = |proto: Protocol| {
            dns_pods.iter().any(|&d| {
                allowed(
                    &c,
                    &cx.opts.engine,
                    &Endpoint::Pod(i),
                    &Endpoint::Pod(d),
                    proto,
                    53,
                )
            })
        };
        let (udp, tcp) = (reaches(Protocol::Udp), reaches(Protocol::Tcp));
        if udp && tcp {
            continue;
        }
        groups
            .entry((!udp, policies.clone()))
            .or_default()
            .extend(members[&class].iter().cloned());
    }
    let selector = cx
        .opts
        .dns_labels
        .iter()
        .map(|(k, v)| format!("{k}: {v}"))
        .collect::<Vec<_>>()
        .join(", ");
    for ((udp_blocked, policies), mut pods) in groups {
        pods.sort();
        let rule = if udp_blocked { DNS_BLOCKED } else { DNS_TCP_BLOCKED };
        let what = if udp_blocked {
            "UDP 53"
        } else {
            "TCP 53 (UDP works)"
        };
        let ns = &cx
            .cluster
            .pods
            .iter()
            .find(|p| p.key() == pods[0])
            .expect("pod")
            .namespace;
        let names: Vec<String> = policies.iter().map(|&p| cx.cluster.policies[p].key()).collect();
        out.push(
            Finding::new(
                rule,
                cx.policy_object(policies[0]),
                palisade_load::path::FieldPath::root(),
                format!(
                    "{} pod(s) ({}) are egress-isolated by {} and cannot reach cluster DNS ({}/{{{selector}}}) on {what}",
                    pods.len(),
                    some(&pods),
                    names.join(", "),
                    cx.opts.dns_namespace
                ),
            )
            .fix(crate::scaffold::policy_yaml(
                "allow-dns-egress",
                ns,
                None,
                crate::scaffold::dns_egress_spec(&cx.opts.dns_namespace, &cx.opts.dns_labels),
            )),
        );
    }
}
