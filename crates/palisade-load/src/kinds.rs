//! Which objects Palisade reads, by kind and apiVersion, as the API server resolves them:
//! the current versions, versions Kubernetes removed but whose fields Palisade needs are
//! unchanged (read, with a warning), near-miss kinds and versions (errors with the likely
//! meaning), and everything else (other kinds, other vendors' kinds: not read, listed).

use crate::diagnostic::FieldError;
use crate::path::FieldPath;
use crate::strict::closest;

/// The kinds Palisade reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `v1` Namespace.
    Namespace,
    /// `v1` Node.
    Node,
    /// `v1` Pod.
    Pod,
    /// `networking.k8s.io/v1` NetworkPolicy.
    NetworkPolicy,
    /// `apps/v1` Deployment, read as one representative pod.
    Deployment,
    /// `apps/v1` StatefulSet, read as one representative pod.
    StatefulSet,
    /// `apps/v1` DaemonSet, read as one representative pod.
    DaemonSet,
    /// `apps/v1` ReplicaSet, read as one representative pod.
    ReplicaSet,
    /// `v1` ReplicationController, read as one representative pod.
    ReplicationController,
    /// `batch/v1` Job, read as one representative pod.
    Job,
    /// `batch/v1` CronJob, read as one representative pod.
    CronJob,
    /// `policy.networking.k8s.io/v1alpha2` ClusterNetworkPolicy.
    ClusterNetworkPolicy,
    /// `policy.networking.k8s.io/v1alpha1` AdminNetworkPolicy, read as an Admin-tier CNP.
    AdminNetworkPolicy,
    /// `policy.networking.k8s.io/v1alpha1` BaselineAdminNetworkPolicy, read as a
    /// Baseline-tier CNP.
    BaselineAdminNetworkPolicy,
}

struct Entry {
    kind: Kind,
    name: &'static str,
    /// The served apiVersion.
    api: &'static str,
    /// Removed apiVersions with the same fields for Palisade's purpose, and the release
    /// that removed them.
    removed: &'static [(&'static str, &'static str)],
}

const KINDS: &[Entry] = &[
    Entry {
        kind: Kind::Namespace,
        name: "Namespace",
        api: "v1",
        removed: &[],
    },
    Entry {
        kind: Kind::Node,
        name: "Node",
        api: "v1",
        removed: &[],
    },
    Entry {
        kind: Kind::Pod,
        name: "Pod",
        api: "v1",
        removed: &[],
    },
    Entry {
        kind: Kind::NetworkPolicy,
        name: "NetworkPolicy",
        api: "networking.k8s.io/v1",
        removed: &[("extensions/v1beta1", "1.16")],
    },
    Entry {
        kind: Kind::ClusterNetworkPolicy,
        name: "ClusterNetworkPolicy",
        api: "policy.networking.k8s.io/v1alpha2",
        removed: &[],
    },
    Entry {
        kind: Kind::AdminNetworkPolicy,
        name: "AdminNetworkPolicy",
        api: "policy.networking.k8s.io/v1alpha1",
        removed: &[],
    },
    Entry {
        kind: Kind::BaselineAdminNetworkPolicy,
        name: "BaselineAdminNetworkPolicy",
        api: "policy.networking.k8s.io/v1alpha1",
        removed: &[],
    },
    Entry {
        kind: Kind::Deployment,
        name: "Deployment",
        api: "apps/v1",
        removed: &[
            ("extensions/v1beta1", "1.16"),
            ("apps/v1beta1", "1.16"),
            ("apps/v1beta2", "1.16"),
        ],
    },
    Entry {
        kind: Kind::StatefulSet,
        name: "StatefulSet",
        api: "apps/v1",
        removed: &[("apps/v1beta1", "1.16"), ("apps/v1beta2", "1.16")],
    },
    Entry {
        kind: Kind::DaemonSet,
        name: "DaemonSet",
        api: "apps/v1",
        removed: &[("extensions/v1beta1", "1.16"), ("apps/v1beta2", "1.16")],
    },
    Entry {
        kind: Kind::ReplicaSet,
        name: "ReplicaSet",
        api: "apps/v1",
        removed: &[("extensions/v1beta1", "1.16"), ("apps/v1beta2", "1.16")],
    },
    Entry {
        kind: Kind::ReplicationController,
        name: "ReplicationController",
        api: "v1",
        removed: &[],
    },
    Entry {
        kind: Kind::Job,
        name: "Job",
        api: "batch/v1",
        removed: &[],
    },
    Entry {
        kind: Kind::CronJob,
        name: "CronJob",
        api: "batch/v1",
        removed: &[("batch/v1beta1", "1.25"), ("batch/v2alpha1", "1.21")],
    },
];

/// Built-in kinds Palisade does not read: never taken for misspellings of the ones it does.
const OTHER_BUILTIN: &[&str] = &[
    "Service",
    "Endpoints",
    "EndpointSlice",
    "ConfigMap",
    "Secret",
    "ServiceAccount",
    "Ingress",
    "IngressClass",
    "Role",
    "RoleBinding",
    "ClusterRole",
    "ClusterRoleBinding",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "StorageClass",
    "LimitRange",
    "ResourceQuota",
    "HorizontalPodAutoscaler",
    "PodDisruptionBudget",
    "CustomResourceDefinition",
    "Event",
    "Lease",
    "PriorityClass",
    "PodTemplate",
    "ControllerRevision",
    "ValidatingWebhookConfiguration",
    "MutatingWebhookConfiguration",
    "APIService",
    "CSIDriver",
    "CSINode",
    "VolumeAttachment",
    "RuntimeClass",
    "ServiceCIDR",
    "IPAddress",
    "ComponentStatus",
    "Binding",
    "PodSecurityPolicy",
];

/// How an object of a given kind and apiVersion is treated.
#[derive(Debug, PartialEq, Eq)]
pub enum Dispatch {
    /// Read it.
    Read {
        /// The kind it is read as.
        kind: Kind,
        /// The warning to give when the apiVersion was removed from Kubernetes.
        removed: Option<String>,
    },
    /// Not a kind Palisade reads: skipped and listed.
    Other,
    /// A mistake the API server would reject.
    Invalid(FieldError),
}

fn group_of(api: &str) -> &str {
    api.split_once('/').map_or("", |(g, _)| g)
}

/// API groups of Kubernetes itself: a kind or version there that does not exist is a mistake.
fn builtin_group(group: &str) -> bool {
    matches!(
        group,
        "" | "apps" | "batch" | "extensions" | "policy" | "autoscaling"
    ) || group.ends_with(".k8s.io")
}

/// Decides how to treat an object that says `kind` and `apiVersion` (both non-empty).
pub fn dispatch(kind: &str, api: &str) -> Dispatch {
    let group = group_of(api);
    let kind_path = || FieldPath::root().key("kind");
    let api_path = || FieldPath::root().key("apiVersion");
    if let Some(e) = KINDS.iter().find(|e| e.name == kind) {
        if api == e.api {
            return Dispatch::Read {
                kind: e.kind,
                removed: None,
            };
        }
        if let Some((old, release)) = e.removed.iter().find(|(old, _)| *old == api) {
            return Dispatch::Read {
                kind: e.kind,
                removed: Some(format!(
                    "{kind} {old} was removed in Kubernetes {release}; use {} (read as {} here)",
                    e.api, e.api
                )),
            };
        }
        if builtin_group(group) {
            return Dispatch::Invalid(FieldError::invalid(
                api_path(),
                api,
                &format!(
                    "no kind \"{kind}\" is served in version \"{api}\" (did you mean \"{}\"?)",
                    e.api
                ),
            ));
        }
        return Dispatch::Other;
    }
    if builtin_group(group) && !OTHER_BUILTIN.contains(&kind) {
        let near = KINDS
            .iter()
            .find(|e| e.name.eq_ignore_ascii_case(kind))
            .map(|e| e.name.to_string())
            .or_else(|| {
                (kind.len() >= 5)
                    .then(|| closest(kind, KINDS.iter().map(|e| e.name)))
                    .flatten()
            });
        if let Some(near) = near {
            return Dispatch::Invalid(FieldError::invalid(
                kind_path(),
                kind,
                &format!("no kind \"{kind}\" is registered (did you mean \"{near}\"?)"),
            ));
        }
    }
    Dispatch::Other
}

/// The error for an object without `apiVersion`, naming the usual one for its kind.
pub fn missing_api_version(kind: &str) -> FieldError {
    let hint = KINDS
        .iter()
        .find(|e| e.name.eq_ignore_ascii_case(kind))
        .map(|e| format!(" (did you mean \"apiVersion: {}\"?)", e.api))
        .unwrap_or_default();
    FieldError::required(
        FieldPath::root().key("apiVersion"),
        &format!("every object needs an apiVersion{hint}"),
    )
}

/// For a list kind (`PodList`), the kind of its items.
pub fn item_kind(list_kind: &str) -> Option<&str> {
    list_kind.strip_suffix("List").filter(|k| !k.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(kind: &str, api: &str) -> Option<Kind> {
        match dispatch(kind, api) {
            Dispatch::Read { kind, .. } => Some(kind),
            _ => None,
        }
    }

    #[test]
    fn current_and_removed_versions_are_read() {
        assert_eq!(
            read("NetworkPolicy", "networking.k8s.io/v1"),
            Some(Kind::NetworkPolicy)
        );
        assert_eq!(read("CronJob", "batch/v1beta1"), Some(Kind::CronJob));
        assert_eq!(read("Deployment", "extensions/v1beta1"), Some(Kind::Deployment));
        match dispatch("CronJob", "batch/v1beta1") {
            Dispatch::Read { removed: Some(w), .. } => {
                assert!(w.contains("removed in Kubernetes 1.25; use batch/v1"), "{w}")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn near_misses_are_errors_and_other_kinds_are_not() {
        let msg = |kind, api| match dispatch(kind, api) {
            Dispatch::Invalid(e) => e.message,
            other => panic!("{kind} {api}: {other:?}"),
        };
        assert!(msg("Networkpolicy", "networking.k8s.io/v1").contains("did you mean \"NetworkPolicy\""));
        assert!(msg("NetworkPolicys", "networking.k8s.io/v1").contains("\"NetworkPolicy\""));
        assert!(msg("NetworkPolicy", "v1").contains("\"networking.k8s.io/v1\""));
        assert!(msg("Deployment", "apps/v7").contains("\"apps/v1\""));
        // Other built-in kinds, and other vendors' kinds of the same name, are not read.
        for (kind, api) in [
            ("Service", "v1"),
            ("NetworkPolicy", "crd.projectcalico.org/v1"),
            ("CiliumNetworkPolicy", "cilium.io/v2"),
            ("Networkpolicy", "example.com/v1"),
        ] {
            assert_eq!(dispatch(kind, api), Dispatch::Other, "{kind} {api}");
        }
    }

    #[test]
    fn list_item_kinds() {
        assert_eq!(item_kind("PodList"), Some("Pod"));
        assert_eq!(item_kind("List"), None);
    }
}
