//! Objects cut down to what Palisade reads, applied to each object as it arrives from the
//! API (a page of a list, or a watch event), so what is kept in memory is a small part of
//! what the API sends: a real Pod carries managedFields, images, env, probes, volumes and
//! conditions, none of which decide reachability.

use k8s_openapi::api::core::v1::{Container, Namespace, Node, NodeStatus, Pod, PodSpec, PodStatus};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::crd;

/// The annotation `kubectl apply` writes: a full copy of the object, never needed here.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Cutting an object down to the fields Palisade reads.
pub trait Trim {
    /// Drops everything Palisade does not read.
    fn trim(&mut self);
}

/// Identity, labels and what reflectors need (uid, resourceVersion); annotations only
/// when `annotations` (policies and namespaces carry Palisade's own), never the
/// last-applied copy.
fn trim_meta(m: &mut ObjectMeta, annotations: bool) {
    m.managed_fields = None;
    m.finalizers = None;
    m.creation_timestamp = None;
    m.generation = None;
    m.self_link = None;
    if annotations {
        if let Some(a) = &mut m.annotations {
            a.remove(LAST_APPLIED);
        }
    } else {
        m.annotations = None;
    }
    // Only the controlling owner names a pod's workload.
    if let Some(owners) = &mut m.owner_references {
        owners.retain(|o| o.controller == Some(true));
    }
}

/// A container's name and ports (and, for init containers, whether it is a sidecar).
fn trim_container(c: &Container) -> Container {
    Container {
        name: c.name.clone(),
        ports: c.ports.clone(),
        restart_policy: c.restart_policy.clone(),
        ..Container::default()
    }
}

impl Trim for Pod {
    fn trim(&mut self) {
        trim_meta(&mut self.metadata, false);
        self.spec = self.spec.take().map(|s| PodSpec {
            containers: s.containers.iter().map(trim_container).collect(),
            // Only sidecars (restartPolicy Always) keep serving ports.
            init_containers: s.init_containers.map(|cs| {
                cs.iter()
                    .filter(|c| c.restart_policy.as_deref() == Some("Always"))
                    .map(trim_container)
                    .collect()
            }),
            host_network: s.host_network,
            node_name: s.node_name,
            ..PodSpec::default()
        });
        self.status = self.status.take().map(|s| PodStatus {
            phase: s.phase,
            pod_ip: s.pod_ip,
            pod_ips: s.pod_ips,
            host_ip: s.host_ip,
            host_ips: s.host_ips,
            ..PodStatus::default()
        });
    }
}

impl Trim for Namespace {
    fn trim(&mut self) {
        trim_meta(&mut self.metadata, true);
        self.spec = None;
        self.status = None;
    }
}

impl Trim for Node {
    fn trim(&mut self) {
        trim_meta(&mut self.metadata, false);
        self.spec = None;
        self.status = self.status.take().map(|s| NodeStatus {
            addresses: s.addresses,
            ..NodeStatus::default()
        });
    }
}

impl Trim for NetworkPolicy {
    fn trim(&mut self) {
        trim_meta(&mut self.metadata, true);
    }
}

impl Trim for crd::ClusterNetworkPolicy {
    fn trim(&mut self) {
        trim_meta(&mut self.0.metadata, true);
    }
}

impl Trim for crd::AdminNetworkPolicy {
    fn trim(&mut self) {
        trim_meta(&mut self.0.metadata, true);
    }
}

impl Trim for crd::BaselineAdminNetworkPolicy {
    fn trim(&mut self) {
        trim_meta(&mut self.0.metadata, true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pod as the API sends it (the shape of `kubectl get pod -o json`, written by hand).
    fn api_pod() -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {
                "name": "web-7d4b9c-x2x", "namespace": "shop", "uid": "u1", "resourceVersion": "42",
                "labels": {"app": "web", "pod-template-hash": "7d4b9c"},
                "annotations": {"checksum/config": "abc", LAST_APPLIED: "{}"},
                "managedFields": [{"manager": "kubelet", "operation": "Update"}],
                "ownerReferences": [
                    {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-7d4b9c", "uid": "r", "controller": true},
                    {"apiVersion": "v1", "kind": "ConfigMap", "name": "x", "uid": "c"}
                ]
            },
            "spec": {
                "nodeName": "node-1",
                "containers": [{"name": "web", "image": "nginx:1.27",
                    "env": [{"name": "A", "value": "b"}],
                    "ports": [{"name": "http", "containerPort": 8080}]}],
                "initContainers": [
                    {"name": "migrate", "image": "m"},
                    {"name": "proxy", "image": "p", "restartPolicy": "Always",
                     "ports": [{"name": "admin", "containerPort": 15000}]}
                ],
                "volumes": [{"name": "v", "emptyDir": {}}]
            },
            "status": {"phase": "Running", "podIP": "10.0.0.7", "podIPs": [{"ip": "10.0.0.7"}],
                       "hostIP": "192.168.1.1",
                       "conditions": [{"type": "Ready", "status": "True"}]}
        }))
        .unwrap()
    }

    #[test]
    fn pod_keeps_what_reachability_needs_and_nothing_else() {
        let mut p = api_pod();
        p.trim();
        let m = &p.metadata;
        assert_eq!(m.name.as_deref(), Some("web-7d4b9c-x2x"));
        assert_eq!(m.labels.as_ref().unwrap()["app"], "web");
        assert!(m.managed_fields.is_none() && m.annotations.is_none());
        let owners = m.owner_references.as_ref().unwrap();
        assert_eq!(owners.len(), 1);
        assert_eq!(owners[0].kind, "ReplicaSet");
        let spec = p.spec.as_ref().unwrap();
        assert_eq!(spec.node_name.as_deref(), Some("node-1"));
        assert!(spec.volumes.is_none());
        assert_eq!(spec.containers[0].image, None);
        assert!(spec.containers[0].env.is_none());
        assert_eq!(spec.containers[0].ports.as_ref().unwrap()[0].container_port, 8080);
        let init = spec.init_containers.as_ref().unwrap();
        assert_eq!(init.len(), 1, "only the sidecar stays");
        assert_eq!(init[0].name, "proxy");
        let status = p.status.as_ref().unwrap();
        assert_eq!(status.pod_ip.as_deref(), Some("10.0.0.7"));
        assert!(status.conditions.is_none());
    }

    #[test]
    fn trimmed_pod_converts_like_the_full_one() {
        let full = api_pod();
        let mut trimmed = full.clone();
        trimmed.trim();
        let opts = palisade_load::LoadOptions::default();
        let load = |p: Pod| {
            palisade_load::from_objects([palisade_load::Object::Pod(Box::new(p))], &opts)
                .ok()
                .unwrap()
                .cluster
                .pods
                .remove(0)
        };
        let (a, b) = (load(full), load(trimmed));
        assert_eq!(format!("{a:?}"), format!("{b:?}"));
        assert_eq!(b.ports.len(), 2, "the container's and the sidecar's named ports");
    }

    #[test]
    fn policy_keeps_its_own_annotations_but_not_the_applied_copy() {
        let mut np: NetworkPolicy = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p", "namespace": "n",
                "annotations": {"palisade.dev/mode": "shadow", LAST_APPLIED: "{…}"},
                "managedFields": [{"manager": "kubectl"}]},
            "spec": {"podSelector": {}}
        }))
        .unwrap();
        np.trim();
        let a = np.metadata.annotations.as_ref().unwrap();
        assert_eq!(a.len(), 1);
        assert_eq!(a["palisade.dev/mode"], "shadow");
        assert!(np.metadata.managed_fields.is_none());
        assert!(np.spec.is_some());
    }
}
