//! ClusterNetworkPolicies for the synthetic clusters of [`crate::generate`]: guardrails of
//! the kinds cluster admins write (DNS and monitoring Accepts, Denys of sensitive ports
//! between environments, Passes to namespace owners, metadata-service Denys, Baseline
//! default denies and same-namespace Accepts), cycling over the generator's teams,
//! environments and namespaces, with priorities spread over 0–999.

use serde_json::{json, Value};

use crate::{ns_name, Spec, ENVS};

fn cnp(name: String, tier: &str, priority: usize, rest: Value) -> Value {
    let mut spec = json!({"tier": tier, "priority": priority % 1000});
    if let (Value::Object(s), Value::Object(r)) = (&mut spec, rest) {
        s.extend(r);
    }
    json!({
        "apiVersion": "policy.networking.k8s.io/v1alpha2",
        "kind": "ClusterNetworkPolicy",
        "metadata": {"name": name},
        "spec": spec,
    })
}

fn team(k: usize) -> Value {
    json!({"matchLabels": {"team": format!("t{}", k % 10)}})
}

fn env(k: usize) -> Value {
    json!({"matchLabels": {"env": ENVS[k % ENVS.len()]}})
}

/// `count` ClusterNetworkPolicies over the namespaces of `spec`.
pub fn cluster_policies(spec: &Spec, count: usize) -> Vec<Value> {
    let n = spec.namespaces.max(1);
    (0..count)
        .map(|k| {
            let name = format!("cnp-{k}");
            let ns = json!({"matchLabels": {"kubernetes.io/metadata.name": ns_name(k % n)}});
            let priority = k * 7;
            match k % 10 {
                0 => cnp(name, "Admin", priority, json!({
                    "subject": {"namespaces": team(k)},
                    "egress": [{"action": "Accept", "to": [{"pods": {
                        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                        "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}}],
                        "protocols": [{"udp": {"destinationPort": {"number": 53}}}, {"tcp": {"destinationPort": {"number": 53}}}]}],
                })),
                1 => cnp(name, "Admin", priority, json!({
                    "subject": {"pods": {"namespaceSelector": env(k), "podSelector": {"matchLabels": {"tier": "db"}}}},
                    "ingress": [{"action": "Deny", "from": [{"namespaces": env(k + 1)}],
                                 "protocols": [{"tcp": {"destinationPort": {"number": 5432}}}]}],
                })),
                2 => cnp(name, "Admin", priority, json!({
                    "subject": {"namespaces": ns},
                    "ingress": [{"action": "Pass", "from": [{"namespaces": team(k)}]},
                                {"action": "Deny", "from": [{"namespaces": env(k)}],
                                 "protocols": [{"tcp": {"destinationPort": {"range": {"start": 8000, "end": 8100}}}}]}],
                })),
                3 => cnp(name, "Admin", priority, json!({
                    "subject": {"namespaces": env(k)},
                    "egress": [{"action": "Deny", "to": [{"networks": ["169.254.169.254/32"]}]}],
                })),
                4 => cnp(name, "Admin", priority, json!({
                    "subject": {"namespaces": team(k)},
                    "ingress": [{"action": "Accept", "from": [{"namespaces": {"matchLabels": {"purpose": "monitoring"}}}],
                                 "protocols": [{"destinationNamedPort": "metrics"}]}],
                })),
                5 => cnp(name, "Baseline", priority, json!({
                    "subject": {"namespaces": team(k)},
                    "ingress": [{"action": "Deny", "from": [{"namespaces": {}}]}],
                })),
                6 => cnp(name, "Baseline", priority, json!({
                    "subject": {"namespaces": ns.clone()},
                    "ingress": [{"action": "Accept", "from": [{"namespaces": ns.clone()}]}],
                    "egress": [{"action": "Accept", "to": [{"namespaces": ns}]}],
                })),
                7 => cnp(name, "Baseline", priority, json!({
                    "subject": {"namespaces": env(k)},
                    "egress": [{"action": "Deny", "to": [{"networks": ["0.0.0.0/0"]}],
                                "protocols": [{"tcp": {"destinationPort": {"number": 25}}}]}],
                })),
                8 => cnp(name, "Admin", priority, json!({
                    "subject": {"pods": {"namespaceSelector": team(k), "podSelector": {"matchLabels": {"tier": "web"}}}},
                    "egress": [{"action": "Deny", "to": [{"nodes": {"matchLabels": {"node-role.kubernetes.io/control-plane": ""}}}]}],
                })),
                _ => cnp(name, "Admin", priority, json!({
                    "subject": {"pods": {"namespaceSelector": {}, "podSelector": {"matchExpressions": [
                        {"key": "tier", "operator": "In", "values": ["web", "api"]}]}}},
                    "ingress": [{"action": "Accept", "from": [{"namespaces": team(k)}],
                                 "protocols": [{"tcp": {"destinationPort": {"range": {"start": 8000, "end": 8100}}}}]}],
                })),
            }
        })
        .collect()
}
