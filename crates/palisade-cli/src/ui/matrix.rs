//! `GET /api/matrix`: the namespace × namespace share of pod pairs allowed, and its
//! drill-down `GET /api/matrix/workloads`: one namespace pair's workload units, each cell
//! with its ports and an example pair. A unit's pods are alike (one class, one tie to a
//! node), so a cell's verdict holds for each of its pod pairs: the pod level is the
//! units' pod lists.

use std::collections::BTreeMap;

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use palisade_core::compile::NodeTie;
use palisade_core::report::ranges_text;
use palisade_core::Protocol;
use serde::{Deserialize, Serialize};

use super::api::{bad_request, json_text, Asked, Shared};
use super::Analysis;
use crate::analyze::units;

/// `GET /api/matrix`: per ordered namespace pair, the share of pod pairs (self excluded)
/// allowed on at least one port of some protocol.
#[derive(Serialize)]
pub struct MatrixJson {
    /// `allowed[i][j]`: allowed pod pairs from namespace i to namespace j.
    allowed: Vec<Vec<u64>>,
    namespaces: Vec<String>,
    /// `pairs[i][j]`: all pod pairs from namespace i to namespace j.
    pairs: Vec<Vec<u64>>,
}

pub async fn matrix(State(live): Shared) -> Response {
    let a = live.current();
    let body = a
        .cache
        .matrix
        .get_or_init(|| serde_json::to_string(&matrix_of(&a)).expect("json"));
    json_text(body.clone())
}

pub fn matrix_of(a: &Analysis) -> MatrixJson {
    let r = &a.report;
    // Pods judged alike: same namespace, class and tie to a node; counted once per group.
    type Key = (String, usize, Option<NodeTie>);
    let mut groups: BTreeMap<Key, Vec<usize>> = BTreeMap::new();
    for (i, e) in r.endpoints.iter().enumerate().filter(|(_, e)| e.is_pod) {
        let ns = e.namespace.clone().unwrap_or_default();
        groups.entry((ns, e.class, e.node)).or_default().push(i);
    }
    let namespaces: Vec<String> = {
        let mut v: Vec<String> = groups.keys().map(|k| k.0.clone()).collect();
        v.dedup();
        v
    };
    let index: BTreeMap<&str, usize> = namespaces
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_str(), i))
        .collect();
    let n = namespaces.len();
    let (mut allowed, mut pairs) = (vec![vec![0u64; n]; n], vec![vec![0u64; n]; n]);
    let any = |x: usize, y: usize| Protocol::ALL.iter().any(|p| !r.ranges(x, y, *p).is_empty());
    for ((na, ..), ma) in &groups {
        for ((nb, ..), mb) in &groups {
            let (i, j) = (index[na.as_str()], index[nb.as_str()]);
            let same = std::ptr::eq(ma, mb);
            let count = if same {
                (ma.len() * (ma.len() - 1)) as u64
            } else {
                (ma.len() * mb.len()) as u64
            };
            pairs[i][j] += count;
            if count == 0 {
                continue;
            }
            let (x, y) = if same { (ma[0], ma[1]) } else { (ma[0], mb[0]) };
            if any(x, y) {
                allowed[i][j] += count;
            }
        }
    }
    MatrixJson {
        allowed,
        namespaces,
        pairs,
    }
}

#[derive(Deserialize)]
pub struct WorkloadsQuery {
    from: String,
    to: String,
}

/// `GET /api/matrix/workloads`: from one namespace's units to another's.
#[derive(Serialize)]
struct WorkloadsJson {
    /// `cells[i][j]`: from `rows[i]` to `cols[j]`.
    cells: Vec<Vec<CellJson>>,
    cols: Vec<UnitPods>,
    from: String,
    rows: Vec<UnitPods>,
    to: String,
}

#[derive(Serialize)]
struct UnitPods {
    name: String,
    pods: Vec<String>,
}

#[derive(Serialize)]
struct CellJson {
    /// Pod pairs allowed on some port (all of the cell's or none: its pods are alike).
    allowed: u64,
    /// One pod pair of the cell, for explain (`null` for a one-pod unit with itself).
    example: Option<(String, String)>,
    /// Pod pairs (self pairs excluded).
    pairs: u64,
    sctp: String,
    tcp: String,
    udp: String,
}

/// The most units on one side of the drill-down.
const MAX_UNITS: usize = 500;

pub async fn workloads(State(live): Shared, q: Asked<WorkloadsQuery>) -> Response {
    let q = match q {
        Ok(Query(q)) => q,
        Err(e) => return bad_request(e.body_text()),
    };
    let a = live.current();
    let r = &a.report;
    let side = |ns: &str| -> Result<Vec<crate::analyze::Unit>, String> {
        if !a.cluster.namespaces.iter().any(|n| n.name == ns) {
            return Err(format!("no namespace {ns} in the input"));
        }
        let u = units(r, |i| {
            r.endpoints[i].is_pod && r.endpoints[i].namespace.as_deref() == Some(ns)
        });
        if u.len() > MAX_UNITS {
            return Err(format!(
                "{ns} has {} workload units, more than {MAX_UNITS} to show",
                u.len()
            ));
        }
        Ok(u)
    };
    let (rows, cols) = match (side(&q.from), side(&q.to)) {
        (Ok(r), Ok(c)) => (r, c),
        (Err(e), _) | (_, Err(e)) => return bad_request(e),
    };
    let pods = |u: &crate::analyze::Unit| UnitPods {
        name: u.name.clone(),
        pods: u.members.iter().map(|&m| r.endpoints[m].name.clone()).collect(),
    };
    let cells = rows
        .iter()
        .map(|ru| {
            cols.iter()
                .map(|cu| {
                    let same = std::ptr::eq(ru, cu) || ru.members == cu.members;
                    let x = ru.members[0];
                    let y = cu.members.iter().copied().find(|&y| y != x);
                    let pairs = if same {
                        (ru.members.len() * (ru.members.len() - 1)) as u64
                    } else {
                        (ru.members.len() * cu.members.len()) as u64
                    };
                    let text = |p: Protocol| y.map_or("-".to_string(), |y| ranges_text(r.ranges(x, y, p)));
                    let [tcp, udp, sctp] = Protocol::ALL.map(text);
                    let any = [&tcp, &udp, &sctp].iter().any(|t| *t != "-");
                    CellJson {
                        allowed: if any { pairs } else { 0 },
                        example: y.map(|y| (r.endpoints[x].name.clone(), r.endpoints[y].name.clone())),
                        pairs,
                        sctp,
                        tcp,
                        udp,
                    }
                })
                .collect()
        })
        .collect();
    Json(WorkloadsJson {
        cells,
        cols: cols.iter().map(pods).collect(),
        from: q.from,
        rows: rows.iter().map(pods).collect(),
        to: q.to,
    })
    .into_response()
}
