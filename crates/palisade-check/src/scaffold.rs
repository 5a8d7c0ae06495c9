//! `palisade scaffold zero-trust`: the minimum viable policy set per namespace — default
//! deny both ways, DNS egress to cluster DNS, traffic inside the namespace, and on request
//! HTTPS egress to the internet (private ranges excepted) and metrics scraping from a
//! monitoring namespace. Written as YAML; the CLI loads it back, lints it and diffs it
//! against the input so nobody applies it blind.

use std::collections::BTreeSet;

use palisade_core::Cluster;
use serde_json::{json, Map, Value};

/// What `scaffold zero-trust` generates.
#[derive(Clone, Debug)]
pub struct ScaffoldOptions {
    /// Allow egress to the internet on TCP 443 (private ranges excepted).
    pub internet_egress: bool,
    /// Allow metrics scraping from this namespace (and its egress to the metrics ports).
    pub monitoring: Option<String>,
    /// Cluster DNS: namespace and pod labels.
    pub dns_namespace: String,
    /// The DNS pods' labels.
    pub dns_labels: Vec<(String, String)>,
    /// Namespaces left alone (the platform's own).
    pub skip_namespaces: Vec<String>,
}

impl Default for ScaffoldOptions {
    fn default() -> Self {
        ScaffoldOptions {
            internet_egress: false,
            monitoring: None,
            dns_namespace: "kube-system".into(),
            dns_labels: vec![("k8s-app".into(), "kube-dns".into())],
            skip_namespaces: vec![
                "kube-system".into(),
                "kube-public".into(),
                "kube-node-lease".into(),
            ],
        }
    }
}

/// A NetworkPolicy as a YAML document (through the loader's serializer, so that every
/// name and label reads back as the string it is). `managed_by` labels it.
pub fn policy_yaml(name: &str, ns: &str, managed_by: Option<&str>, spec: Value) -> String {
    let mut metadata = json!({"name": name, "namespace": ns});
    if let Some(m) = managed_by {
        metadata["labels"] = json!({"app.kubernetes.io/managed-by": m});
    }
    palisade_load::emit::yaml(&json!({
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": metadata,
        "spec": spec,
    }))
}

fn policy(name: &str, ns: &str, spec: Value) -> String {
    format!("---\n{}", policy_yaml(name, ns, Some("palisade-scaffold"), spec))
}

/// Egress from every pod to cluster DNS on UDP and TCP 53.
pub fn dns_egress_spec(dns_namespace: &str, dns_labels: &[(String, String)]) -> Value {
    let labels: Map<String, Value> = dns_labels
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    json!({
        "podSelector": {},
        "policyTypes": ["Egress"],
        "egress": [{
            "to": [{
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": dns_namespace}},
                "podSelector": {"matchLabels": labels},
            }],
            "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
        }],
    })
}

/// Container port names that say metrics, declared by pods of `ns` (all namespaces for `None`).
fn metrics_ports(c: &Cluster, ns: Option<&str>) -> BTreeSet<String> {
    c.pods
        .iter()
        .filter(|p| !p.host_network && ns.is_none_or(|n| p.namespace == n))
        .flat_map(|p| p.ports.iter().filter_map(|x| x.name.clone()))
        .filter(|n| n.contains("metrics"))
        .collect()
}

fn port_list(names: &BTreeSet<String>) -> Value {
    names.iter().map(|n| json!({"port": n})).collect()
}

/// The policies for every namespace with pods, as (namespace, YAML documents).
pub fn zero_trust(c: &Cluster, o: &ScaffoldOptions) -> Vec<(String, String)> {
    let namespaces: BTreeSet<&str> = c
        .pods
        .iter()
        .filter(|p| !p.host_network)
        .map(|p| p.namespace.as_str())
        .filter(|n| !o.skip_namespaces.iter().any(|s| s == n))
        .collect();
    let mut out = Vec::new();
    for ns in namespaces {
        let mut y = format!("# Zero trust for namespace {ns} (palisade scaffold zero-trust).\n");
        y += &policy(
            "palisade-default-deny",
            ns,
            json!({"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}),
        );
        y += &policy(
            "palisade-allow-dns",
            ns,
            dns_egress_spec(&o.dns_namespace, &o.dns_labels),
        );
        y += &policy(
            "palisade-allow-same-namespace",
            ns,
            json!({
                "podSelector": {},
                "policyTypes": ["Ingress", "Egress"],
                "ingress": [{"from": [{"podSelector": {}}]}],
                "egress": [{"to": [{"podSelector": {}}]}],
            }),
        );
        if o.internet_egress {
            y += &policy(
                "palisade-allow-internet-egress",
                ns,
                json!({
                    "podSelector": {},
                    "policyTypes": ["Egress"],
                    "egress": [{
                        "to": [{"ipBlock": {
                            "cidr": "0.0.0.0/0",
                            "except": ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"],
                        }}],
                        "ports": [{"protocol": "TCP", "port": 443}],
                    }],
                }),
            );
        }
        if let Some(mon) = o.monitoring.as_deref() {
            let here = metrics_ports(c, Some(ns));
            if mon != ns && !here.is_empty() {
                y += &policy(
                    "palisade-allow-metrics-scraping",
                    ns,
                    json!({
                        "podSelector": {},
                        "policyTypes": ["Ingress"],
                        "ingress": [{
                            "from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": mon}}}],
                            "ports": port_list(&here),
                        }],
                    }),
                );
            } else if mon != ns {
                y += &format!("# No pod of {ns} names a metrics port: no scraping policy.\n");
            }
            let everywhere = metrics_ports(c, None);
            if mon == ns && !everywhere.is_empty() {
                y += &policy(
                    "palisade-allow-metrics-egress",
                    ns,
                    json!({
                        "podSelector": {},
                        "policyTypes": ["Egress"],
                        "egress": [{"to": [{"namespaceSelector": {}}], "ports": port_list(&everywhere)}],
                    }),
                );
            }
        }
        out.push((ns.to_string(), y));
    }
    out
}
