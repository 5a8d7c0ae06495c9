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

/// The namespaces with (selectable) pods that are not skipped.
fn scaffolded_namespaces<'c>(c: &'c Cluster, o: &ScaffoldOptions) -> BTreeSet<&'c str> {
    c.pods
        .iter()
        .filter(|p| !p.host_network)
        .map(|p| p.namespace.as_str())
        .filter(|n| !o.skip_namespaces.iter().any(|s| s == n))
        .collect()
}

/// The policies for every namespace with pods, as (namespace, YAML documents).
pub fn zero_trust(c: &Cluster, o: &ScaffoldOptions) -> Vec<(String, String)> {
    let namespaces = scaffolded_namespaces(c, o);
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

/// A ClusterNetworkPolicy (v1alpha2) as a YAML document, labelled as the scaffold's.
fn cluster_policy(name: &str, tier: &str, priority: u16, rest: Value) -> String {
    let mut spec = json!({"tier": tier, "priority": priority});
    if let (Value::Object(s), Value::Object(r)) = (&mut spec, rest) {
        s.extend(r);
    }
    format!(
        "---\n{}",
        palisade_load::emit::yaml(&json!({
            "apiVersion": "policy.networking.k8s.io/v1alpha2",
            "kind": "ClusterNetworkPolicy",
            "metadata": {"name": name, "labels": {"app.kubernetes.io/managed-by": "palisade-scaffold"}},
            "spec": spec,
        }))
    )
}

/// A namespace selector by name.
fn named(ns: &str) -> Value {
    json!({"matchLabels": {"kubernetes.io/metadata.name": ns}})
}

/// `destinationNamedPort` entries for `names`.
fn named_ports(names: &BTreeSet<String>) -> Value {
    names.iter().map(|n| json!({"destinationNamedPort": n})).collect()
}

/// The cluster-wide form of [`zero_trust`], as one file (`("cluster-wide", YAML)`):
/// - Admin `palisade-allow-dns` (priority 10): egress to cluster DNS on UDP and TCP 53,
///   which no NetworkPolicy can take away;
/// - with `monitoring`, Admin `palisade-allow-metrics-scraping` (20: ingress from the
///   monitoring namespace on the ports pods name `*metrics*`) and
///   `palisade-allow-metrics-egress` (21: the monitoring namespace's egress to them);
/// - Baseline `palisade-same-namespace-NS` (10) per namespace: traffic inside it;
/// - with `internet_egress`, Baseline `palisade-allow-internet-egress` (20): TCP 443 to
///   0.0.0.0/0 and ::/0 after a Deny of the private ranges;
/// - Baseline `palisade-default-deny` (1000): ingress from every pod and egress to every
///   pod and address denied.
///
/// Subjects are the namespaces with pods minus the skipped ones. Namespace owners' own
/// NetworkPolicies still decide for the pods they isolate (Baseline is below them); the
/// Admin rules hold regardless. Ingress from outside the cluster cannot be denied by a
/// ClusterNetworkPolicy (its ingress peers are pods only): the file says so.
pub fn zero_trust_cluster_wide(c: &Cluster, o: &ScaffoldOptions) -> Vec<(String, String)> {
    let namespaces = scaffolded_namespaces(c, o);
    if namespaces.is_empty() {
        return Vec::new();
    }
    let subject = json!({"namespaces": {"matchExpressions": [{
        "key": "kubernetes.io/metadata.name",
        "operator": "In",
        "values": namespaces.iter().collect::<Vec<_>>(),
    }]}});
    let dns_labels: Map<String, Value> = o
        .dns_labels
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    let mut y = String::from(
        "# Zero trust for the whole cluster (palisade scaffold zero-trust --cluster-wide).\n\
         # ClusterNetworkPolicy ingress peers are pods only: traffic from outside the cluster\n\
         # is not denied here; NetworkPolicies still decide for the pods they isolate.\n",
    );
    y += &cluster_policy(
        "palisade-allow-dns",
        "Admin",
        10,
        json!({
            "subject": subject,
            "egress": [{
                "name": "cluster-dns",
                "action": "Accept",
                "to": [{"pods": {
                    "namespaceSelector": named(&o.dns_namespace),
                    "podSelector": {"matchLabels": dns_labels},
                }}],
                "protocols": [
                    {"udp": {"destinationPort": {"number": 53}}},
                    {"tcp": {"destinationPort": {"number": 53}}},
                ],
            }],
        }),
    );
    if let Some(mon) = o.monitoring.as_deref() {
        let ports = metrics_ports(c, None);
        if ports.is_empty() {
            y += "# No pod names a metrics port: no scraping policies.\n";
        } else {
            y += &cluster_policy(
                "palisade-allow-metrics-scraping",
                "Admin",
                20,
                json!({
                    "subject": subject,
                    "ingress": [{"name": "scrapes", "action": "Accept", "from": [{"namespaces": named(mon)}], "protocols": named_ports(&ports)}],
                }),
            );
            y += &cluster_policy(
                "palisade-allow-metrics-egress",
                "Admin",
                21,
                json!({
                    "subject": {"namespaces": named(mon)},
                    "egress": [{"name": "scrapes", "action": "Accept", "to": [{"namespaces": {}}], "protocols": named_ports(&ports)}],
                }),
            );
        }
    }
    for ns in &namespaces {
        y += &cluster_policy(
            &format!("palisade-same-namespace-{ns}"),
            "Baseline",
            10,
            json!({
                "subject": {"namespaces": named(ns)},
                "ingress": [{"name": "same-namespace", "action": "Accept", "from": [{"namespaces": named(ns)}]}],
                "egress": [{"name": "same-namespace", "action": "Accept", "to": [{"namespaces": named(ns)}]}],
            }),
        );
    }
    if o.internet_egress {
        y += &cluster_policy(
            "palisade-allow-internet-egress",
            "Baseline",
            20,
            json!({
                "subject": subject,
                "egress": [
                    {"name": "private", "action": "Deny", "to": [{"networks": ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"]}]},
                    {"name": "https", "action": "Accept", "to": [{"networks": ["0.0.0.0/0", "::/0"]}], "protocols": [{"tcp": {"destinationPort": {"number": 443}}}]},
                ],
            }),
        );
    }
    y += &cluster_policy(
        "palisade-default-deny",
        "Baseline",
        1000,
        json!({
            "subject": subject,
            "ingress": [{"name": "all-pods", "action": "Deny", "from": [{"namespaces": {}}]}],
            "egress": [{"name": "everything", "action": "Deny", "to": [{"namespaces": {}}, {"networks": ["0.0.0.0/0", "::/0"]}]}],
        }),
    );
    vec![("cluster-wide".to_string(), y)]
}
