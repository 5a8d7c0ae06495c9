//! Reading sources (files, directories, stdin) into a validated [`Cluster`].

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{
    Namespace as K8sNamespace, Pod as K8sPod, PodTemplateSpec, ReplicationController,
};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use palisade_core::{Cidr, Cluster, External, Namespace, Pod, Policy};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::convert::{self, Sink};
use crate::diagnostic::{Diagnostic, FieldError};
use crate::path::FieldPath;
use crate::yaml::{self, Pos};

/// The label the API server puts on every namespace.
pub const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

/// Where manifests come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    Path(PathBuf),
    /// Text already read (stdin is read by the caller as `-`), with a display name.
    Text {
        name: String,
        text: String,
    },
}

#[derive(Clone, Debug)]
pub struct LoadOptions {
    /// Namespace of objects that name none (`kubectl apply -n`).
    pub default_namespace: String,
    /// Where pods without `status.podIP` get addresses (one per family).
    pub pod_cidrs: Vec<Cidr>,
    pub externals: Vec<External>,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            default_namespace: "default".into(),
            pod_cidrs: vec!["10.244.0.0/16".parse().expect("valid default CIDR")],
            externals: Vec::new(),
        }
    }
}

/// The result of a successful load.
#[derive(Clone, Debug, Default)]
pub struct Loaded {
    pub cluster: Cluster,
    /// Objects of other kinds, by `Kind (apiVersion)`.
    pub skipped: BTreeMap<String, usize>,
    pub files: usize,
    pub documents: usize,
    /// Non-fatal remarks (duplicate objects: the last one wins).
    pub warnings: Vec<String>,
    /// Workload controllers turned into representative pods.
    pub workloads: usize,
}

#[derive(Debug, thiserror::Error)]
#[error("{} problem(s) in the input", .0.len())]
pub struct LoadError(pub Vec<Diagnostic>);

struct File {
    name: String,
    text: String,
}

/// A problem not yet placed at a line: document index and field path.
struct Pending {
    file: usize,
    doc: usize,
    path: FieldPath,
    object: Option<String>,
    message: String,
}

#[derive(Default)]
struct State {
    namespaces: BTreeMap<String, Namespace>,
    pods: BTreeMap<(String, String), Pod>,
    policies: BTreeMap<(String, String), Policy>,
    referenced_ns: BTreeSet<String>,
    skipped: BTreeMap<String, usize>,
    warnings: Vec<String>,
    pending: Vec<Pending>,
    documents: usize,
    workloads: usize,
}

/// Loads every source. All problems are reported together; nothing is returned
/// unless the whole input is valid.
pub fn load(sources: &[Source], opts: &LoadOptions) -> Result<Loaded, LoadError> {
    let mut files: Vec<File> = Vec::new();
    let mut diags: Vec<Diagnostic> = Vec::new();
    for s in sources {
        match s {
            Source::Text { name, text } => files.push(File {
                name: name.clone(),
                text: text.clone(),
            }),
            Source::Path(p) => collect(p, true, &mut files, &mut diags),
        }
    }
    let mut st = State::default();
    for (fi, f) in files.iter().enumerate() {
        let docs = match parse_file(f) {
            Ok(d) => d,
            Err(e) => {
                diags.push(Diagnostic {
                    file: f.name.clone(),
                    pos: Some(e.pos),
                    path: FieldPath::root(),
                    object: None,
                    message: format!("YAML syntax error: {}", e.message),
                });
                continue;
            }
        };
        for d in docs {
            st.document(fi, d.index, &FieldPath::root(), &d.value, opts);
        }
    }
    // Place field problems at their line and column.
    for p in std::mem::take(&mut st.pending) {
        let f = &files[p.file];
        diags.push(Diagnostic {
            file: f.name.clone(),
            pos: yaml::locate(&f.text, p.doc, &p.path),
            path: p.path,
            object: p.object,
            message: p.message,
        });
    }
    if !diags.is_empty() {
        return Err(LoadError(diags));
    }
    Ok(st.finish(files.len(), opts))
}

fn collect(p: &Path, explicit: bool, files: &mut Vec<File>, diags: &mut Vec<Diagnostic>) {
    let io_error = |e: std::io::Error| Diagnostic {
        file: p.display().to_string(),
        pos: None,
        path: FieldPath::root(),
        object: None,
        message: e.to_string(),
    };
    let meta = match std::fs::metadata(p) {
        Ok(m) => m,
        Err(e) => return diags.push(io_error(e)),
    };
    if meta.is_dir() {
        let mut entries: Vec<PathBuf> = match std::fs::read_dir(p) {
            Ok(rd) => rd.filter_map(|e| e.ok().map(|e| e.path())).collect(),
            Err(e) => return diags.push(io_error(e)),
        };
        entries.sort();
        for e in entries {
            collect(&e, false, files, diags);
        }
        return;
    }
    let manifest = matches!(
        p.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml" | "json")
    );
    if !explicit && !manifest {
        return;
    }
    match std::fs::read(p) {
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(text) => files.push(File {
                name: p.display().to_string(),
                text,
            }),
            Err(_) => diags.push(Diagnostic {
                file: p.display().to_string(),
                pos: None,
                path: FieldPath::root(),
                object: None,
                message: "not UTF-8 text".into(),
            }),
        },
        Err(e) => diags.push(io_error(e)),
    }
}

/// JSON goes through serde_json (fast); anything else, or JSON that fails there,
/// through the YAML reader, which also reports positions.
fn parse_file(f: &File) -> Result<Vec<yaml::Document>, yaml::SyntaxError> {
    let t = f.text.trim_start();
    if t.starts_with('{') || t.starts_with('[') {
        let mut docs = Vec::new();
        let stream = serde_json::Deserializer::from_str(&f.text).into_iter::<Value>();
        let mut ok = true;
        for (i, v) in stream.enumerate() {
            match v {
                Ok(value) => docs.push(yaml::Document {
                    index: i,
                    start: Pos { line: 1, column: 1 },
                    value,
                }),
                Err(_) => {
                    ok = false;
                    break;
                }
            }
        }
        if ok && docs.len() == 1 {
            return Ok(docs);
        }
    }
    let (docs, err) = yaml::parse_documents(&f.text);
    match err {
        Some(e) => Err(e),
        None => Ok(docs),
    }
}

fn deserialize<T: DeserializeOwned>(v: &Value) -> Result<T, FieldError> {
    serde_path_to_error::deserialize::<_, T>(v).map_err(|e| FieldError {
        path: FieldPath::from_serde(e.path()),
        message: e.inner().to_string(),
    })
}

impl State {
    fn problem(&mut self, file: usize, doc: usize, base: &FieldPath, object: Option<String>, e: FieldError) {
        self.pending.push(Pending {
            file,
            doc,
            path: base.join(&e.path),
            object,
            message: e.message,
        });
    }

    fn problems(&mut self, file: usize, doc: usize, base: &FieldPath, object: &str, errs: Sink) {
        for e in errs {
            self.problem(file, doc, base, Some(object.to_string()), e);
        }
    }

    fn document(&mut self, file: usize, doc: usize, base: &FieldPath, v: &Value, opts: &LoadOptions) {
        if v.is_null() {
            return;
        }
        self.documents += 1;
        let Some(obj) = v.as_object() else {
            return self.problem(
                file,
                doc,
                base,
                None,
                FieldError {
                    path: FieldPath::root(),
                    message: "expected a Kubernetes object (a mapping with apiVersion and kind)".into(),
                },
            );
        };
        let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
        let api = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
        if kind.is_empty() {
            return self.problem(
                file,
                doc,
                base,
                None,
                FieldError::required(FieldPath::root().key("kind"), "Object 'Kind' is missing"),
            );
        }
        if kind == "List" || (kind.ends_with("List") && obj.contains_key("items")) {
            for (i, item) in obj
                .get("items")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .enumerate()
            {
                self.document(file, doc, &base.key("items").index(i), item, opts);
            }
            self.documents -= 1;
            return;
        }
        let group = api.split_once('/').map(|(g, _)| g).unwrap_or("");
        match (group, kind) {
            ("", "Namespace") => {
                self.typed::<K8sNamespace>(file, doc, base, v, opts, |st, ns, errs, _| st.namespace(ns, errs))
            }
            ("", "Pod") => {
                self.typed::<K8sPod>(file, doc, base, v, opts, |st, p, errs, o| st.pod(p, errs, o))
            }
            ("networking.k8s.io", "NetworkPolicy") => {
                self.typed::<NetworkPolicy>(file, doc, base, v, opts, |st, np, errs, o| {
                    st.policy(np, errs, o)
                })
            }
            ("apps", "Deployment") => self.typed::<Deployment>(file, doc, base, v, opts, |st, w, errs, o| {
                let t = w.spec.as_ref().map(|s| &s.template);
                st.workload("Deployment", &w.metadata, t, "spec.template", errs, o)
            }),
            ("apps", "StatefulSet") => {
                self.typed::<StatefulSet>(file, doc, base, v, opts, |st, w, errs, o| {
                    let t = w.spec.as_ref().map(|s| &s.template);
                    st.workload("StatefulSet", &w.metadata, t, "spec.template", errs, o)
                })
            }
            ("apps", "DaemonSet") => self.typed::<DaemonSet>(file, doc, base, v, opts, |st, w, errs, o| {
                let t = w.spec.as_ref().map(|s| &s.template);
                st.workload("DaemonSet", &w.metadata, t, "spec.template", errs, o)
            }),
            ("apps", "ReplicaSet") => self.typed::<ReplicaSet>(file, doc, base, v, opts, |st, w, errs, o| {
                let t = w.spec.as_ref().and_then(|s| s.template.as_ref());
                st.workload("ReplicaSet", &w.metadata, t, "spec.template", errs, o)
            }),
            ("", "ReplicationController") => {
                self.typed::<ReplicationController>(file, doc, base, v, opts, |st, w, errs, o| {
                    let t = w.spec.as_ref().and_then(|s| s.template.as_ref());
                    st.workload("ReplicationController", &w.metadata, t, "spec.template", errs, o)
                })
            }
            ("batch", "Job") => self.typed::<Job>(file, doc, base, v, opts, |st, w, errs, o| {
                let t = w.spec.as_ref().map(|s| &s.template);
                st.workload("Job", &w.metadata, t, "spec.template", errs, o)
            }),
            ("batch", "CronJob") => self.typed::<CronJob>(file, doc, base, v, opts, |st, w, errs, o| {
                let t = w
                    .spec
                    .as_ref()
                    .and_then(|s| s.job_template.spec.as_ref())
                    .map(|s| &s.template);
                st.workload(
                    "CronJob",
                    &w.metadata,
                    t,
                    "spec.jobTemplate.spec.template",
                    errs,
                    o,
                )
            }),
            _ => {
                *self.skipped.entry(format!("{kind} ({api})")).or_default() += 1;
            }
        }
    }

    /// Deserializes into the k8s-openapi type and hands it to `f` with an error sink.
    fn typed<T: DeserializeOwned>(
        &mut self,
        file: usize,
        doc: usize,
        base: &FieldPath,
        v: &Value,
        opts: &LoadOptions,
        f: impl FnOnce(&mut State, T, &mut Sink, &LoadOptions) -> String,
    ) {
        let kind = v.get("kind").and_then(Value::as_str).unwrap_or("").to_string();
        let name = v
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        match deserialize::<T>(v) {
            Err(e) => self.problem(file, doc, base, Some(format!("{kind} {name}")), e),
            Ok(obj) => {
                let mut errs = Sink::new();
                let object = f(self, obj, &mut errs, opts);
                self.problems(file, doc, base, &format!("{kind} {object}"), errs);
            }
        }
    }

    fn namespace(&mut self, ns: K8sNamespace, errs: &mut Sink) -> String {
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
        if self.namespaces.contains_key(&name) {
            self.warnings.push(format!(
                "Namespace {name} is defined more than once; the last one wins"
            ));
        }
        self.namespaces.insert(
            name.clone(),
            Namespace {
                name: name.clone(),
                labels,
            },
        );
        name
    }

    fn pod(&mut self, pod: K8sPod, errs: &mut Sink, opts: &LoadOptions) -> String {
        let mp = FieldPath::root().key("metadata");
        let name = convert::object_name(&pod.metadata, &mp, errs);
        let namespace = convert::object_namespace(&pod.metadata, &opts.default_namespace, &mp, errs);
        let labels = convert::labels(pod.metadata.labels.as_ref(), &mp.key("labels"), errs);
        let parts = convert::pod_spec(pod.spec.as_ref(), &FieldPath::root().key("spec"), errs);
        let ips = convert::pod_ips(pod.status.as_ref(), errs);
        let workload = owner_workload(&pod.metadata, &labels);
        let key = format!("{namespace}/{name}");
        self.add_pod(Pod {
            namespace,
            name,
            labels,
            ips,
            host_network: parts.host_network,
            ports: parts.ports,
            node: parts.node,
            workload,
        });
        key
    }

    fn workload(
        &mut self,
        kind: &str,
        meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
        template: Option<&PodTemplateSpec>,
        template_path: &str,
        errs: &mut Sink,
        opts: &LoadOptions,
    ) -> String {
        let mp = FieldPath::root().key("metadata");
        let name = convert::object_name(meta, &mp, errs);
        let namespace = convert::object_namespace(meta, &opts.default_namespace, &mp, errs);
        convert::labels(meta.labels.as_ref(), &mp.key("labels"), errs);
        let tp = FieldPath::parse(template_path);
        let labels = convert::labels(
            template
                .and_then(|t| t.metadata.as_ref())
                .and_then(|m| m.labels.as_ref()),
            &tp.key("metadata").key("labels"),
            errs,
        );
        let parts = convert::pod_spec(template.and_then(|t| t.spec.as_ref()), &tp.key("spec"), errs);
        let key = format!("{namespace}/{name}");
        self.workloads += 1;
        self.add_pod(Pod {
            namespace,
            name: name.clone(),
            labels,
            ips: Vec::new(),
            host_network: parts.host_network,
            ports: parts.ports,
            node: parts.node,
            workload: Some(format!("{kind}/{name}")),
        });
        key
    }

    fn add_pod(&mut self, pod: Pod) {
        self.referenced_ns.insert(pod.namespace.clone());
        let key = (pod.namespace.clone(), pod.name.clone());
        if self.pods.contains_key(&key) {
            self.warnings.push(format!(
                "pod {}/{} is defined more than once (as a Pod or a workload); the last one wins",
                key.0, key.1
            ));
        }
        self.pods.insert(key, pod);
    }

    fn policy(&mut self, np: NetworkPolicy, errs: &mut Sink, opts: &LoadOptions) -> String {
        let mp = FieldPath::root().key("metadata");
        let name = convert::object_name(&np.metadata, &mp, errs);
        let namespace = convert::object_namespace(&np.metadata, &opts.default_namespace, &mp, errs);
        convert::labels(np.metadata.labels.as_ref(), &mp.key("labels"), errs);
        let policy = convert::network_policy(namespace.clone(), name.clone(), np.spec.as_ref(), errs);
        self.referenced_ns.insert(namespace.clone());
        let key = (namespace, name);
        if self.policies.contains_key(&key) {
            self.warnings.push(format!(
                "NetworkPolicy {}/{} is defined more than once; the last one wins",
                key.0, key.1
            ));
        }
        self.policies.insert(key.clone(), policy);
        format!("{}/{}", key.0, key.1)
    }

    fn finish(mut self, files: usize, opts: &LoadOptions) -> Loaded {
        for ns in std::mem::take(&mut self.referenced_ns) {
            self.namespaces.entry(ns.clone()).or_insert_with(|| Namespace {
                labels: [(NAMESPACE_NAME_LABEL.to_string(), ns.clone())]
                    .into_iter()
                    .collect(),
                name: ns,
            });
        }
        let mut pods: Vec<Pod> = self.pods.into_values().collect();
        assign_addresses(&mut pods, &opts.pod_cidrs);
        Loaded {
            cluster: Cluster {
                namespaces: self.namespaces.into_values().collect(),
                pods,
                policies: self.policies.into_values().collect(),
                externals: opts.externals.clone(),
            },
            skipped: self.skipped,
            files,
            documents: self.documents,
            warnings: self.warnings,
            workloads: self.workloads,
        }
    }
}

/// The workload a pod belongs to, from its owner (a ReplicaSet's pods belong to its Deployment).
fn owner_workload(
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    labels: &palisade_core::Labels,
) -> Option<String> {
    let owner = meta
        .owner_references
        .as_ref()?
        .iter()
        .find(|o| o.controller == Some(true))?;
    if owner.kind == "ReplicaSet" {
        if let Some(hash) = labels.get("pod-template-hash") {
            if let Some(dep) = owner.name.strip_suffix(&format!("-{hash}")) {
                return Some(format!("Deployment/{dep}"));
            }
        }
    }
    Some(format!("{}/{}", owner.kind, owner.name))
}

/// Gives every pod without an address of a family one from that family's pod CIDR:
/// a hash of `namespace/name` picks the slot, so unrelated changes never move a pod.
pub fn assign_addresses(pods: &mut [Pod], cidrs: &[Cidr]) {
    let mut used: HashSet<IpAddr> = pods.iter().flat_map(|p| p.ips.iter().copied()).collect();
    for cidr in cidrs {
        let (lo, hi) = cidr.range();
        let size = hi - lo + 1;
        // Skip the network address and, for IPv4, the broadcast address.
        let usable = size.saturating_sub(2).max(1);
        for pod in pods.iter_mut() {
            if pod
                .ips
                .iter()
                .any(|ip| palisade_core::ip::Family::of(*ip) == cidr.family)
            {
                continue;
            }
            let mut slot = fnv1a(&format!("{}/{}", pod.namespace, pod.name)) as u128 % usable;
            for _ in 0..usable.min(1 << 20) {
                let ip = cidr.nth(slot + 1);
                if used.insert(ip) {
                    pod.ips.push(ip);
                    break;
                }
                slot = (slot + 1) % usable;
            }
        }
    }
}

fn fnv1a(s: &str) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in s.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}
