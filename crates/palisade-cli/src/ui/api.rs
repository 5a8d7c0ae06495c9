//! The JSON API the pages read (described in `openapi.yaml`). Every answer comes from the
//! compiled form and the report (the same as `analyze`), or from `explain` (the same as
//! `palisade explain -o json`). Fields are declared in alphabetical order.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use palisade_core::explain;
pub(super) use palisade_core::report::Report;
use serde::{Deserialize, Serialize};

use super::{Analysis, Live};

pub(super) type Shared = State<Arc<Live>>;

pub fn router(analysis: Arc<Live>) -> Router {
    Router::new()
        .route("/api/overview", get(overview))
        .route("/api/status", get(status))
        .route("/api/map", get(super::map::map))
        .route("/api/matrix", get(super::matrix::matrix))
        .route("/api/matrix/workloads", get(super::matrix::workloads))
        .route("/api/coverage", get(super::coverage::coverage))
        .route("/api/policies", get(policies))
        .route("/api/policy", get(policy))
        .route("/api/change", get(change))
        .route("/api/explain", get(explain_pair))
        .route("/api/flows", get(flows))
        .route("/api/openapi.yaml", get(openapi))
        .with_state(analysis)
}

/// An answer the client should not have asked for: 400 with `{"error": …}`.
pub(super) fn bad_request(message: String) -> Response {
    (StatusCode::BAD_REQUEST, Json(ErrorJson { error: message })).into_response()
}

#[derive(Serialize)]
struct ErrorJson {
    error: String,
}

/// `GET /api/overview`.
#[derive(Serialize)]
struct OverviewJson {
    classes: usize,
    cluster_policies: usize,
    /// How many times the input was analysed again since start (it is watched).
    generation: u64,
    input: String,
    namespaces: Vec<String>,
    pods: Vec<String>,
    policies: usize,
    /// Why the input's last change could not be analysed (the previous answer stays).
    problem: Option<String>,
}

/// `GET /api/status`: what the page polls (small, unlike the overview's pod list).
#[derive(Serialize)]
struct StatusJson {
    generation: u64,
    problem: Option<String>,
}

async fn status(State(live): Shared) -> Json<StatusJson> {
    Json(StatusJson {
        generation: live.generation(),
        problem: live.problem(),
    })
}

async fn overview(State(live): Shared) -> Json<OverviewJson> {
    let a = live.current();
    Json(OverviewJson {
        classes: a.compiled.class_count(),
        cluster_policies: a.cluster.cluster_policies.len(),
        generation: live.generation(),
        input: a.input.clone(),
        namespaces: a.cluster.namespaces.iter().map(|n| n.name.clone()).collect(),
        pods: a.cluster.pods.iter().map(|p| p.key()).collect(),
        policies: a.cluster.policies.len(),
        problem: live.problem(),
    })
}

/// A query string the handler could not read: 400 with `{"error": …}` as any other.
pub(super) type Asked<T> = Result<Query<T>, axum::extract::rejection::QueryRejection>;

/// A JSON document already serialized.
pub(super) fn json_text(body: String) -> Response {
    ([(axum::http::header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// Answers that do not depend on the request, computed on first use.
#[derive(Default)]
pub struct Cache {
    pub(super) map: std::sync::OnceLock<String>,
    pub(super) matrix: std::sync::OnceLock<String>,
    policies: std::sync::OnceLock<String>,
    pub(super) coverage: std::sync::OnceLock<String>,
}

impl Cache {
    /// Computes the default map, the matrix and the coverage now (at start, before the
    /// first page).
    pub fn warm(a: &Analysis) {
        let map =
            super::map::map_of(a, &Default::default()).expect("the default map has no parameters to refuse");
        let _ = a.cache.map.set(serde_json::to_string(&map).expect("json"));
        let _ = a
            .cache
            .matrix
            .set(serde_json::to_string(&super::matrix::matrix_of(a)).expect("json"));
        let coverage = super::coverage::coverage_of(a);
        let _ = a
            .cache
            .coverage
            .set(serde_json::to_string(&coverage).expect("json"));
    }
}

/// One policy for the policy view (`GET /api/policies`): its text as written, the pods it
/// applies to, and where it was read.
#[derive(Clone, Serialize)]
pub struct PolicyView {
    /// For a NetworkPolicy: what each of its rules allows (`null` for cluster-scoped
    /// kinds, whose rules also deny and pass: explain shows those).
    allows: Option<Vec<RuleView>>,
    /// The directions it isolates its pods for (`ingress`, `egress`).
    isolates: Vec<&'static str>,
    /// `NetworkPolicy`, `ClusterNetworkPolicy`, `AdminNetworkPolicy`, …
    kind: String,
    name: String,
    /// `null` for cluster-scoped kinds.
    namespace: Option<String>,
    /// The pods it selects (`ns/pod`).
    pods: Vec<String>,
    /// The file it was read from; `null` for objects from the API.
    source: Option<String>,
    /// Staged (`palisade.dev/mode: shadow`): loaded, not enforced.
    staged: bool,
    /// Admin or Baseline for ClusterNetworkPolicies.
    tier: Option<&'static str>,
    /// The object as YAML (from the file's document); `null` for objects from the API.
    yaml: Option<String>,
}

/// One rule of a NetworkPolicy: the peers it admits (ORed) and the ports (ORed).
#[derive(Clone, Serialize)]
pub struct RuleView {
    /// `ingress` (from the peers) or `egress` (to them).
    direction: &'static str,
    /// Every peer, when the rule names none.
    peers: Vec<PeerView>,
    /// `TCP 8080`, `UDP 53-54`, `TCP port named http`; empty: every port.
    ports: Vec<String>,
    /// Its index in the policy's list for that direction.
    rule: usize,
}

#[derive(Clone, Serialize)]
pub struct PeerView {
    /// `pods` (pod and namespace selectors) or `ipBlock`.
    kind: &'static str,
    /// How many pods it selects now (0 for an ipBlock: blocks are addresses).
    pod_count: usize,
    /// The pods it selects now (`ns/pod`, at most 100).
    pods: Vec<String>,
    /// The peer in words (`pods app=web in namespaces team=a`, `ipBlock 10.0.0.0/8`).
    text: String,
}

/// The most pods a peer lists.
const MAX_PEER_PODS: usize = 100;

fn rule_views(c: &palisade_core::Cluster, p: &palisade_core::Policy) -> Vec<RuleView> {
    use palisade_core::{Peer, PortMatch};
    let selector = |s: Option<&palisade_core::LabelSelector>, all: &str| match s.map(ToString::to_string) {
        Some(t) if !t.is_empty() => t,
        _ => all.to_string(),
    };
    let peer = |x: &Peer| match x {
        Peer::Pods {
            namespace_selector,
            pod_selector,
        } => {
            let pods = c.peer_pods(&p.namespace, namespace_selector.as_ref(), pod_selector.as_ref());
            let namespaces = match namespace_selector {
                None => format!("namespace {}", p.namespace),
                Some(_) => format!("namespaces {}", selector(namespace_selector.as_ref(), "(all)")),
            };
            PeerView {
                kind: "pods",
                pod_count: pods.len(),
                pods: pods
                    .iter()
                    .take(MAX_PEER_PODS)
                    .map(|&i| c.pods[i].key())
                    .collect(),
                text: format!(
                    "pods {} in {namespaces}",
                    selector(pod_selector.as_ref(), "(all)")
                ),
            }
        }
        Peer::IpBlock(b) => PeerView {
            kind: "ipBlock",
            pod_count: 0,
            pods: Vec::new(),
            text: format!("ipBlock {b}"),
        },
    };
    let mut out = Vec::new();
    for ingress in [true, false] {
        for (i, r) in p.rules(ingress).iter().enumerate() {
            out.push(RuleView {
                direction: if ingress { "ingress" } else { "egress" },
                peers: r.peers.iter().map(peer).collect(),
                ports: r
                    .ports
                    .iter()
                    .map(|pp| match &pp.port {
                        PortMatch::All => format!("{} (every port)", pp.protocol),
                        PortMatch::Range(lo, hi) => {
                            format!("{} {}", pp.protocol, palisade_core::port_range_text(*lo, *hi))
                        }
                        PortMatch::Named(n) => format!("{} port named {n}", pp.protocol),
                    })
                    .collect(),
                rule: i,
            });
        }
    }
    out
}

/// The policy views of a cluster; with the files it was loaded from, each policy's text
/// and file (parsed once, at start).
pub fn policy_views(
    c: &palisade_core::Cluster,
    compiled: &palisade_core::Compiled,
    loaded: Option<&palisade_load::Loaded>,
) -> Vec<PolicyView> {
    let mut refs: Vec<palisade_core::ObjectRef> = c.policies.iter().map(|p| p.object_ref()).collect();
    // Enforced ClusterNetworkPolicies, then staged ones; each with the kind it was read as.
    let cnps: Vec<(&palisade_core::ClusterPolicy, bool)> = c
        .cluster_policies
        .iter()
        .map(|p| (p, false))
        .chain(c.shadow_cluster_policies.iter().map(|p| (p, true)))
        .collect();
    let cnp_kinds: Vec<String> = cnps
        .iter()
        .map(|(p, _)| {
            [
                "ClusterNetworkPolicy",
                "AdminNetworkPolicy",
                "BaselineAdminNetworkPolicy",
            ]
            .into_iter()
            .find(|k| {
                loaded.is_some_and(|l| {
                    l.origins
                        .contains_key(&palisade_core::ObjectRef::new(k, None, &p.name))
                })
            })
            .unwrap_or("ClusterNetworkPolicy")
            .to_string()
        })
        .collect();
    refs.extend(
        cnps.iter()
            .zip(&cnp_kinds)
            .map(|((p, _), k)| palisade_core::ObjectRef::new(k, None, &p.name)),
    );
    let values = match loaded {
        Some(l) => l.object_values(&refs.iter().collect::<Vec<_>>()),
        None => vec![None; refs.len()],
    };
    let file = |r: &palisade_core::ObjectRef| {
        let l = loaded?;
        l.origins.get(r).map(|o| l.texts[o.file].0.clone())
    };
    let mut out = Vec::new();
    let staged_from = refs.len();
    refs.extend(c.shadow_policies.iter().map(|p| p.object_ref()));
    let staged_values = match loaded {
        Some(l) => l.object_values(&refs[staged_from..].iter().collect::<Vec<_>>()),
        None => vec![None; refs.len() - staged_from],
    };
    let network_policies = c
        .policies
        .iter()
        .enumerate()
        .map(|(i, p)| (p, false, &refs[i], values[i].as_ref()))
        .chain(
            c.shadow_policies
                .iter()
                .enumerate()
                .map(|(i, p)| (p, true, &refs[staged_from + i], staged_values[i].as_ref())),
        );
    for (p, staged, r, value) in network_policies {
        let isolates = [("ingress", p.types.ingress), ("egress", p.types.egress)];
        out.push(PolicyView {
            allows: Some(rule_views(c, p)),
            isolates: isolates
                .into_iter()
                .filter(|(_, on)| *on)
                .map(|(d, _)| d)
                .collect(),
            kind: "NetworkPolicy".into(),
            name: p.name.clone(),
            namespace: Some(p.namespace.clone()),
            pods: c.subject_pods(p).into_iter().map(|i| c.pods[i].key()).collect(),
            source: file(r),
            staged,
            tier: None,
            yaml: value.map(palisade_load::emit::yaml),
        });
    }
    let n = c.policies.len();
    let ns_labels = |ns: &str| c.namespace(ns).map(|n| n.labels.clone()).unwrap_or_default();
    for (k, (p, staged)) in cnps.iter().enumerate() {
        // Enforced: the pods of the classes it applies to; staged: its subject read
        // directly (the compiled form does not know it).
        let pods = (0..c.pods.len())
            .filter(|&i| {
                if *staged {
                    p.subject.picks(&c.pods[i], &ns_labels(&c.pods[i].namespace))
                } else {
                    compiled.classes[compiled.pod_class(i)]
                        .cluster_policies
                        .contains(&k)
                }
            })
            .map(|i| c.pods[i].key())
            .collect();
        out.push(PolicyView {
            allows: None,
            isolates: Vec::new(),
            kind: cnp_kinds[k].clone(),
            name: p.name.clone(),
            namespace: None,
            pods,
            source: file(&refs[n + k]),
            staged: *staged,
            tier: Some(p.tier.as_str()),
            yaml: values[n + k].as_ref().map(palisade_load::emit::yaml),
        });
    }
    out
}

/// `GET /api/policies`: every policy, in short (the detail is `/api/policy`, one at a
/// time: at 2,000 policies the whole detail is megabytes).
#[derive(Serialize)]
struct PolicySummary<'a> {
    kind: &'a str,
    name: &'a str,
    namespace: Option<&'a str>,
    /// How many pods it selects.
    pod_count: usize,
    /// Staged (`palisade.dev/mode: shadow`): loaded, not enforced.
    staged: bool,
    tier: Option<&'static str>,
}

async fn policies(State(live): Shared) -> Response {
    let a = live.current();
    let body = a.cache.policies.get_or_init(|| {
        let list: Vec<PolicySummary> = a
            .policies
            .iter()
            .map(|p| PolicySummary {
                kind: &p.kind,
                name: &p.name,
                namespace: p.namespace.as_deref(),
                pod_count: p.pods.len(),
                staged: p.staged,
                tier: p.tier,
            })
            .collect();
        serde_json::to_string(&list).expect("json")
    });
    json_text(body.clone())
}

#[derive(Deserialize)]
struct PolicyQuery {
    kind: String,
    name: String,
    namespace: Option<String>,
}

/// `GET /api/policy`: one policy in full, or 404.
async fn policy(State(live): Shared, q: Asked<PolicyQuery>) -> Response {
    let q = match q {
        Ok(Query(q)) => q,
        Err(e) => return bad_request(e.body_text()),
    };
    let a = live.current();
    match a
        .policies
        .iter()
        .find(|p| p.kind == q.kind && p.name == q.name && p.namespace == q.namespace)
    {
        Some(p) => Json(p).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            Json(ErrorJson {
                error: format!(
                    "no {} {}{} in the input",
                    q.kind,
                    q.namespace.map(|n| n + "/").unwrap_or_default(),
                    q.name
                ),
            }),
        )
            .into_response(),
    }
}

/// `GET /api/change`: what the input opens and closes against `--old`/`--git` (the
/// document of `palisade diff -o json`), or 404 when the UI was started without one.
#[derive(Serialize)]
pub struct ChangeView {
    /// What the input was compared against (paths, or `git REV`).
    pub against: String,
    pub diff: palisade_check::diff::Diff,
}

async fn change(State(live): Shared) -> Response {
    let a = live.current();
    match &a.change {
        Some(c) => Json(c).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            Json(ErrorJson {
                error: "no change to show: start palisade ui with --old PATH or --git REV".into(),
            }),
        )
            .into_response(),
    }
}

#[derive(Deserialize)]
struct ExplainQuery {
    from: String,
    to: String,
    port: String,
}

/// `GET /api/explain`: the answer of `palisade explain -o json`.
async fn explain_pair(State(live): Shared, q: Asked<ExplainQuery>) -> Response {
    let q = match q {
        Ok(Query(q)) => q,
        Err(e) => return bad_request(e.body_text()),
    };
    let a = live.current();
    let c = &a.cluster;
    let endpoint = |s: &str| crate::explain::resolve(c, "default", s).map_err(|e| e.to_string());
    let (from, to) = match (endpoint(&q.from), endpoint(&q.to)) {
        (Ok(f), Ok(t)) => (f, t),
        (Err(e), _) | (_, Err(e)) => return bad_request(e),
    };
    let (port, proto) = match crate::analyze::parse_port(&q.port) {
        Ok(p) => p,
        Err(e) => return bad_request(e.to_string()),
    };
    let e = explain(c, &a.options, &from, &to, proto, port);
    Json(crate::explain::to_json(c, &from, &to, &e)).into_response()
}

#[derive(Deserialize)]
struct FlowsQuery {
    /// Only flows after this sequence number.
    #[serde(default)]
    after: u64,
    /// Seconds to wait for a flow when none is newer (long polling; at most 30).
    #[serde(default)]
    wait: u64,
    /// At most this many (the newest), 500 by default.
    limit: Option<usize>,
    #[serde(flatten)]
    filter: FlowFilterQuery,
}

/// The filters of `palisade flows`.
#[derive(Deserialize)]
struct FlowFilterQuery {
    namespace: Option<String>,
    pod: Option<String>,
    policy: Option<String>,
    verdict: Option<crate::flows::Verdict>,
}

/// `GET /api/flows`: the newest flows, each with the map endpoints it is drawn between.
#[derive(Serialize)]
struct FlowsJson {
    flows: Vec<FlowJson>,
    /// The newest sequence number (ask `after` it next, whether or not it passed).
    last: u64,
    /// Where the flows come from.
    source: String,
    /// Lines of the flow log that were not flow records (skipped).
    unreadable: u64,
}

#[derive(Serialize)]
struct FlowJson {
    /// The destination's endpoint (`ns/pod`, or the external block holding the address),
    /// as the map names it; `null` when the analysis has none.
    dst: Option<String>,
    /// The policy that decided (`default-deny` for a denial nothing allowed; empty when no
    /// policy did).
    policy: String,
    /// The flow-log record as written.
    record: palisade_nft::FlowRecord,
    seq: u64,
    /// The source's endpoint, as for `dst`.
    src: Option<String>,
    /// `Admin`, `Baseline` or `NetworkPolicy`: the tier of `policy`.
    tier: String,
}

/// The most flows one answer carries.
const MAX_FLOWS: usize = 10_000;
/// The longest a request waits for a flow.
const MAX_WAIT: u64 = 30;

async fn flows(State(live): Shared, q: Asked<FlowsQuery>) -> Response {
    let q = match q {
        Ok(Query(q)) => q,
        Err(e) => return bad_request(e.body_text()),
    };
    let Some(feed) = live.feed.clone() else {
        return (
            StatusCode::NOT_FOUND,
            Json(ErrorJson {
                error: "no flows to show: start palisade ui with --flows FILE, or palisade agent with --ui"
                    .into(),
            }),
        )
            .into_response();
    };
    let filter = crate::flows::FlowFilter {
        verdict: q.filter.verdict,
        namespace: q.filter.namespace,
        pod: q.filter.pod,
        policy: q.filter.policy,
    };
    let limit = q.limit.unwrap_or(500).min(MAX_FLOWS);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(q.wait.min(MAX_WAIT));
    let mut arrivals = feed.watch();
    let (list, last, unreadable) = loop {
        arrivals.borrow_and_update();
        let (list, last, unreadable) = feed.since(q.after, &filter, limit);
        if !list.is_empty() || tokio::time::Instant::now() >= deadline {
            break (list, last, unreadable);
        }
        // Nothing new passes yet: wait for the next arrival (or the deadline, then answer).
        let _ = tokio::time::timeout_at(deadline, arrivals.changed()).await;
    };
    let a = live.current();
    let endpoints = EndpointNames::new(&a);
    Json(FlowsJson {
        flows: list
            .into_iter()
            .map(|f| FlowJson {
                dst: endpoints.of(&f.record.dst, f.record.dst_ip),
                policy: f.record.deciding_policy().to_string(),
                seq: f.seq,
                src: endpoints.of(&f.record.src, f.record.src_ip),
                tier: f.record.deciding_tier().to_string(),
                record: f.record,
            })
            .collect(),
        last,
        source: feed.source.clone(),
        unreadable,
    })
    .into_response()
}

/// Report endpoint names of flow ends: a pod the analysis has, else the most specific
/// external block holding the address.
struct EndpointNames<'a> {
    pods: std::collections::HashSet<&'a str>,
    externals: &'a [palisade_core::External],
}

impl<'a> EndpointNames<'a> {
    fn new(a: &'a Analysis) -> Self {
        EndpointNames {
            pods: a
                .report
                .endpoints
                .iter()
                .filter(|e| e.is_pod)
                .map(|e| e.name.as_str())
                .collect(),
            externals: &a.cluster.externals,
        }
    }

    fn of(&self, end: &palisade_nft::FlowEnd, ip: std::net::IpAddr) -> Option<String> {
        if let palisade_nft::FlowEnd::Pod { .. } = end {
            let name = end.to_string();
            return self.pods.contains(name.as_str()).then_some(name);
        }
        self.externals
            .iter()
            .filter(|x| x.cidr.contains(ip))
            .max_by_key(|x| x.cidr.prefix)
            .map(|x| x.name.clone())
    }
}

async fn openapi() -> impl IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "application/yaml")],
        include_str!("openapi.yaml"),
    )
}
