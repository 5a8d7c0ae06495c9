//! Reading sources (files, directories, stdin) into a validated [`Cluster`].

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::net::IpAddr;
use std::path::PathBuf;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{
    Namespace as K8sNamespace, Node as K8sNode, Pod as K8sPod, PodTemplateSpec, ReplicationController,
};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use palisade_core::{Cidr, Cluster, ClusterPolicy, External, Namespace, Node, ObjectRef, Pod, Policy, Tier};
use rayon::prelude::*;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;
use serde_json::Value;

use crate::convert::Sink;
use crate::diagnostic::{Diagnostic, ErrorKind, FieldError};
use crate::kinds::{self, Dispatch, Kind};
use crate::objects::{Converted, Made, Typed};
use crate::path::FieldPath;
use crate::strict::{self, UnknownField};
use crate::walk::{File, Walk};
use crate::yaml;

/// The label the API server puts on every namespace.
pub const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

fn not_an_object() -> FieldError {
    FieldError {
        path: FieldPath::root(),
        kind: ErrorKind::Type,
        message: "expected a Kubernetes object (a mapping with apiVersion and kind)".into(),
    }
}

fn missing_kind() -> FieldError {
    FieldError::required(FieldPath::root().key("kind"), "Object 'Kind' is missing")
}

/// kubectl's `--validate`: what to do with fields the Kubernetes types do not know.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Validation {
    /// An error (kubectl's default).
    #[default]
    Strict,
    /// A warning; the field is ignored.
    Warn,
    /// Ignored without a word.
    Ignore,
}

/// Where manifests come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// A file or a directory (walked recursively); `-` is read by the caller.
    Path(PathBuf),
    /// Text already read (stdin is read by the caller as `-`), with a display name.
    Text {
        /// The name problems are reported under.
        name: String,
        /// The manifests.
        text: String,
    },
    /// Text of a file found by listing a tree (a git revision): like a file found while
    /// walking a directory, it is skipped with a warning when it holds no Kubernetes object.
    Listed {
        /// The name problems are reported under (`REV:path`).
        name: String,
        /// The manifests.
        text: String,
    },
}

/// How manifests are read: the choices `kubectl apply` would make, and Palisade's own.
#[derive(Clone, Debug)]
pub struct LoadOptions {
    /// Namespace of objects that name none (`kubectl apply -n`).
    pub default_namespace: String,
    /// Where pods without `status.podIP` get addresses (one per family).
    pub pod_cidrs: Vec<Cidr>,
    /// Named address blocks outside the cluster to analyse as endpoints (`--external`).
    pub externals: Vec<External>,
    /// Unknown fields: error, warning or nothing.
    pub validation: Validation,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            default_namespace: "default".into(),
            pod_cidrs: vec!["10.244.0.0/16".parse().expect("valid default CIDR")],
            externals: Vec::new(),
            validation: Validation::Strict,
        }
    }
}

/// The result of a successful load.
#[derive(Clone, Debug, Default)]
pub struct Loaded {
    /// The model: namespaces, pods (workloads as representative pods), policies, nodes.
    pub cluster: Cluster,
    /// Objects of other kinds, by `Kind (apiVersion)`, and files that hold no Kubernetes
    /// object, under [`NOT_MANIFESTS`].
    pub skipped: BTreeMap<String, usize>,
    /// Files read.
    pub files: usize,
    /// Documents read (items of a List counted one by one).
    pub documents: usize,
    /// Non-fatal remarks: duplicate objects (the last one wins), removed apiVersions,
    /// files skipped while walking, kinds not read, unknown fields under `--validate=warn`.
    pub warnings: Vec<String>,
    /// Workload controllers turned into representative pods.
    pub workloads: usize,
    /// Where each object came from.
    pub origins: HashMap<ObjectRef, Origin>,
    /// The files read: name and text.
    pub texts: Vec<(String, String)>,
    /// Time spent turning YAML text into documents (the rest of loading reads them).
    pub parse_time: std::time::Duration,
}

/// The `skipped` entry counting files found in directories that hold no Kubernetes object.
pub const NOT_MANIFESTS: &str = "(files that are not Kubernetes manifests)";

impl Loaded {
    /// File, and line and column when known, of a field of an object; the object's own
    /// position for an empty path.
    pub fn locate(&self, object: &ObjectRef, field: &FieldPath) -> Option<(String, Option<yaml::Pos>)> {
        self.locate_many(&[(object, field.clone())]).pop().flatten()
    }

    /// The objects as written in their files (JSON values; `None` for objects that did not
    /// come from a file), parsing each file once.
    pub fn object_values(&self, objects: &[&ObjectRef]) -> Vec<Option<Value>> {
        use crate::path::Seg;
        let mut out: Vec<Option<Value>> = vec![None; objects.len()];
        let mut by_file: BTreeMap<usize, Vec<(usize, &Origin)>> = BTreeMap::new();
        for (i, o) in objects.iter().enumerate() {
            if let Some(origin) = self.origins.get(*o) {
                by_file.entry(origin.file).or_default().push((i, origin));
            }
        }
        for (file, wanted) in by_file {
            let (docs, _) = yaml::parse_documents(&self.texts[file].1);
            for (i, origin) in wanted {
                let Some(doc) = docs.iter().find(|d| d.index == origin.doc) else {
                    continue;
                };
                let mut v = &doc.value;
                for seg in &origin.within.path().0 {
                    v = match seg {
                        Seg::Key(k) => &v[k.as_str()],
                        Seg::Index(n) => &v[*n],
                    };
                }
                out[i] = (!v.is_null()).then(|| v.clone());
            }
        }
        out
    }

    /// [`Loaded::locate`] for many places, reading each file once.
    pub fn locate_many(
        &self,
        places: &[(&ObjectRef, FieldPath)],
    ) -> Vec<Option<(String, Option<yaml::Pos>)>> {
        let mut out: Vec<Option<(String, Option<yaml::Pos>)>> = vec![None; places.len()];
        // Per file: (place index, document, full path).
        let mut by_file: BTreeMap<usize, Vec<(usize, usize, FieldPath)>> = BTreeMap::new();
        for (i, (object, field)) in places.iter().enumerate() {
            if let Some(o) = self.origins.get(*object) {
                by_file
                    .entry(o.file)
                    .or_default()
                    .push((i, o.doc, o.within.path().join(field)));
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

/// Why nothing was loaded: every problem found (placed), and the warnings given so far.
#[derive(Debug, thiserror::Error)]
#[error("{} problem(s) in the input", .0.len())]
pub struct LoadError(pub Vec<Diagnostic>, pub Vec<String>);

/// A problem (or, with `warning`, a remark) not yet placed at a line: document index and
/// field path.
struct Pending {
    file: usize,
    doc: usize,
    path: FieldPath,
    object: Option<ObjectRef>,
    kind: ErrorKind,
    message: String,
    warning: bool,
}

#[derive(Default)]
struct State {
    namespaces: BTreeMap<String, Namespace>,
    nodes: BTreeMap<String, Node>,
    pods: BTreeMap<(String, String), Pod>,
    /// NetworkPolicies, each with whether it is in shadow mode.
    policies: BTreeMap<(String, String), (Policy, bool)>,
    /// By kind (ClusterNetworkPolicy or a v1alpha1 kind) and name.
    /// ClusterNetworkPolicies by kind and name, each with whether it is in shadow mode.
    cluster_policies: BTreeMap<(String, String), (ClusterPolicy, bool)>,
    referenced_ns: BTreeSet<String>,
    skipped: BTreeMap<String, usize>,
    warnings: Vec<String>,
    pending: Vec<Pending>,
    documents: usize,
    workloads: usize,
    origins: HashMap<ObjectRef, Origin>,
}

/// Where an object came from: file, document, and the path of the object in it (inside a
/// List, `items[i]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    /// Index into [`Loaded::texts`].
    pub file: usize,
    /// The document's index in its file.
    pub doc: usize,
    /// Where in the document: the root, or `items[i]` in a List.
    pub within: Within,
}

/// Where an object sits in its document. Kept without allocating for the usual places
/// (one origin is kept per object, 10,000s of them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Within {
    /// The document is the object.
    Root,
    /// `items[i]` of a List document.
    Item(usize),
    /// Anywhere else (a List inside a List).
    Path(FieldPath),
}

impl Within {
    /// The place of an object whose fields are at `base`.
    fn of(base: &FieldPath) -> Within {
        use crate::path::Seg;
        match base.0.as_slice() {
            [] => Within::Root,
            [Seg::Key(k), Seg::Index(i)] if k == "items" => Within::Item(*i),
            _ => Within::Path(base.clone()),
        }
    }

    /// As a field path from the document's root.
    pub fn path(&self) -> FieldPath {
        match self {
            Within::Root => FieldPath::root(),
            Within::Item(i) => FieldPath::root().key("items").index(*i),
            Within::Path(p) => p.clone(),
        }
    }
}

/// Loads every source. All problems are reported together; nothing is returned
/// unless the whole input is valid.
pub fn load(sources: &[Source], opts: &LoadOptions) -> Result<Loaded, LoadError> {
    let mut walk = Walk::default();
    for s in sources {
        match s {
            Source::Text { name, text } => walk.files.push(File {
                name: name.clone(),
                text: text.clone(),
                explicit: true,
            }),
            Source::Listed { name, text } => walk.files.push(File {
                name: name.clone(),
                text: text.clone(),
                explicit: false,
            }),
            Source::Path(p) => walk.explicit(p),
        }
    }
    let Walk {
        files,
        mut diags,
        warnings,
        ..
    } = walk;
    let mut st = State {
        warnings,
        ..State::default()
    };
    let mut parse_time = std::time::Duration::ZERO;
    for (fi, f) in files.iter().enumerate() {
        // JSON takes the fast path; it changes nothing unless the whole file parsed,
        // so anything else falls through to the YAML reader.
        if looks_like_json(&f.text) && st.json_document(fi, f, opts).is_ok() {
            continue;
        }
        let started = std::time::Instant::now();
        let parsed = parse_file(f);
        parse_time += started.elapsed();
        let docs = match parsed {
            Ok(d) => d,
            Err(e) => {
                diags.push(Diagnostic {
                    file: f.name.clone(),
                    pos: Some(e.pos),
                    path: FieldPath::root(),
                    object: None,
                    kind: if e.limit {
                        ErrorKind::Limit
                    } else {
                        ErrorKind::Syntax
                    },
                    message: if e.limit {
                        e.message
                    } else {
                        format!("YAML syntax error: {}", e.message)
                    },
                });
                continue;
            }
        };
        if !f.explicit && !docs.iter().any(|d| looks_like_object(&d.value)) {
            if docs.iter().any(|d| !d.value.is_null()) {
                st.not_a_manifest(f);
            }
            continue;
        }
        st.documents(fi, &docs, opts);
        // Freeing a large tree takes a while: done beside the next file's reading.
        rayon::spawn(move || drop(docs));
    }
    // Place field problems at their line and column, reading each file once.
    let mut by_file: BTreeMap<usize, Vec<Pending>> = BTreeMap::new();
    for p in std::mem::take(&mut st.pending) {
        by_file.entry(p.file).or_default().push(p);
    }
    for (fi, ps) in by_file {
        let f = &files[fi];
        let queries: Vec<(usize, &FieldPath)> = ps.iter().map(|p| (p.doc, &p.path)).collect();
        let places = yaml::locate_many(&f.text, &queries);
        let mut placed: Vec<(Pending, Option<yaml::Pos>)> = ps.into_iter().zip(places).collect();
        placed.sort_by_key(|(p, pos)| (p.doc, *pos));
        for (p, pos) in placed {
            let d = Diagnostic {
                file: f.name.clone(),
                pos,
                path: p.path,
                object: p.object,
                kind: p.kind,
                message: p.message,
            };
            if p.warning {
                st.warnings.push(d.to_string());
            } else {
                diags.push(d);
            }
        }
    }
    if !diags.is_empty() {
        // The warnings explain some errors (an unknown field under --validate=warn).
        return Err(LoadError(diags, st.warnings));
    }
    let mut loaded = st.finish(files.len(), opts)?;
    loaded.texts = files.into_iter().map(|f| (f.name, f.text)).collect();
    loaded.parse_time = parse_time;
    Ok(loaded)
}

/// A mapping that says what it is: a file found in a directory with none of these holds
/// something other than Kubernetes objects (Helm values, another tool's JSON).
fn looks_like_object(v: &Value) -> bool {
    v.as_object()
        .is_some_and(|o| o.contains_key("kind") || o.contains_key("apiVersion"))
}

/// A typed object as the Kubernetes API delivers it (a watch, a list).
#[derive(Clone, Debug)]
pub enum Object {
    /// A Namespace.
    Namespace(Box<K8sNamespace>),
    /// A Node (its addresses: `nodes` peers and host-network pods).
    Node(Box<K8sNode>),
    /// A Pod.
    Pod(Box<K8sPod>),
    /// A NetworkPolicy.
    Policy(Box<NetworkPolicy>),
    /// A `policy.networking.k8s.io/v1alpha2` ClusterNetworkPolicy.
    ClusterPolicy(Box<crate::cnp::ClusterNetworkPolicy>),
    /// A v1alpha1 AdminNetworkPolicy (`Tier::Admin`) or BaselineAdminNetworkPolicy
    /// (`Tier::Baseline`).
    AdminPolicy(Box<crate::anp::AdminNetworkPolicy>, Tier),
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
        let (kind, meta, typed) = match o {
            Object::Namespace(n) => ("Namespace", n.metadata.clone(), Typed::Namespace(n)),
            Object::Node(n) => ("Node", n.metadata.clone(), Typed::Node(n)),
            Object::Pod(p) => ("Pod", p.metadata.clone(), Typed::Pod(p)),
            Object::Policy(p) => ("NetworkPolicy", p.metadata.clone(), Typed::Policy(p)),
            Object::ClusterPolicy(p) => (
                "ClusterNetworkPolicy",
                p.metadata.clone(),
                Typed::ClusterPolicy(p),
            ),
            Object::AdminPolicy(p, Tier::Admin) => (
                "AdminNetworkPolicy",
                p.metadata.clone(),
                Typed::AdminPolicy(p, Tier::Admin),
            ),
            Object::AdminPolicy(p, Tier::Baseline) => (
                "BaselineAdminNetworkPolicy",
                p.metadata.clone(),
                Typed::AdminPolicy(p, Tier::Baseline),
            ),
        };
        let who = Who {
            kind,
            namespace: meta.namespace.as_deref(),
            name: meta.name.as_deref().unwrap_or_default(),
        };
        st.add(
            0,
            0,
            &FieldPath::root(),
            &who,
            Outcome::ok(typed).converted(opts),
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
            kind: p.kind,
            message: p.message,
        })
        .collect();
    if !diags.is_empty() {
        return Err(LoadError(diags, Vec::new()));
    }
    let mut loaded = st.finish(0, opts)?;
    loaded.origins.clear();
    Ok(loaded)
}

fn looks_like_json(text: &str) -> bool {
    text.trim_start().starts_with('{')
}

/// Documents of a YAML (or JSON) file, positions available for diagnostics; large texts
/// on every core.
fn parse_file(f: &File) -> Result<Vec<yaml::Document>, yaml::SyntaxError> {
    let (docs, err) = crate::split::parse_documents(&f.text);
    match err {
        Some(e) => Err(e),
        None => Ok(docs),
    }
}

/// One object of a parsed document to read: where it is and what it says it is.
struct Work<'v> {
    doc: usize,
    base: FieldPath,
    value: &'v Value,
    kind: &'v str,
    api: &'v str,
}

/// A document's text as JSON (fast path) or as a parsed YAML value.
#[derive(Clone, Copy)]
enum Src<'a> {
    Json(&'a str),
    Value(&'a Value),
}

impl Src<'_> {
    fn to_value(self) -> Value {
        match self {
            Src::Json(text) => serde_json::from_str(text).unwrap_or(Value::Null),
            Src::Value(v) => v.clone(),
        }
    }
}

/// Deserializes `T`, with the fields the type does not know when `check` is set. JSON is
/// read straight from its text; when it holds a field the type ignores, it is read again
/// as a value to name the field and its likely meaning.
fn deserialize<T: DeserializeOwned>(src: Src<'_>, check: bool) -> (Result<T, FieldError>, Vec<UnknownField>) {
    match src {
        Src::Value(v) => strict::from_value(v, check),
        Src::Json(text) => {
            let mut ignored = false;
            let result = {
                let mut de = serde_json::Deserializer::from_str(text);
                let mut note = |_: serde_ignored::Path<'_>| ignored = true;
                let de = serde_ignored::Deserializer::new(&mut de, &mut note);
                serde_path_to_error::deserialize::<_, T>(de).map_err(|e| {
                    // serde_json appends "at line L column C"; the position comes from the path.
                    let msg = e.inner().to_string();
                    let msg = msg.split(" at line ").next().unwrap_or(&msg).to_string();
                    FieldError {
                        path: FieldPath::from_serde(e.path()),
                        kind: ErrorKind::Type,
                        message: msg,
                    }
                })
            };
            if check && ignored {
                let v: Value = serde_json::from_str(text).unwrap_or(Value::Null);
                return strict::from_value(&v, check);
            }
            (result, Vec::new())
        }
    }
}

/// What became of one object: its typed form (then, [`Outcome::converted`], its model
/// form) or the error, the fields its type does not know, and a remark (a removed
/// apiVersion).
struct Outcome<T = Typed> {
    typed: Result<T, FieldError>,
    unknown: Vec<UnknownField>,
    remark: Option<String>,
}

impl Outcome {
    fn ok(t: Typed) -> Self {
        Outcome {
            typed: Ok(t),
            unknown: Vec::new(),
            remark: None,
        }
    }

    fn err(e: FieldError) -> Self {
        Outcome {
            typed: Err(e),
            unknown: Vec::new(),
            remark: None,
        }
    }

    /// The object converted into the model (pure: runs on any thread).
    fn converted(self, opts: &LoadOptions) -> Outcome<Converted> {
        Outcome {
            typed: self.typed.map(|t| Converted::of(t, opts)),
            unknown: self.unknown,
            remark: self.remark,
        }
    }
}

fn workload(
    kind: &'static str,
    meta: ObjectMeta,
    template: Option<PodTemplateSpec>,
    template_path: &'static [&'static str],
) -> Typed {
    Typed::Workload {
        kind,
        meta: Box::new(meta),
        template: template.map(Box::new),
        template_path,
    }
}

/// Reads `T` and converts it, keeping the unknown fields.
fn read<T: DeserializeOwned>(
    src: Src<'_>,
    check: bool,
    f: impl FnOnce(T) -> Typed,
) -> (Result<Typed, FieldError>, Vec<UnknownField>) {
    let (r, unknown) = deserialize::<T>(src, check);
    (r.map(f), unknown)
}

/// Dispatches on kind and apiVersion (both may come from the enclosing list).
fn typed(kind: &str, api: &str, src: Src<'_>, check: bool) -> Outcome {
    if kind.is_empty() {
        return Outcome::err(missing_kind());
    }
    if api.is_empty() {
        return Outcome::err(kinds::missing_api_version(kind));
    }
    let (kind_read, remark) = match kinds::dispatch(kind, api) {
        Dispatch::Read { kind, removed } => (kind, removed),
        Dispatch::Other => return Outcome::ok(Typed::Skipped(format!("{kind} ({api})"))),
        Dispatch::Invalid(e) => return Outcome::err(e),
    };
    // A removed apiVersion is read as the current one: its fields are, for Palisade.
    let stripped;
    let src = if remark.is_some() {
        let mut v = src.to_value();
        if let Some(o) = v.as_object_mut() {
            o.remove("apiVersion");
        }
        stripped = v;
        Src::Value(&stripped)
    } else {
        src
    };
    const T: &[&str] = &["spec", "template"];
    let (typed, unknown) = match kind_read {
        Kind::Namespace => read(src, check, |n| Typed::Namespace(Box::new(n))),
        Kind::Node => read(src, check, |n| Typed::Node(Box::new(n))),
        Kind::Pod => read(src, check, |p| Typed::Pod(Box::new(p))),
        Kind::NetworkPolicy => read(src, check, |p| Typed::Policy(Box::new(p))),
        Kind::ClusterNetworkPolicy => read(src, check, |p| Typed::ClusterPolicy(Box::new(p))),
        Kind::AdminNetworkPolicy => read(src, check, |p| Typed::AdminPolicy(Box::new(p), Tier::Admin)),
        Kind::BaselineAdminNetworkPolicy => {
            read(src, check, |p| Typed::AdminPolicy(Box::new(p), Tier::Baseline))
        }
        Kind::Deployment => read(src, check, |w: Deployment| {
            workload("Deployment", w.metadata, w.spec.map(|s| s.template), T)
        }),
        Kind::StatefulSet => read(src, check, |w: StatefulSet| {
            workload("StatefulSet", w.metadata, w.spec.map(|s| s.template), T)
        }),
        Kind::DaemonSet => read(src, check, |w: DaemonSet| {
            workload("DaemonSet", w.metadata, w.spec.map(|s| s.template), T)
        }),
        Kind::ReplicaSet => read(src, check, |w: ReplicaSet| {
            workload("ReplicaSet", w.metadata, w.spec.and_then(|s| s.template), T)
        }),
        Kind::ReplicationController => read(src, check, |w: ReplicationController| {
            workload(
                "ReplicationController",
                w.metadata,
                w.spec.and_then(|s| s.template),
                T,
            )
        }),
        Kind::Job => read(src, check, |w: Job| {
            workload("Job", w.metadata, w.spec.map(|s| s.template), T)
        }),
        Kind::CronJob => read(src, check, |w: CronJob| {
            let t = w.spec.and_then(|s| s.job_template.spec).map(|s| s.template);
            workload(
                "CronJob",
                w.metadata,
                t,
                &["spec", "jobTemplate", "spec", "template"],
            )
        }),
    };
    Outcome {
        typed,
        unknown,
        remark,
    }
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
    #[serde(default, borrow)]
    namespace: Option<std::borrow::Cow<'a, str>>,
}

impl Head<'_> {
    fn name(&self) -> &str {
        self.metadata
            .as_ref()
            .and_then(|m| m.name.as_deref())
            .unwrap_or("")
    }

    fn namespace(&self) -> Option<&str> {
        self.metadata.as_ref().and_then(|m| m.namespace.as_deref())
    }
}

/// Who an object is, as far as its text says, for naming it in problems.
struct Who<'a> {
    kind: &'a str,
    namespace: Option<&'a str>,
    name: &'a str,
}

impl Who<'_> {
    /// The object's identity (the default namespace when none is given).
    fn label(&self, opts: &LoadOptions) -> Option<ObjectRef> {
        if self.kind.is_empty() {
            return None;
        }
        if matches!(
            self.kind,
            "Namespace"
                | "Node"
                | "ClusterNetworkPolicy"
                | "AdminNetworkPolicy"
                | "BaselineAdminNetworkPolicy"
        ) {
            return Some(ObjectRef::new(self.kind, None, self.name));
        }
        let ns = self
            .namespace
            .filter(|n| !n.is_empty())
            .unwrap_or(&opts.default_namespace);
        Some(ObjectRef::new(self.kind, Some(ns), self.name))
    }
}

impl State {
    fn problem(
        &mut self,
        file: usize,
        doc: usize,
        base: &FieldPath,
        object: Option<ObjectRef>,
        e: FieldError,
    ) {
        self.pend(file, doc, base, object, e, false);
    }

    fn remark(
        &mut self,
        file: usize,
        doc: usize,
        base: &FieldPath,
        object: Option<ObjectRef>,
        e: FieldError,
    ) {
        self.pend(file, doc, base, object, e, true);
    }

    fn pend(
        &mut self,
        file: usize,
        doc: usize,
        base: &FieldPath,
        object: Option<ObjectRef>,
        e: FieldError,
        warning: bool,
    ) {
        self.pending.push(Pending {
            file,
            doc,
            path: base.join(&e.path),
            object,
            kind: e.kind,
            message: e.message,
            warning,
        });
    }

    fn problems(&mut self, file: usize, doc: usize, base: &FieldPath, object: &ObjectRef, errs: Sink) {
        for e in errs {
            self.problem(file, doc, base, Some(object.clone()), e);
        }
    }

    /// A file found while walking a directory that holds no Kubernetes object.
    fn not_a_manifest(&mut self, f: &File) {
        self.warnings.push(format!(
            "{}: skipped: not a Kubernetes manifest (no kind or apiVersion)",
            f.name
        ));
        *self.skipped.entry(NOT_MANIFESTS.into()).or_default() += 1;
    }

    /// The parsed documents of a file: their objects (list items too) are gathered, read
    /// into their types in parallel a chunk at a time, and added in order.
    fn documents(&mut self, file: usize, docs: &[yaml::Document], opts: &LoadOptions) {
        let mut work = Vec::new();
        for d in docs {
            self.gather(file, d.index, FieldPath::root(), &d.value, None, &mut work);
        }
        let check = opts.validation != Validation::Ignore;
        // Typed objects are large: only one chunk of them is alive at once.
        const CHUNK: usize = 1024;
        for chunk in work.chunks(CHUNK) {
            let outcomes: Vec<Outcome<Converted>> = chunk
                .par_iter()
                .map(|w| typed(w.kind, w.api, Src::Value(w.value), check).converted(opts))
                .collect();
            for (w, outcome) in chunk.iter().zip(outcomes) {
                let who = Who {
                    kind: w.kind,
                    namespace: w.value.pointer("/metadata/namespace").and_then(Value::as_str),
                    name: w
                        .value
                        .pointer("/metadata/name")
                        .and_then(Value::as_str)
                        .unwrap_or(""),
                };
                self.add(file, w.doc, &w.base, &who, outcome, opts);
            }
        }
    }

    /// The objects of a parsed document (a list's items, with the kind and apiVersion the
    /// list implies); what is no object is a problem right away.
    fn gather<'v>(
        &mut self,
        file: usize,
        doc: usize,
        base: FieldPath,
        v: &'v Value,
        implied: Option<(&'v str, &'v str)>,
        out: &mut Vec<Work<'v>>,
    ) {
        if v.is_null() {
            return;
        }
        let Some(obj) = v.as_object() else {
            self.documents += 1;
            return self.problem(file, doc, &base, None, not_an_object());
        };
        let field = |k: &str| obj.get(k).and_then(Value::as_str);
        let kind = field("kind").or(implied.map(|i| i.0)).unwrap_or("");
        let api = field("apiVersion").or(implied.map(|i| i.1)).unwrap_or("");
        if kind == "List" || (kind.ends_with("List") && obj.contains_key("items")) {
            let item = kinds::item_kind(kind).filter(|_| kind != "List");
            for (i, v) in obj
                .get("items")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .enumerate()
            {
                self.gather(
                    file,
                    doc,
                    base.key("items").index(i),
                    v,
                    item.map(|k| (k, api)),
                    out,
                );
            }
            return;
        }
        out.push(Work {
            doc,
            base,
            value: v,
            kind,
            api,
        });
    }

    /// A JSON file: `List` items are dispatched and deserialized in parallel. Fails (and
    /// adds nothing) when the file is not one JSON object, repeats a key, or holds a list
    /// inside a list, all of which the YAML reader reports with positions.
    fn json_document(&mut self, file: usize, f: &File, opts: &LoadOptions) -> Result<(), ()> {
        let text = f.text.as_str();
        let head: Head<'_> = serde_json::from_str(text).map_err(|_| ())?;
        if crate::json::has_duplicate_keys(text) {
            return Err(());
        }
        if !f.explicit && head.kind.is_none() && head.api_version.is_none() {
            self.not_a_manifest(f);
            return Ok(());
        }
        let kind = head.kind.as_deref().unwrap_or("");
        let api = head.api_version.as_deref().unwrap_or("");
        let check = opts.validation != Validation::Ignore;
        let Some(items) = head.items.as_ref().filter(|_| kind.ends_with("List")) else {
            let who = Who {
                kind,
                namespace: head.namespace(),
                name: head.name(),
            };
            let outcome = typed(kind, api, Src::Json(text), check).converted(opts);
            self.add(file, 0, &FieldPath::root(), &who, outcome, opts);
            return Ok(());
        };
        let implied = kinds::item_kind(kind).filter(|_| kind != "List");
        // Every item must be an object, and not a List: checked first (cheaply), so that
        // nothing is added unless the whole file takes this path.
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
            let parsed: Vec<(Head<'_>, Outcome<Converted>)> = chunk
                .par_iter()
                .map(|raw| {
                    let h: Head<'_> = serde_json::from_str(raw.get()).expect("checked above");
                    let kind = h.kind.as_deref().or(implied).unwrap_or("");
                    let api = h.api_version.as_deref().or(implied.map(|_| api)).unwrap_or("");
                    let outcome = typed(kind, api, Src::Json(raw.get()), check).converted(opts);
                    (h, outcome)
                })
                .collect();
            for (i, (h, outcome)) in parsed.into_iter().enumerate() {
                let who = Who {
                    kind: h.kind.as_deref().or(implied).unwrap_or(""),
                    namespace: h.namespace(),
                    name: h.name(),
                };
                let base = FieldPath::root().key("items").index(c * CHUNK + i);
                self.add(file, 0, &base, &who, outcome, opts);
            }
        }
        Ok(())
    }

    fn add(
        &mut self,
        file: usize,
        doc: usize,
        base: &FieldPath,
        who: &Who<'_>,
        outcome: Outcome<Converted>,
        opts: &LoadOptions,
    ) {
        self.documents += 1;
        let label = who.label(opts);
        if let Some(r) = outcome.remark {
            self.remark(
                file,
                doc,
                base,
                label.clone(),
                FieldError::new(ErrorKind::Invalid, FieldPath::root().key("apiVersion"), r),
            );
        }
        let strict = opts.validation == Validation::Strict;
        for u in &outcome.unknown {
            if strict {
                self.problem(file, doc, base, label.clone(), u.to_error());
            } else {
                self.remark(file, doc, base, label.clone(), u.to_error());
            }
        }
        let converted = match outcome.typed {
            Err(e) => return self.problem(file, doc, base, label, e),
            Ok(Converted {
                made: Made::Skipped(what),
                ..
            }) => {
                *self.skipped.entry(what).or_default() += 1;
                return;
            }
            Ok(_) if strict && !outcome.unknown.is_empty() => return,
            Ok(c) => c,
        };
        let Converted {
            made,
            object,
            errs,
            remarks,
        } = converted;
        let object = object.expect("every kind that is not skipped has an identity");
        match made {
            Made::Namespace(ns) => self.add_namespace(ns),
            Made::Node(node) => self.add_node(node),
            Made::Pod(pod) => self.add_pod(pod),
            Made::Workload(pod) => {
                self.workloads += 1;
                self.add_pod(pod);
            }
            Made::Policy(policy, shadow) => self.add_policy(policy, shadow),
            Made::ClusterPolicy(cnp, shadow) => self.add_cluster_policy(&object.kind, cnp, shadow),
            Made::Skipped(_) => unreachable!("handled above"),
        }
        if errs.is_empty() {
            self.origins.insert(
                object.clone(),
                Origin {
                    file,
                    doc,
                    within: Within::of(base),
                },
            );
        }
        for r in remarks {
            self.remark(file, doc, base, Some(object.clone()), r);
        }
        self.problems(file, doc, base, &object, errs);
    }

    fn add_namespace(&mut self, ns: Namespace) {
        if self.namespaces.contains_key(&ns.name) {
            self.warnings.push(format!(
                "Namespace {} is defined more than once; the last one wins",
                ns.name
            ));
        }
        self.namespaces.insert(ns.name.clone(), ns);
    }

    fn add_node(&mut self, node: Node) {
        if self.nodes.contains_key(&node.name) {
            self.warnings.push(format!(
                "Node {} is defined more than once; the last one wins",
                node.name
            ));
        }
        self.nodes.insert(node.name.clone(), node);
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

    fn add_policy(&mut self, policy: Policy, shadow: bool) {
        self.referenced_ns.insert(policy.namespace.clone());
        let key = (policy.namespace.clone(), policy.name.clone());
        if self.policies.contains_key(&key) {
            self.warnings.push(format!(
                "NetworkPolicy {}/{} is defined more than once; the last one wins",
                key.0, key.1
            ));
        }
        self.policies.insert(key, (policy, shadow));
    }

    fn add_cluster_policy(&mut self, kind: &str, cnp: ClusterPolicy, shadow: bool) {
        let key = (kind.to_string(), cnp.name.clone());
        if self.cluster_policies.contains_key(&key) {
            self.warnings.push(format!(
                "{kind} {} is defined more than once; the last one wins",
                cnp.name
            ));
        }
        self.cluster_policies.insert(key, (cnp, shadow));
    }

    fn finish(mut self, files: usize, opts: &LoadOptions) -> Result<Loaded, LoadError> {
        for ns in std::mem::take(&mut self.referenced_ns) {
            self.namespaces.entry(ns.clone()).or_insert_with(|| Namespace {
                labels: [(NAMESPACE_NAME_LABEL.to_string(), ns.clone())]
                    .into_iter()
                    .collect(),
                annotations: Default::default(),
                name: ns,
            });
        }
        let not_read: Vec<String> = self
            .skipped
            .iter()
            .filter(|(k, _)| k.as_str() != NOT_MANIFESTS)
            .map(|(k, n)| if *n > 1 { format!("{k} x{n}") } else { k.clone() })
            .collect();
        if !not_read.is_empty() {
            self.warnings.push(format!(
                "not read (Palisade reads Namespaces, Nodes, Pods, NetworkPolicies, ClusterNetworkPolicies (and v1alpha1 AdminNetworkPolicies) and workloads): {}",
                not_read.join(", ")
            ));
        }
        let mut pods: Vec<Pod> = self.pods.into_values().collect();
        let nodes: Vec<Node> = self.nodes.into_values().collect();
        host_network_addresses(&mut pods, &nodes);
        assign_addresses(&mut pods, &opts.pod_cidrs).map_err(|message| {
            LoadError(
                vec![Diagnostic {
                    file: "--pod-cidr".into(),
                    pos: None,
                    path: FieldPath::root(),
                    object: None,
                    kind: ErrorKind::Option,
                    message,
                }],
                Vec::new(),
            )
        })?;
        let mut shadow = Vec::new();
        let mut enforced = Vec::new();
        for (p, staged) in self.policies.into_values() {
            if staged {
                shadow.push(p)
            } else {
                enforced.push(p)
            }
        }
        let (staged, cluster_policies): (Vec<_>, Vec<_>) = self
            .cluster_policies
            .into_values()
            .partition(|(_, shadow)| *shadow);
        Ok(Loaded {
            cluster: Cluster {
                namespaces: self.namespaces.into_values().collect(),
                pods,
                policies: enforced,
                externals: opts.externals.clone(),
                nodes,
                cluster_policies: cluster_policies.into_iter().map(|(p, _)| p).collect(),
                shadow_policies: shadow,
                shadow_cluster_policies: staged.into_iter().map(|(p, _)| p).collect(),
            },
            skipped: self.skipped,
            files,
            documents: self.documents,
            warnings: self.warnings,
            workloads: self.workloads,
            origins: self.origins,
            texts: Vec::new(),
            parse_time: Default::default(),
        })
    }
}

/// A hostNetwork pod shares its node's addresses: one without an address takes those of
/// the Node it names (before pod CIDR addresses are handed out).
fn host_network_addresses(pods: &mut [Pod], nodes: &[Node]) {
    let by_name: HashMap<&str, &Node> = nodes.iter().map(|n| (n.name.as_str(), n)).collect();
    for pod in pods.iter_mut().filter(|p| p.host_network && p.ips.is_empty()) {
        if let Some(node) = pod.node.as_deref().and_then(|n| by_name.get(n)) {
            // The first address of each family, as the kubelet reports a hostNetwork pod's podIPs.
            let v4 = node.addresses.iter().find(|a| a.is_ipv4());
            let v6 = node.addresses.iter().find(|a| a.is_ipv6());
            pod.ips = v4.into_iter().chain(v6).copied().collect();
        }
    }
}

/// Gives every pod without an address of a family one from that family's pod CIDR:
/// a hash of `namespace/name` picks the slot, so unrelated changes never move a pod.
/// Fails, naming the CIDR, when it has no room left for a pod.
pub fn assign_addresses(pods: &mut [Pod], cidrs: &[Cidr]) -> Result<(), String> {
    let mut used: HashSet<IpAddr> = pods.iter().flat_map(|p| p.ips.iter().copied()).collect();
    for cidr in cidrs {
        let (lo, hi) = cidr.range();
        let size = (hi - lo).saturating_add(1);
        // Skip the network address and, for IPv4, the broadcast address.
        let reserved = if cidr.family == palisade_core::ip::Family::V4 {
            2
        } else {
            1
        };
        let usable = size.saturating_sub(reserved).max(1);
        let needing = pods
            .iter()
            .filter(|p| {
                !p.ips
                    .iter()
                    .any(|ip| palisade_core::ip::Family::of(*ip) == cidr.family)
            })
            .count();
        let taken = used.iter().filter(|ip| cidr.contains(**ip)).count();
        if needing as u128 > usable.saturating_sub(taken as u128) {
            return Err(format!(
                "{cidr} has room for {usable} pod addresses, {taken} of them taken by pods \
                 that carry theirs; {needing} pods without an address need one: give a larger --pod-cidr"
            ));
        }
        for pod in pods.iter_mut() {
            if pod
                .ips
                .iter()
                .any(|ip| palisade_core::ip::Family::of(*ip) == cidr.family)
            {
                continue;
            }
            let mut slot = fnv1a(&format!("{}/{}", pod.namespace, pod.name)) as u128 % usable;
            loop {
                let ip = cidr.nth(slot + 1);
                if used.insert(ip) {
                    pod.ips.push(ip);
                    break;
                }
                slot = (slot + 1) % usable;
            }
        }
    }
    Ok(())
}

fn fnv1a(s: &str) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in s.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}
