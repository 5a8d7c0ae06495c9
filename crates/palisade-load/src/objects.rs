//! Typed Kubernetes objects (k8s-openapi) into model objects: names, labels, ports and
//! addresses checked and converted, the problems collected with their field paths. Pure,
//! so that the loader converts many objects in parallel and adds them in input order.

use k8s_openapi::api::core::v1::{
    Namespace as K8sNamespace, Node as K8sNode, Pod as K8sPod, PodTemplateSpec,
};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use palisade_core::{Namespace, Node, ObjectRef, Pod, Policy, Workload};

use crate::convert::{self, Sink};
use crate::diagnostic::FieldError;
use crate::load::{LoadOptions, NAMESPACE_NAME_LABEL};
use crate::path::FieldPath;

/// An object of a kind Palisade reads, deserialized into its Kubernetes type.
pub(crate) enum Typed {
    Namespace(Box<K8sNamespace>),
    Node(Box<K8sNode>),
    Pod(Box<K8sPod>),
    Policy(Box<NetworkPolicy>),
    ClusterPolicy(Box<crate::cnp::ClusterNetworkPolicy>),
    AdminPolicy(Box<crate::anp::AdminNetworkPolicy>, palisade_core::Tier),
    Workload {
        kind: &'static str,
        meta: Box<ObjectMeta>,
        template: Option<Box<PodTemplateSpec>>,
        template_path: &'static [&'static str],
    },
    Skipped(String),
}

/// An object converted into the model, waiting to be added in input order.
pub(crate) enum Made {
    Namespace(Namespace),
    Node(Node),
    Pod(Pod),
    Workload(Pod),
    /// A NetworkPolicy, and whether it is in shadow mode.
    Policy(Policy, bool),
    /// A ClusterNetworkPolicy (or v1alpha1 admin policy), and whether it is in shadow mode.
    ClusterPolicy(palisade_core::ClusterPolicy, bool),
    Skipped(String),
}

/// A converted object with its identity (for messages and origins) and the problems found.
pub(crate) struct Converted {
    pub made: Made,
    /// `None` only for skipped kinds.
    pub object: Option<ObjectRef>,
    pub errs: Sink,
    pub remarks: Sink,
}

impl Converted {
    pub(crate) fn of(t: Typed, opts: &LoadOptions) -> Converted {
        let mut errs = Sink::new();
        let mut remarks = Sink::new();
        let (made, object) = match t {
            Typed::Namespace(ns) => {
                let ns = convert_namespace(*ns, &mut errs);
                let object = ObjectRef::new("Namespace", None, &ns.name);
                (Made::Namespace(ns), Some(object))
            }
            Typed::Node(node) => {
                let node = convert_node(*node, &mut errs);
                let object = ObjectRef::new("Node", None, &node.name);
                (Made::Node(node), Some(object))
            }
            Typed::Pod(p) => {
                let pod = convert_pod(*p, &mut errs, opts);
                let object = ObjectRef::new("Pod", Some(&pod.namespace), &pod.name);
                (Made::Pod(pod), Some(object))
            }
            Typed::ClusterPolicy(cnp) => {
                let shadow = staged(&cnp.metadata, &mut errs);
                let cnp = crate::cnp::convert(&cnp, &mut errs);
                let object = ObjectRef::new("ClusterNetworkPolicy", None, &cnp.name);
                (Made::ClusterPolicy(cnp, shadow), Some(object))
            }
            Typed::AdminPolicy(anp, tier) => {
                let shadow = staged(&anp.metadata, &mut errs);
                let cnp = crate::anp::convert(&anp, tier, &mut errs);
                let kind = match tier {
                    palisade_core::Tier::Admin => "AdminNetworkPolicy",
                    palisade_core::Tier::Baseline => "BaselineAdminNetworkPolicy",
                };
                let object = ObjectRef::new(kind, None, &cnp.name);
                (Made::ClusterPolicy(cnp, shadow), Some(object))
            }
            Typed::Policy(np) => {
                let (policy, shadow) = convert_policy(*np, &mut errs, &mut remarks, opts);
                let object = policy.object_ref();
                (Made::Policy(policy, shadow), Some(object))
            }
            Typed::Workload {
                kind,
                meta,
                template,
                template_path,
            } => {
                let pod = convert_workload(kind, &meta, template.as_deref(), template_path, &mut errs, opts);
                let object = ObjectRef::new(kind, Some(&pod.namespace), &pod.name);
                (Made::Workload(pod), Some(object))
            }
            Typed::Skipped(what) => (Made::Skipped(what), None),
        };
        Converted {
            made,
            object,
            errs,
            remarks,
        }
    }
}

fn convert_namespace(ns: K8sNamespace, errs: &mut Sink) -> Namespace {
    let mp = FieldPath::root().key("metadata");
    let name = match ns.metadata.name.as_deref() {
        None | Some("") => {
            errs.push(FieldError::required(
                mp.key("name"),
                "name or generateName is required",
            ));
            String::new()
        }
        Some(n) => {
            if let Some(e) = crate::names::dns1123_label(n) {
                errs.push(FieldError::invalid(mp.key("name"), n, &e));
            }
            n.to_string()
        }
    };
    let mut labels = convert::labels(ns.metadata.labels.as_ref(), &mp.key("labels"), errs);
    labels.insert(NAMESPACE_NAME_LABEL.into(), name.clone());
    Namespace {
        name,
        labels,
        annotations: ns.metadata.annotations.unwrap_or_default(),
    }
}

fn convert_node(node: K8sNode, errs: &mut Sink) -> Node {
    let mp = FieldPath::root().key("metadata");
    // A Node's name is a DNS subdomain, as other objects' names.
    let name = convert::object_name(&node.metadata, &mp, errs);
    let labels = convert::labels(node.metadata.labels.as_ref(), &mp.key("labels"), errs);
    let addresses = convert::node_addresses(node.status.as_ref(), errs);
    Node {
        name,
        labels,
        addresses,
    }
}

fn convert_pod(pod: K8sPod, errs: &mut Sink, opts: &LoadOptions) -> Pod {
    let mp = FieldPath::root().key("metadata");
    let name = convert::object_name(&pod.metadata, &mp, errs);
    let namespace = convert::object_namespace(&pod.metadata, &opts.default_namespace, &mp, errs);
    let labels = convert::labels(pod.metadata.labels.as_ref(), &mp.key("labels"), errs);
    let parts = convert::pod_spec(pod.spec.as_ref(), &FieldPath::root().key("spec"), errs);
    let ips = convert::pod_ips(pod.status.as_ref(), errs);
    let workload = owner_workload(&pod.metadata, &labels);
    Pod {
        source: Some(ObjectRef::new("Pod", Some(&namespace), &name)),
        namespace,
        name,
        labels,
        ips,
        host_network: parts.host_network,
        ports: parts.ports,
        node: parts.node,
        workload,
    }
}

/// A workload stands for its pods: one pod with its template's labels and ports, no
/// address of its own (the pod CIDR gives it one).
fn convert_workload(
    kind: &str,
    meta: &ObjectMeta,
    template: Option<&PodTemplateSpec>,
    template_path: &[&str],
    errs: &mut Sink,
    opts: &LoadOptions,
) -> Pod {
    let mp = FieldPath::root().key("metadata");
    let name = convert::object_name(meta, &mp, errs);
    let namespace = convert::object_namespace(meta, &opts.default_namespace, &mp, errs);
    convert::labels(meta.labels.as_ref(), &mp.key("labels"), errs);
    let tp = template_path.iter().fold(FieldPath::root(), |p, k| p.key(k));
    let labels = convert::labels(
        template
            .and_then(|t| t.metadata.as_ref())
            .and_then(|m| m.labels.as_ref()),
        &tp.key("metadata").key("labels"),
        errs,
    );
    let parts = convert::pod_spec(template.and_then(|t| t.spec.as_ref()), &tp.key("spec"), errs);
    Pod {
        source: Some(ObjectRef::new(kind, Some(&namespace), &name)),
        namespace,
        workload: Some(Workload::new(kind, &name)),
        name,
        labels,
        ips: Vec::new(),
        host_network: parts.host_network,
        ports: parts.ports,
        node: parts.node,
    }
}

/// A NetworkPolicy, and whether it is staged (`palisade.dev/mode: shadow`) rather than
/// enforced.
fn convert_policy(
    np: NetworkPolicy,
    errs: &mut Sink,
    remarks: &mut Sink,
    opts: &LoadOptions,
) -> (Policy, bool) {
    let mp = FieldPath::root().key("metadata");
    let name = convert::object_name(&np.metadata, &mp, errs);
    let namespace = convert::object_namespace(&np.metadata, &opts.default_namespace, &mp, errs);
    convert::labels(np.metadata.labels.as_ref(), &mp.key("labels"), errs);
    let shadow = staged(&np.metadata, errs);
    let policy = convert::network_policy(namespace, name, np.spec.as_ref(), errs);
    remarks.extend(convert::cidr_remarks(np.spec.as_ref()));
    (policy, shadow)
}

/// Whether a policy is staged: `palisade.dev/mode: shadow` (not enforced, only logged
/// where its verdict would differ) rather than `enforce` (the default). Any other value is
/// an error at the annotation.
fn staged(meta: &ObjectMeta, errs: &mut Sink) -> bool {
    let mode = meta
        .annotations
        .as_ref()
        .and_then(|a| a.get(palisade_core::MODE_ANNOTATION));
    match mode.map(String::as_str) {
        None | Some("enforce") => false,
        Some("shadow") => true,
        Some(other) => {
            errs.push(FieldError::invalid(
                FieldPath::root()
                    .key("metadata")
                    .key("annotations")
                    .key(palisade_core::MODE_ANNOTATION),
                other,
                "expected `shadow` (staged: not enforced) or `enforce`",
            ));
            false
        }
    }
}

/// The workload a pod belongs to, from its owner (a ReplicaSet's pods belong to its Deployment).
fn owner_workload(meta: &ObjectMeta, labels: &palisade_core::Labels) -> Option<Workload> {
    let owner = meta
        .owner_references
        .as_ref()?
        .iter()
        .find(|o| o.controller == Some(true))?;
    if owner.kind == "ReplicaSet" {
        if let Some(hash) = labels.get("pod-template-hash") {
            if let Some(dep) = owner.name.strip_suffix(&format!("-{hash}")) {
                return Some(Workload::new("Deployment", dep));
            }
        }
    }
    Some(Workload::new(&owner.kind, &owner.name))
}
