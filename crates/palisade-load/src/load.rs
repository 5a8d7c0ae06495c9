//! Reading sources (files, directories, stdin) into a validated [`Cluster`].

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{
    Namespace as K8sNamespace, Pod as K8sPod, PodTemplateSpec, ReplicationController,
};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use palisade_core::{Cidr, Cluster, External, Namespace, Pod, Policy};
use rayon::prelude::*;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;
use serde_json::Value;

use crate::convert::{self, Sink};
use crate::diagnostic::{Diagnostic, FieldError};
use crate::path::FieldPath;
use crate::yaml;

/// The label the API server puts on every namespace.
pub const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

fn not_an_object() -> FieldError {
    FieldError {
        path: FieldPath::root(),
        message: "expected a Kubernetes object (a mapping with apiVersion and kind)".into(),
    }
}

fn missing_kind() -> FieldError {
    FieldError::required(FieldPath::root().key("kind"), "Object 'Kind' is missing")
}

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
    /// Where each object came from, by `Kind namespace/name` (`Namespace name`).
    pub origins: HashMap<String, Origin>,
    /// The files read: name and text.
    pub texts: Vec<(String, String)>,
}

impl Loaded {
    /// File, and line and column when known, of a field of an object (`Kind ns/name`);
    /// the object's own position for an empty path.
    pub fn locate(&self, object: &str, field: &FieldPath) -> Option<(String, Option<yaml::Pos>)> {
        self.locate_many(&[(object, field.clone())]).pop().flatten()
    }

    /// [`Loaded::locate`] for many places, reading each file once.
    pub fn locate_many(&self, places: &[(&str, FieldPath)]) -> Vec<Option<(String, Option<yaml::Pos>)>> {
        let mut out: Vec<Option<(String, Option<yaml::Pos>)>> = vec![None; places.len()];
        // Per file: (place index, document, full path).
        let mut by_file: BTreeMap<usize, Vec<(usize, usize, FieldPath)>> = BTreeMap::new();
        for (i, (object, field)) in places.iter().enumerate() {
            if let Some(o) = self.origins.get(*object) {
                by_file
                    .entry(o.file)
                    .or_default()
                    .push((i, o.doc, o.path.join(field)));
            }
        }
        for (file, qs) in by_file {
            let (name, text) = &self.texts[file];
            let queries: Vec<(usize, &FieldPath)> = qs.iter().map(|(_, d, p)| (*d, p)).collect();
            for ((i, _, _), pos) in qs.iter().zip(yaml::locate_many(text, &queries)) {
                out[*i] = Some((name.clone(), pos));
            }
        }
        out
    }
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
    origins: HashMap<String, Origin>,
}

/// Where an object came from: file, document, and the path of the object in it (inside a
/// List, `items[i]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    pub file: usize,
    pub doc: usize,
    pub path: FieldPath,
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
        // JSON takes the fast path; it changes nothing unless the whole file parsed,
        // so anything else falls through to the YAML reader.
        if looks_like_json(&f.text) && st.json_document(fi, 0, &f.text, opts).is_ok() {
            continue;
        }
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
    let mut loaded = st.finish(files.len(), opts);
    loaded.texts = files.into_iter().map(|f| (f.name, f.text)).collect();
    Ok(loaded)
}

/// A typed object as the Kubernetes API delivers it (a watch, a list).
#[derive(Clone, Debug)]
pub enum Object {
    Namespace(Box<K8sNamespace>),
    Pod(Box<K8sPod>),
    Policy(Box<NetworkPolicy>),
}

/// The origin name of objects that came from the API rather than from a file.
pub const API_SOURCE: &str = "<kubernetes api>";

/// Builds the cluster from typed objects, with the same validation and conversion as
/// manifests (diagnostics name the object and field; there is no file position).
pub fn from_objects(
    objects: impl IntoIterator<Item = Object>,
    opts: &LoadOptions,
) -> Result<Loaded, LoadError> {
    let mut st = State::default();
    for o in objects {
        let (kind, name, typed) = match o {
            Object::Namespace(n) => ("Namespace", n.metadata.name.clone(), Typed::Namespace(n)),
            Object::Pod(p) => ("Pod", p.metadata.name.clone(), Typed::Pod(p)),
            Object::Policy(p) => ("NetworkPolicy", p.metadata.name.clone(), Typed::Policy(p)),
        };
        st.add(
            0,
            0,
            &FieldPath::root(),
            kind,
            &name.unwrap_or_default(),
            Ok(typed),
            opts,
        );
    }
    let diags: Vec<Diagnostic> = std::mem::take(&mut st.pending)
        .into_iter()
        .map(|p| Diagnostic {
            file: API_SOURCE.into(),
            pos: None,
            path: p.path,
            object: p.object,
            message: p.message,
        })
        .collect();
    if !diags.is_empty() {
        return Err(LoadError(diags));
    }
    let mut loaded = st.finish(0, opts);
    loaded.origins.clear();
    Ok(loaded)
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

fn looks_like_json(text: &str) -> bool {
    text.trim_start().starts_with('{')
}

/// Documents of a YAML (or JSON) file, positions available for diagnostics.
fn parse_file(f: &File) -> Result<Vec<yaml::Document>, yaml::SyntaxError> {
    let (docs, err) = yaml::parse_documents(&f.text);
    match err {
        Some(e) => Err(e),
        None => Ok(docs),
    }
}

/// A document's text as JSON (fast path) or as a parsed YAML value.
#[derive(Clone, Copy)]
enum Src<'a> {
    Json(&'a str),
    Value(&'a Value),
}

fn deserialize<T: DeserializeOwned>(src: Src<'_>) -> Result<T, FieldError> {
    let to_field_error = |path: &serde_path_to_error::Path, message: String| FieldError {
        path: FieldPath::from_serde(path),
        message,
    };
    match src {
        Src::Value(v) => serde_path_to_error::deserialize::<_, T>(v)
            .map_err(|e| to_field_error(e.path(), e.inner().to_string())),
        Src::Json(text) => {
            let mut de = serde_json::Deserializer::from_str(text);
            serde_path_to_error::deserialize::<_, T>(&mut de).map_err(|e| {
                // serde_json appends "at line L column C"; the position comes from the path.
                let msg = e.inner().to_string();
                let msg = msg.split(" at line ").next().unwrap_or(&msg).to_string();
                to_field_error(e.path(), msg)
            })
        }
    }
}

/// An object of a kind Palisade reads, deserialized into its Kubernetes type.
enum Typed {
    Namespace(Box<K8sNamespace>),
    Pod(Box<K8sPod>),
    Policy(Box<NetworkPolicy>),
    Workload {
        kind: &'static str,
        meta: Box<ObjectMeta>,
        template: Option<Box<PodTemplateSpec>>,
        template_path: &'static str,
    },
    Skipped(String),
}

fn workload(
    kind: &'static str,
    meta: ObjectMeta,
    template: Option<PodTemplateSpec>,
    template_path: &'static str,
) -> Typed {
    Typed::Workload {
        kind,
        meta: Box::new(meta),
        template: template.map(Box::new),
        template_path,
    }
}

/// Dispatches on apiVersion group and kind.
fn typed(kind: &str, api: &str, src: Src<'_>) -> Result<Typed, FieldError> {
    let group = api.split_once('/').map(|(g, _)| g).unwrap_or("");
    const T: &str = "spec.template";
    Ok(match (group, kind) {
        ("", "Namespace") => Typed::Namespace(Box::new(deserialize(src)?)),
        ("", "Pod") => Typed::Pod(Box::new(deserialize(src)?)),
        ("networking.k8s.io", "NetworkPolicy") => Typed::Policy(Box::new(deserialize(src)?)),
        ("apps", "Deployment") => {
            let w: Deployment = deserialize(src)?;
            workload("Deployment", w.metadata, w.spec.map(|s| s.template), T)
        }
        ("apps", "StatefulSet") => {
            let w: StatefulSet = deserialize(src)?;
            workload("StatefulSet", w.metadata, w.spec.map(|s| s.template), T)
        }
        ("apps", "DaemonSet") => {
            let w: DaemonSet = deserialize(src)?;
            workload("DaemonSet", w.metadata, w.spec.map(|s| s.template), T)
        }
        ("apps", "ReplicaSet") => {
            let w: ReplicaSet = deserialize(src)?;
            workload("ReplicaSet", w.metadata, w.spec.and_then(|s| s.template), T)
        }
        ("", "ReplicationController") => {
            let w: ReplicationController = deserialize(src)?;
            workload(
                "ReplicationController",
                w.metadata,
                w.spec.and_then(|s| s.template),
                T,
            )
        }
        ("batch", "Job") => {
            let w: Job = deserialize(src)?;
            workload("Job", w.metadata, w.spec.map(|s| s.template), T)
        }
        ("batch", "CronJob") => {
            let w: CronJob = deserialize(src)?;
            let t = w.spec.and_then(|s| s.job_template.spec).map(|s| s.template);
            workload("CronJob", w.metadata, t, "spec.jobTemplate.spec.template")
        }
        _ => Typed::Skipped(format!("{kind} ({api})")),
    })
}

/// The head of a JSON document: enough to dispatch, and a `List`'s items unparsed.
#[derive(serde::Deserialize)]
struct Head<'a> {
    #[serde(default, borrow)]
    kind: Option<std::borrow::Cow<'a, str>>,
    #[serde(default, rename = "apiVersion", borrow)]
    api_version: Option<std::borrow::Cow<'a, str>>,
    #[serde(default, borrow)]
    items: Option<Vec<&'a RawValue>>,
    #[serde(default, borrow)]
    metadata: Option<HeadMeta<'a>>,
}

#[derive(serde::Deserialize)]
struct HeadMeta<'a> {
    #[serde(default, borrow)]
    name: Option<std::borrow::Cow<'a, str>>,
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
        let Some(obj) = v.as_object() else {
            self.documents += 1;
            return self.problem(file, doc, base, None, not_an_object());
        };
        let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
        let api = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
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
            return;
        }
        let name = v.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
        let result = if kind.is_empty() {
            Err(missing_kind())
        } else {
            typed(kind, api, Src::Value(v))
        };
        self.add(file, doc, base, kind, name, result, opts);
    }

    /// A JSON document: `List` items are dispatched and deserialized in parallel.
    fn json_document(&mut self, file: usize, doc: usize, text: &str, opts: &LoadOptions) -> Result<(), ()> {
        let head: Head<'_> = serde_json::from_str(text).map_err(|_| ())?;
        let kind = head.kind.as_deref().unwrap_or("");
        let Some(items) = head.items.filter(|_| kind.ends_with("List")) else {
            let name = head
                .metadata
                .as_ref()
                .and_then(|m| m.name.as_deref())
                .unwrap_or("");
            let result = if kind.is_empty() {
                Err(missing_kind())
            } else {
                typed(kind, head.api_version.as_deref().unwrap_or(""), Src::Json(text))
            };
            self.add(file, doc, &FieldPath::root(), kind, name, result, opts);
            return Ok(());
        };
        // Every item must be an object with a kind, and not a List: checked first (cheaply),
        // so that nothing is added unless the whole file takes this path.
        let heads_ok = items.par_iter().all(|raw| {
            serde_json::from_str::<Head<'_>>(raw.get())
                .is_ok_and(|h| !(h.items.is_some() && h.kind.as_deref().unwrap_or("").ends_with("List")))
        });
        if !heads_ok {
            return Err(());
        }
        // Typed objects are large (a k8s-openapi Pod is kilobytes of options): converted a
        // chunk at a time, so that only one chunk of them is alive at once.
        const CHUNK: usize = 1024;
        for (c, chunk) in items.chunks(CHUNK).enumerate() {
            let parsed: Vec<(String, String, Result<Typed, FieldError>)> = chunk
                .par_iter()
                .map(|raw| {
                    let h: Head<'_> = serde_json::from_str(raw.get()).expect("checked above");
                    let kind = h.kind.as_deref().unwrap_or("").to_string();
                    let name = h
                        .metadata
                        .as_ref()
                        .and_then(|m| m.name.as_deref())
                        .unwrap_or("")
                        .to_string();
                    let result = if kind.is_empty() {
                        Err(missing_kind())
                    } else {
                        typed(
                            &kind,
                            h.api_version.as_deref().unwrap_or(""),
                            Src::Json(raw.get()),
                        )
                    };
                    (kind, name, result)
                })
                .collect();
            for (i, (kind, name, result)) in parsed.into_iter().enumerate() {
                self.add(
                    file,
                    doc,
                    &FieldPath::root().key("items").index(c * CHUNK + i),
                    &kind,
                    &name,
                    result,
                    opts,
                );
            }
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn add(
        &mut self,
        file: usize,
        doc: usize,
        base: &FieldPath,
        kind: &str,
        name: &str,
        result: Result<Typed, FieldError>,
        opts: &LoadOptions,
    ) {
        self.documents += 1;
        let obj = match result {
            Err(e) => {
                let object = (!kind.is_empty()).then(|| format!("{kind} {name}"));
                return self.problem(file, doc, base, object, e);
            }
            Ok(Typed::Skipped(what)) => {
                *self.skipped.entry(what).or_default() += 1;
                return;
            }
            Ok(t) => t,
        };
        let mut errs = Sink::new();
        let object = match obj {
            Typed::Namespace(ns) => format!("Namespace {}", self.namespace(*ns, &mut errs)),
            Typed::Pod(p) => format!("Pod {}", self.pod(*p, &mut errs, opts)),
            Typed::Policy(np) => format!("NetworkPolicy {}", self.policy(*np, &mut errs, opts)),
            Typed::Workload {
                kind,
                meta,
                template,
                template_path,
            } => {
                let key = self.workload(kind, &meta, template.as_deref(), template_path, &mut errs, opts);
                format!("{kind} {key}")
            }
            Typed::Skipped(_) => unreachable!("handled above"),
        };
        if errs.is_empty() {
            self.origins.insert(
                object.clone(),
                Origin {
                    file,
                    doc,
                    path: base.clone(),
                },
            );
        }
        self.problems(file, doc, base, &object, errs);
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
        let annotations = ns.metadata.annotations.clone().unwrap_or_default();
        self.namespaces.insert(
            name.clone(),
            Namespace {
                name: name.clone(),
                labels,
                annotations,
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
        meta: &ObjectMeta,
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
                annotations: Default::default(),
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
            origins: self.origins,
            texts: Vec::new(),
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
