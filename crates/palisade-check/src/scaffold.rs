//! `palisade scaffold zero-trust`: the minimum viable policy set per namespace — default
//! deny both ways, DNS egress to cluster DNS, traffic inside the namespace, and on request
//! HTTPS egress to the internet (private ranges excepted) and metrics scraping from a
//! monitoring namespace. Written as YAML; the CLI loads it back, lints it and diffs it
//! against the input so nobody applies it blind.

use std::collections::BTreeSet;

use palisade_core::Cluster;

#[derive(Clone, Debug)]
pub struct ScaffoldOptions {
    /// Allow egress to the internet on TCP 443 (private ranges excepted).
    pub internet_egress: bool,
    /// Allow metrics scraping from this namespace (and its egress to the metrics ports).
    pub monitoring: Option<String>,
    /// Cluster DNS: namespace and pod labels.
    pub dns_namespace: String,
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

fn policy(name: &str, ns: &str, body: &str) -> String {
    format!("---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: {name}\n  namespace: {ns}\n  labels:\n    app.kubernetes.io/managed-by: palisade-scaffold\nspec:\n{body}")
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

fn port_list(names: &BTreeSet<String>) -> String {
    names.iter().map(|n| format!("    - port: {n}\n")).collect()
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
    let dns_labels: String = o
        .dns_labels
        .iter()
        .map(|(k, v)| format!("          {k}: {v}\n"))
        .collect();
    let mut out = Vec::new();
    for ns in namespaces {
        let mut y = format!("# Zero trust for namespace {ns} (palisade scaffold zero-trust).\n");
        y += &policy(
            "palisade-default-deny",
            ns,
            "  podSelector: {}\n  policyTypes: [Ingress, Egress]\n",
        );
        y += &policy(
            "palisade-allow-dns",
            ns,
            &format!(
                "  podSelector: {{}}\n  policyTypes: [Egress]\n  egress:\n  - to:\n    - namespaceSelector:\n        matchLabels:\n          kubernetes.io/metadata.name: {}\n      podSelector:\n        matchLabels:\n{dns_labels}    ports:\n    - {{protocol: UDP, port: 53}}\n    - {{protocol: TCP, port: 53}}\n",
                o.dns_namespace
            ),
        );
        y += &policy(
            "palisade-allow-same-namespace",
            ns,
            "  podSelector: {}\n  policyTypes: [Ingress, Egress]\n  ingress:\n  - from:\n    - podSelector: {}\n  egress:\n  - to:\n    - podSelector: {}\n",
        );
        if o.internet_egress {
            y += &policy(
                "palisade-allow-internet-egress",
                ns,
                "  podSelector: {}\n  policyTypes: [Egress]\n  egress:\n  - to:\n    - ipBlock:\n        cidr: 0.0.0.0/0\n        except: [10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16]\n    ports:\n    - {protocol: TCP, port: 443}\n",
            );
        }
        if let Some(mon) = o.monitoring.as_deref() {
            let here = metrics_ports(c, Some(ns));
            if mon != ns && !here.is_empty() {
                y += &policy(
                    "palisade-allow-metrics-scraping",
                    ns,
                    &format!(
                        "  podSelector: {{}}\n  policyTypes: [Ingress]\n  ingress:\n  - from:\n    - namespaceSelector:\n        matchLabels:\n          kubernetes.io/metadata.name: {mon}\n    ports:\n{}",
                        port_list(&here)
                    ),
                );
            } else if mon != ns {
                y += &format!("# No pod of {ns} names a metrics port: no scraping policy.\n");
            }
            let everywhere = metrics_ports(c, None);
            if mon == ns && !everywhere.is_empty() {
                y += &policy(
                    "palisade-allow-metrics-egress",
                    ns,
                    &format!(
                        "  podSelector: {{}}\n  policyTypes: [Egress]\n  egress:\n  - to:\n    - namespaceSelector: {{}}\n    ports:\n{}",
                        port_list(&everywhere)
                    ),
                );
            }
        }
        out.push((ns.to_string(), y));
    }
    out
}
