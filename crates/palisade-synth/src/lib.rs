//! Seeded synthetic clusters for benchmarks and tests: namespaces, pods and a realistic
//! mix of NetworkPolicies (default deny, same-namespace, cross-namespace by label, DNS
//! egress, ipBlock with except, named ports, endPort ranges, matchExpressions), emitted
//! as Kubernetes manifests so that loading is part of what gets measured.
//!
//! ```
//! use palisade_synth::{generate, Spec};
//!
//! let spec = Spec { namespaces: 4, pods: 40, policies: 12, seed: 7 };
//! let objects = generate(&spec);
//! let count = |kind: &str| objects.iter().filter(|o| o["kind"] == kind).count();
//! // 40 application pods, plus two DNS pods and Prometheus, as in real clusters.
//! assert_eq!(count("Pod"), 40 + 3);
//! assert_eq!(count("Namespace"), 4 + 2); // and kube-system, monitoring
//! assert_eq!(count("NetworkPolicy"), 12);
//! // The same spec gives the same cluster.
//! assert_eq!(objects, generate(&spec));
//! ```

#![warn(missing_docs)]

pub mod small;
mod tiers;
pub use tiers::cluster_policies;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

/// What to generate.
#[derive(Clone, Debug)]
pub struct Spec {
    /// Namespaces to spread the pods over.
    pub namespaces: usize,
    /// Pods in all.
    pub pods: usize,
    /// NetworkPolicies in all.
    pub policies: usize,
    /// The seed: the same spec gives the same cluster.
    pub seed: u64,
}

impl Spec {
    /// `pods` and `policies` in total, over a number of namespaces that grows with size.
    pub fn total(pods: usize, policies: usize, seed: u64) -> Spec {
        let namespaces = (pods / 100).clamp(2, 1000);
        Spec {
            namespaces,
            pods,
            policies,
            seed,
        }
    }
}

const TIERS: [&str; 4] = ["web", "api", "db", "cache"];
const ENVS: [&str; 3] = ["prod", "staging", "dev"];
const REPLICAS: usize = 4;

fn ns_name(i: usize) -> String {
    format!("ns-{i}")
}

/// Every object of the cluster, as manifests (Namespace, Pod, NetworkPolicy).
pub fn generate(spec: &Spec) -> Vec<Value> {
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
    let n = spec.namespaces.max(1);
    let mut out = Vec::with_capacity(spec.pods + spec.policies + n + 4);
    // System namespaces: DNS and monitoring, as in real clusters.
    out.push(namespace("kube-system", &[]));
    out.push(namespace("monitoring", &[("purpose", "monitoring")]));
    for i in 0..2 {
        out.push(pod(
            "kube-system",
            &format!("coredns-{i}"),
            &[("k8s-app", "kube-dns")],
            &[("dns", 53, "UDP"), ("dns-tcp", 53, "TCP")],
            ip(0, i),
        ));
    }
    out.push(pod(
        "monitoring",
        "prometheus-0",
        &[("app", "prometheus")],
        &[("web", 9090, "TCP")],
        ip(0, 10),
    ));
    for i in 0..n {
        let team = format!("t{}", i % 10);
        out.push(namespace(
            &ns_name(i),
            &[("team", team.as_str()), ("env", ENVS[i % 3])],
        ));
    }
    // Pods: apps of REPLICAS replicas each; a few StatefulSet-like pods with unique labels.
    let per_ns = spec.pods / n;
    let mut made = 0;
    for i in 0..n {
        let count = if i + 1 == n { spec.pods - made } else { per_ns };
        for j in 0..count {
            let app = j / REPLICAS;
            let tier = TIERS[app % TIERS.len()];
            let app_name = format!("app{app}");
            let name = format!("{app_name}-{}", j % REPLICAS);
            let mut labels = vec![
                ("app", app_name.clone()),
                ("tier", tier.to_string()),
                ("pod-template-hash", format!("h{app}")),
            ];
            if tier == "db" {
                labels.push(("statefulset.kubernetes.io/pod-name", name.clone()));
            }
            if rng.random_bool(0.3) {
                labels.push(("version", format!("v{}", rng.random_range(1..4))));
            }
            let labels: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let ports: Vec<(&str, u16, &str)> = match tier {
                "db" => vec![("postgres", 5432, "TCP"), ("metrics", 9187, "TCP")],
                "cache" => vec![("redis", 6379, "TCP"), ("metrics", 9121, "TCP")],
                _ => vec![("http", 8080, "TCP"), ("metrics", 9090, "TCP")],
            };
            out.push(pod(&ns_name(i), &name, &labels, &ports, ip(i + 1, j)));
            made += 1;
        }
    }
    // Policies: per namespace, cycling through realistic kinds.
    let apps_per_ns = per_ns.div_ceil(REPLICAS).max(1);
    for k in 0..spec.policies {
        let i = k % n;
        let ns = ns_name(i);
        let round = k / n;
        let a = rng.random_range(0..apps_per_ns);
        let b = rng.random_range(0..apps_per_ns);
        let other_team = format!("t{}", rng.random_range(0..10));
        let name = format!("np-{round}");
        let p = match round % 10 {
            0 => policy(
                &ns,
                &name,
                json!({}),
                json!({"policyTypes": ["Ingress", "Egress"]}),
            ),
            1 => policy(
                &ns,
                &name,
                json!({}),
                json!({
                    "policyTypes": ["Egress"],
                    "egress": [{"to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                                         "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
                                "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]}]
                }),
            ),
            2 => policy(
                &ns,
                &name,
                json!({}),
                json!({"ingress": [{"from": [{"podSelector": {}}]}]}),
            ),
            3 => policy(
                &ns,
                &name,
                app_sel(a),
                json!({
                    "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": format!("app{b}")}}}],
                                 "ports": [{"protocol": "TCP", "port": 8080}]}]
                }),
            ),
            4 => policy(
                &ns,
                &name,
                app_sel(a),
                json!({
                    "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"team": other_team}},
                                           "podSelector": {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["web", "api"]}]}}],
                                 "ports": [{"protocol": "TCP", "port": 8000, "endPort": 8100}]}]
                }),
            ),
            5 => policy(
                &ns,
                &name,
                app_sel(a),
                json!({
                    "policyTypes": ["Egress"],
                    "egress": [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]}}],
                                "ports": [{"protocol": "TCP", "port": 443}]}]
                }),
            ),
            6 => policy(
                &ns,
                &name,
                json!({}),
                json!({
                    "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"purpose": "monitoring"}},
                                           "podSelector": {"matchLabels": {"app": "prometheus"}}}],
                                 "ports": [{"port": "metrics"}]}]
                }),
            ),
            7 => policy(
                &ns,
                &name,
                app_sel(a),
                json!({
                    "policyTypes": ["Egress"],
                    "egress": [{"to": [{"namespaceSelector": {"matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["dev"]}]},
                                         "podSelector": {"matchLabels": {"tier": "db"}}}],
                                "ports": [{"port": "postgres"}]}]
                }),
            ),
            8 => policy(
                &ns,
                &name,
                json!({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["db", "cache"]}]}),
                json!({
                    "ingress": [{"from": [{"podSelector": {"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["db"]}]}},
                                          {"ipBlock": {"cidr": format!("10.{}.0.0/16", (i + 1) % 256), "except": [format!("10.{}.0.0/24", (i + 1) % 256)]}}],
                                 "ports": [{"protocol": "TCP", "port": 5432}, {"protocol": "TCP", "port": 6379}]}]
                }),
            ),
            _ => policy(
                &ns,
                &name,
                app_sel(a),
                json!({
                    "policyTypes": ["Ingress", "Egress"],
                    "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": format!("app{b}")}}}], "ports": [{"port": "http"}]}],
                    "egress": [{"to": [{"namespaceSelector": {}, "podSelector": {"matchLabels": {"app": format!("app{b}")}}}]}]
                }),
            ),
        };
        out.push(p);
    }
    out
}

/// Pod addresses in 10.0.0.0/8: 4096 slots per namespace index, unique while
/// namespaces < 4096 and pods per namespace < 4096.
fn ip(ns: usize, j: usize) -> String {
    let x = (ns % 4096) * 4096 + (j % 4096) + 1;
    format!("10.{}.{}.{}", (x >> 16) & 255, (x >> 8) & 255, x & 255)
}

fn labels(pairs: &[(&str, &str)]) -> Value {
    Value::Object(pairs.iter().map(|(k, v)| (k.to_string(), json!(v))).collect())
}

fn namespace(name: &str, l: &[(&str, &str)]) -> Value {
    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels(l)}})
}

fn pod(ns: &str, name: &str, l: &[(&str, &str)], ports: &[(&str, u16, &str)], ip: String) -> Value {
    let ports: Vec<Value> = ports
        .iter()
        .map(|(n, p, proto)| json!({"name": n, "containerPort": p, "protocol": proto}))
        .collect();
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "labels": labels(l)},
        "spec": {"containers": [{"name": "main", "image": "app:1", "ports": ports}]},
        "status": {"podIP": ip}
    })
}

fn app_sel(a: usize) -> Value {
    json!({"matchLabels": {"app": format!("app{a}")}})
}

fn policy(ns: &str, name: &str, selector: Value, mut spec: Value) -> Value {
    spec["podSelector"] = selector;
    json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": ns},
        "spec": spec
    })
}

/// Adds to a generated pod the bulk that `kubectl get pods -o yaml` carries and Palisade
/// does not read (uid, managedFields, owner, env, volumes, probes, resources,
/// tolerations, conditions, container statuses), so that loading benchmarks read what
/// people really feed in. Deterministic in `i`.
pub fn kubectl_like(pod: &mut Value, i: usize) {
    let uid = format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        i * 2654435761 % 0xffff_ffff,
        i % 0xffff,
        i % 0xfff,
        (i * 7) % 0xfff,
        i * 40503
    );
    let name = pod["metadata"]["name"].as_str().unwrap_or("p").to_string();
    let ip = pod["status"]["podIP"].clone();
    let t = "2026-11-30T12:00:00Z";
    let meta = &mut pod["metadata"];
    meta["uid"] = json!(uid);
    meta["resourceVersion"] = json!(format!("{}", 100_000 + i));
    meta["creationTimestamp"] = json!(t);
    meta["generateName"] = json!(format!("{name}-"));
    meta["annotations"] = json!({"kubectl.kubernetes.io/restartedAt": t, "prometheus.io/scrape": "true"});
    meta["labels"]["pod-template-hash"] = json!("7d4f9c8b6");
    meta["ownerReferences"] = json!([{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": format!("{name}-7d4f9c8b6"), "uid": uid, "controller": true, "blockOwnerDeletion": true}]);
    meta["managedFields"] = json!([{
        "apiVersion": "v1", "fieldsType": "FieldsV1", "manager": "kube-controller-manager", "operation": "Update", "time": t,
        "fieldsV1": {"f:metadata": {"f:generateName": {}, "f:labels": {".": {}, "f:app": {}}, "f:ownerReferences": {".": {}}},
                     "f:spec": {"f:containers": {"k:{\"name\":\"main\"}": {".": {}, "f:env": {}, "f:image": {}, "f:ports": {}}}}}
    }, {
        "apiVersion": "v1", "fieldsType": "FieldsV1", "manager": "kubelet", "operation": "Update", "subresource": "status", "time": t,
        "fieldsV1": {"f:status": {"f:conditions": {}, "f:containerStatuses": {}, "f:podIP": {}, "f:podIPs": {}, "f:startTime": {}}}
    }]);
    let c = &mut pod["spec"]["containers"][0];
    c["env"] = json!([
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}},
        {"name": "LOG_LEVEL", "value": "info"},
        {"name": "DATABASE_URL", "valueFrom": {"secretKeyRef": {"name": "db", "key": "url"}}}
    ]);
    c["imagePullPolicy"] = json!("IfNotPresent");
    c["resources"] =
        json!({"limits": {"cpu": "500m", "memory": "256Mi"}, "requests": {"cpu": "100m", "memory": "128Mi"}});
    c["readinessProbe"] = json!({"httpGet": {"path": "/healthz", "port": 8080, "scheme": "HTTP"}, "periodSeconds": 10, "timeoutSeconds": 1, "successThreshold": 1, "failureThreshold": 3});
    c["volumeMounts"] = json!([{"name": "config", "mountPath": "/etc/app"}, {"name": "kube-api-access", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount", "readOnly": true}]);
    c["terminationMessagePath"] = json!("/dev/termination-log");
    c["terminationMessagePolicy"] = json!("File");
    let spec = &mut pod["spec"];
    spec["volumes"] = json!([
        {"name": "config", "configMap": {"name": "app-config", "defaultMode": 420}},
        {"name": "kube-api-access", "projected": {"defaultMode": 420, "sources": [{"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}}, {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}}]}}
    ]);
    spec["nodeName"] = json!(format!("node-{}", i % 50));
    spec["serviceAccountName"] = json!("default");
    spec["restartPolicy"] = json!("Always");
    spec["dnsPolicy"] = json!("ClusterFirst");
    spec["schedulerName"] = json!("default-scheduler");
    spec["terminationGracePeriodSeconds"] = json!(30);
    spec["tolerations"] = json!([{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}]);
    pod["status"] = json!({
        "phase": "Running", "hostIP": format!("192.168.0.{}", i % 50 + 1), "podIP": ip, "podIPs": [{"ip": ip}],
        "qosClass": "Burstable", "startTime": t,
        "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": t}, {"type": "PodScheduled", "status": "True", "lastTransitionTime": t}],
        "containerStatuses": [{"name": "main", "ready": true, "restartCount": 0, "started": true, "image": "app:1", "imageID": "docker.io/library/app@sha256:0123456789abcdef", "containerID": format!("containerd://{uid}"), "state": {"running": {"startedAt": t}}}]
    });
}

/// Nodes of the kubectl-like form (pods name `node-{i % NODES}`).
const NODES: usize = 50;

/// Node `node-k` as `kubectl get node -o yaml` shows it (addresses as each pod's `hostIP`).
fn node_object(k: usize) -> Value {
    json!({"apiVersion": "v1", "kind": "Node",
        "metadata": {"name": format!("node-{k}"), "labels": {"kubernetes.io/hostname": format!("node-{k}"), "kubernetes.io/os": "linux"}},
        "spec": {"podCIDR": format!("10.{}.0.0/24", 100 + k)},
        "status": {"addresses": [{"type": "InternalIP", "address": format!("192.168.0.{}", k + 1)}, {"type": "Hostname", "address": format!("node-{k}")}],
                   "conditions": [{"type": "Ready", "status": "True"}]}})
}

/// A kube-proxy-like hostNetwork pod on node `node-k`.
fn host_network_pod(k: usize) -> Value {
    let ip = format!("192.168.0.{}", k + 1);
    json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": format!("kube-proxy-node-{k}"), "namespace": "kube-system", "labels": {"k8s-app": "kube-proxy"}},
        "spec": {"nodeName": format!("node-{k}"), "hostNetwork": true, "containers": [{"name": "kube-proxy", "image": "kube-proxy:1"}]},
        "status": {"phase": "Running", "hostIP": ip, "podIP": ip, "podIPs": [{"ip": ip}]}})
}

/// The cluster as YAML the way `kubectl get -o yaml` dumps it: namespaces, nodes and pods as
/// one `kind: List` document each (pods made [`kubectl_like`], plus a hostNetwork pod per
/// node), then one document per policy.
pub fn to_kubectl_yaml(objects: Vec<Value>, emit: impl Fn(&Value) -> String) -> String {
    let (mut namespaces, mut pods, mut policies) = (Vec::new(), Vec::new(), Vec::new());
    for mut o in objects {
        match o["kind"].as_str() {
            Some("Namespace") => namespaces.push(o),
            Some("Pod") => {
                kubectl_like(&mut o, pods.len());
                pods.push(o)
            }
            _ => policies.push(o),
        }
    }
    // What a dump of a real cluster also holds: its nodes, and a hostNetwork pod on each.
    let nodes: Vec<Value> = (0..NODES).map(node_object).collect();
    pods.extend((0..NODES).map(host_network_pod));
    let mut out = String::new();
    for items in [namespaces, nodes, pods] {
        out.push_str("---\n");
        out.push_str(&emit(
            &json!({"apiVersion": "v1", "kind": "List", "items": items}),
        ));
    }
    for p in policies {
        out.push_str("---\n");
        out.push_str(&emit(&p));
    }
    out
}

/// The whole cluster as one JSON `List`.
pub fn to_json_list(objects: Vec<Value>) -> String {
    serde_json::to_string(&json!({"apiVersion": "v1", "kind": "List", "items": objects})).expect("json")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_determinism() {
        let spec = Spec::total(1000, 200, 7);
        let a = generate(&spec);
        let b = generate(&spec);
        assert_eq!(a, b);
        let count = |k: &str| a.iter().filter(|o| o["kind"] == k).count();
        assert_eq!(count("Pod"), 1000 + 3);
        assert_eq!(count("NetworkPolicy"), 200);
        assert_eq!(count("Namespace"), spec.namespaces + 2);
        let c = generate(&Spec::total(1000, 200, 8));
        assert_ne!(a, c, "the seed matters");
        let ips: std::collections::HashSet<&str> = a
            .iter()
            .filter_map(|o| o.pointer("/status/podIP").and_then(|v| v.as_str()))
            .collect();
        assert_eq!(ips.len(), 1003, "pod addresses are unique");
    }
}
