//! `GET /api/coverage`: per namespace and per workload unit, the pods each direction
//! isolates, whether DNS and monitoring reach them, and lint's findings about them (lint
//! with its default options, run once per analysis) with their fixes.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::response::Response;
use palisade_core::Protocol;
use serde::Serialize;

use super::api::{json_text, Shared};
use super::Analysis;
use crate::analyze::{units, Unit};

#[derive(Serialize)]
pub struct CoverageJson {
    namespaces: Vec<NamespaceCoverageJson>,
}

#[derive(Serialize)]
struct NamespaceCoverageJson {
    /// Pods a ClusterNetworkPolicy selects.
    cluster_policy_pods: usize,
    /// `true`/`false` from lint's PAL001 (PAL002); `null` where lint's coverage rules do
    /// not look (kube-system and the platform's own namespaces).
    default_deny_egress: Option<bool>,
    default_deny_ingress: Option<bool>,
    /// No DNS finding (PAL003/PAL004) names a pod of the namespace.
    dns: bool,
    findings: Vec<FindingJson>,
    isolated_egress: usize,
    isolated_ingress: usize,
    /// Every metrics port of its pods is reachable from the monitoring namespace's pods;
    /// `null` when no pod declares one.
    monitoring: Option<bool>,
    namespace: String,
    pods: usize,
    workloads: Vec<WorkloadCoverageJson>,
}

/// One workload unit (as the map and `analyze` draw them).
#[derive(Serialize)]
struct WorkloadCoverageJson {
    cluster_policies: bool,
    /// It reaches a cluster DNS pod (lint's DNS namespace and labels) on UDP 53; `null`
    /// when the input has no DNS pod.
    dns: Option<bool>,
    /// Indices into the namespace's `findings` about its pods' object.
    findings: Vec<usize>,
    isolated_egress: bool,
    isolated_ingress: bool,
    /// Its metrics ports (by name: `metrics`, `http-metrics`, `prometheus`) are each
    /// reachable from some pod of the monitoring namespace; `null` without such a port.
    monitoring: Option<bool>,
    name: String,
    pods: usize,
}

#[derive(Serialize)]
struct FindingJson {
    fix: Option<String>,
    message: String,
    name: &'static str,
    /// `Kind namespace/name`.
    object: Option<String>,
    rule: &'static str,
    severity: String,
}

const DNS_RULES: [&str; 2] = ["PAL003", "PAL004"];

pub async fn coverage(State(live): Shared) -> Response {
    let a = live.current();
    let body = a
        .cache
        .coverage
        .get_or_init(|| serde_json::to_string(&coverage_of(&a)).expect("json"));
    json_text(body.clone())
}

/// The coverage of an analysis (computed once, kept as JSON).
pub fn coverage_of(a: &Analysis) -> CoverageJson {
    let by_unit = units(&a.report, |i| a.report.endpoints[i].is_pod);
    let mut namespaces = Vec::new();
    for n in &a.cluster.namespaces {
        let mine: Vec<&Unit> = by_unit
            .iter()
            .filter(|u| u.namespace.as_deref() == Some(&n.name))
            .collect();
        namespaces.push(namespace_coverage(a, &n.name, &mine));
    }
    CoverageJson { namespaces }
}

fn namespace_coverage(a: &Analysis, ns: &str, units: &[&Unit]) -> NamespaceCoverageJson {
    let skipped = a.skipped_namespaces.iter().any(|s| s == ns);
    let findings: Vec<&palisade_check::lint::Finding> = a
        .lint
        .findings
        .iter()
        .filter(|f| {
            f.object.as_ref().is_some_and(|o| {
                o.namespace.as_deref() == Some(ns) || (o.kind == "Namespace" && o.name == ns)
            })
        })
        .collect();
    let has = |rule: &str| findings.iter().any(|f| f.rule == rule);
    let workloads: Vec<WorkloadCoverageJson> =
        units.iter().map(|u| workload_coverage(a, u, &findings)).collect();
    let count =
        |f: fn(&WorkloadCoverageJson) -> bool| workloads.iter().filter(|w| f(w)).map(|w| w.pods).sum();
    let monitored: Vec<bool> = workloads.iter().filter_map(|w| w.monitoring).collect();
    NamespaceCoverageJson {
        cluster_policy_pods: count(|w| w.cluster_policies),
        default_deny_egress: (!skipped).then_some(!has("PAL002")),
        default_deny_ingress: (!skipped).then_some(!has("PAL001")),
        dns: !DNS_RULES.iter().any(|r| has(r)),
        isolated_egress: count(|w| w.isolated_egress),
        isolated_ingress: count(|w| w.isolated_ingress),
        monitoring: (!monitored.is_empty()).then(|| monitored.iter().all(|m| *m)),
        namespace: ns.to_string(),
        pods: workloads.iter().map(|w| w.pods).sum(),
        workloads,
        findings: findings
            .iter()
            .map(|f| FindingJson {
                fix: f.fix.clone(),
                message: f.message.clone(),
                name: f.name,
                object: Some(f.object_text()),
                rule: f.rule,
                severity: f.severity.to_string(),
            })
            .collect(),
    }
}

fn workload_coverage(
    a: &Analysis,
    u: &Unit,
    findings: &[&palisade_check::lint::Finding],
) -> WorkloadCoverageJson {
    let first = u.members[0];
    let class = &a.compiled.classes[a.report.endpoints[first].class];
    // The objects its pods were read from (a workload, or the pods themselves).
    let sources: Vec<&palisade_core::ObjectRef> = u
        .members
        .iter()
        .filter_map(|&m| a.cluster.pods[m].source.as_ref())
        .collect();
    let about: Vec<usize> = findings
        .iter()
        .enumerate()
        .filter(|(_, f)| f.object.as_ref().is_some_and(|o| sources.contains(&o)))
        .map(|(i, _)| i)
        .collect();
    WorkloadCoverageJson {
        cluster_policies: !class.cluster_policies.is_empty(),
        dns: dns_reaches(a, first),
        findings: about,
        isolated_egress: !class.egress_policies.is_empty(),
        isolated_ingress: !class.ingress_policies.is_empty(),
        monitoring: monitoring_reaches(a, first),
        name: u.name.clone(),
        pods: u.members.len(),
    }
}

/// Whether pod `source` reaches some cluster DNS pod on UDP 53 (the report's ranges);
/// `None` when the input has no DNS pod.
fn dns_reaches(a: &Analysis, source: usize) -> Option<bool> {
    let lint = palisade_check::lint::LintOptions::default();
    let dns: Vec<usize> = (0..a.cluster.pods.len())
        .filter(|&i| {
            let p = &a.cluster.pods[i];
            p.namespace == lint.dns_namespace
                && lint.dns_labels.iter().all(|(k, v)| p.labels.get(k) == Some(v))
        })
        .collect();
    if dns.is_empty() {
        return None;
    }
    Some(dns.iter().any(|&d| {
        d == source
            || a.report
                .ranges(source, d, Protocol::Udp)
                .iter()
                .any(|&(lo, hi)| lo <= 53 && 53 <= hi)
    }))
}

/// Whether each metrics port of pod `target` is reachable from some pod of the monitoring
/// namespace (the report's ranges); `None` without a metrics port.
fn monitoring_reaches(a: &Analysis, target: usize) -> Option<bool> {
    let ports: Vec<(u16, Protocol)> = a.cluster.pods[target]
        .ports
        .iter()
        .filter(|p| p.name.as_deref().is_some_and(palisade_check::lint::is_metrics))
        .map(|p| (p.port, p.protocol))
        .collect();
    if ports.is_empty() {
        return None;
    }
    let monitoring = palisade_check::lint::LintOptions::default().monitoring_namespace;
    // Scrapers judged alike are asked once.
    let mut scrapers: BTreeMap<(usize, Option<palisade_core::compile::NodeTie>), usize> = BTreeMap::new();
    for (i, e) in a.report.endpoints.iter().enumerate() {
        if e.is_pod && e.namespace.as_deref() == Some(monitoring.as_str()) && i != target {
            scrapers.entry((e.class, e.node)).or_insert(i);
        }
    }
    Some(ports.iter().all(|&(port, proto)| {
        scrapers.values().any(|&s| {
            a.report
                .ranges(s, target, proto)
                .iter()
                .any(|&(lo, hi)| lo <= port && port <= hi)
        })
    }))
}
