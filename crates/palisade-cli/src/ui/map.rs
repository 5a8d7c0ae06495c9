//! `GET /api/map`: nodes (a namespace collapsed into one, or the display units of
//! `analyze -o table` in an expanded one) and the edges between them: allowed connections
//! with their ports (by default), or on demand the denied pairs or the half-open ones (one
//! side allows, the other denies). The server works on groups of endpoints the engine
//! judges alike (node, class, tie to a node), so the browser never gets the pod matrix.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use palisade_core::compile::NodeTie;
use palisade_core::report::{merge, ranges_text};
use palisade_core::{LabelSelector, Protocol};
use serde::{Deserialize, Serialize};

use super::api::{bad_request, json_text, Asked, Report, Shared};
use super::Analysis;
use crate::analyze::units;

#[derive(Default, Deserialize)]
pub struct MapQuery {
    /// Only edges with an end in this namespace.
    namespace: Option<String>,
    /// Only edges between two namespaces.
    #[serde(default)]
    cross_namespace: bool,
    /// Namespaces drawn workload by workload (comma-separated); the others are one node
    /// each. Absent: every namespace when there are at most 300 workload units, else none.
    expand: Option<String>,
    /// Only edges with an end holding a pod these labels select (kubectl `-l` syntax).
    labels: Option<String>,
    /// `PORT[/PROTO]`: only this port (TCP when no protocol is given).
    port: Option<String>,
    /// Only this protocol (`TCP`, `UDP`, `SCTP`).
    protocol: Option<String>,
    /// Which pairs: `allowed`, `denied` or `half-open` (which needs `port`).
    #[serde(default)]
    pairs: Pairs,
}

impl MapQuery {
    /// The map every page asks first (kept as JSON).
    fn is_default(&self) -> bool {
        self.namespace.is_none()
            && !self.cross_namespace
            && self.expand.is_none()
            && self.labels.is_none()
            && self.port.is_none()
            && self.protocol.is_none()
            && self.pairs == Pairs::Allowed
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum Pairs {
    /// Connections allowed on some port (or on `port`).
    #[default]
    Allowed,
    /// Node pairs no pod pair of which is allowed (on `port`, or on any port).
    Denied,
    /// Pairs where one side allows `port` and the other denies it, both sides being
    /// isolated (lint's PAL018 half-open-flow).
    HalfOpen,
}

#[derive(Serialize)]
pub struct MapJson {
    /// The namespaces drawn as one node.
    collapsed: Vec<String>,
    edges: Vec<EdgeJson>,
    truncated: bool,
    units: Vec<UnitJson>,
}

#[derive(Serialize)]
struct UnitJson {
    /// Whether it is a whole namespace.
    collapsed: bool,
    id: usize,
    name: String,
    /// `null` for external blocks.
    namespace: Option<String>,
    /// How many pods it holds.
    pod_count: usize,
    /// Its pods (`ns/pod`), for units of an expanded namespace (empty when collapsed).
    pods: Vec<String>,
}

/// One edge: ports allowed from one node to another for new connections (`-` none,
/// `all`), or a denied or half-open pair.
#[derive(Serialize)]
struct EdgeJson {
    /// One pod pair the edge stands for, for explain.
    example: (String, String),
    from: usize,
    /// `allowed`, `denied` or `half-open`.
    kind: &'static str,
    /// For a half-open edge: the side that allows (`egress`, `ingress`, or both when the
    /// edge's pod pairs differ).
    open_side: Option<&'static str>,
    /// Opened by the change (`--old`/`--git`): `palisade diff` lists this pair of groups.
    opened: bool,
    sctp: String,
    tcp: String,
    to: usize,
    udp: String,
}

/// The most edges one answer carries.
const MAX_EDGES: usize = 20_000;
/// Up to this many workload units, every namespace is expanded by default.
const EXPAND_ALL_UNITS: usize = 300;

pub async fn map(State(live): Shared, q: Asked<MapQuery>) -> Response {
    let q = match q {
        Ok(Query(q)) => q,
        Err(e) => return bad_request(e.body_text()),
    };
    let a = live.current();
    if q.is_default() {
        // The first thing every page asks: computed once, kept as JSON.
        if let Some(body) = a.cache.map.get() {
            return json_text(body.clone());
        }
    }
    match map_of(&a, &q) {
        Ok(m) => Json(m).into_response(),
        Err(e) => bad_request(e),
    }
}

/// What the query narrows to, read and checked.
struct Narrowing {
    selector: Option<LabelSelector>,
    port: Option<u16>,
    protocols: Vec<Protocol>,
}

fn narrowing(q: &MapQuery) -> Result<Narrowing, String> {
    let selector = q
        .labels
        .as_deref()
        .map(palisade_core::scope::parse_selector)
        .transpose()
        .map_err(|e| format!("labels: {e}"))?;
    let protocol = q
        .protocol
        .as_deref()
        .map(|p| p.parse::<Protocol>())
        .transpose()
        .map_err(|e| format!("protocol: {e}"))?;
    let port = q
        .port
        .as_deref()
        .map(crate::analyze::parse_port)
        .transpose()
        .map_err(|e| format!("port: {e}"))?;
    if let (Some((_, a)), Some(b)) = (port, protocol) {
        if a != b && q.port.as_deref().is_some_and(|p| p.contains('/')) {
            return Err(format!(
                "port is {}, protocol is {}: give one protocol",
                a.as_str(),
                b.as_str()
            ));
        }
    }
    if q.pairs == Pairs::HalfOpen && port.is_none() {
        return Err("half-open pairs are per port: give port=PORT[/PROTO]".into());
    }
    // The port's protocol, unless `protocol` says otherwise.
    let protocols = match (port, protocol) {
        (_, Some(p)) | (Some((_, p)), None) => vec![p],
        (None, None) => Protocol::ALL.to_vec(),
    };
    Ok(Narrowing {
        selector,
        port: port.map(|(p, _)| p),
        protocols,
    })
}

/// The map's nodes: expanded namespaces' units and external blocks as they are, one node
/// per collapsed namespace; each endpoint's node; each node's display group (for the
/// change's opened pairs; `None` for a collapsed namespace).
struct Nodes {
    nodes: Vec<UnitJson>,
    node_of: Vec<usize>,
    group: Vec<Option<String>>,
    collapsed: Vec<String>,
}

fn nodes(r: &Report, expand: Option<&str>) -> Nodes {
    let all = units(r, |_| true);
    let expanded: HashSet<String> = match expand {
        Some(list) => list
            .split(',')
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect(),
        None if all.len() <= EXPAND_ALL_UNITS => all.iter().filter_map(|u| u.namespace.clone()).collect(),
        None => Default::default(),
    };
    let mut nodes: Vec<UnitJson> = Vec::new();
    let mut group = Vec::new();
    let mut node_of = vec![usize::MAX; r.endpoints.len()];
    let mut ns_node: BTreeMap<String, usize> = BTreeMap::new();
    for u in &all {
        let collapse = u.namespace.as_ref().is_some_and(|ns| !expanded.contains(ns));
        let id = if collapse {
            let ns = u.namespace.clone().expect("checked");
            *ns_node.entry(ns.clone()).or_insert_with(|| {
                nodes.push(UnitJson {
                    collapsed: true,
                    id: nodes.len(),
                    name: format!("{ns}/*"),
                    namespace: Some(ns),
                    pod_count: 0,
                    pods: Vec::new(),
                });
                group.push(None);
                nodes.len() - 1
            })
        } else {
            let e = &r.endpoints[u.members[0]];
            group.push(Some(match &e.namespace {
                Some(ns) => format!("{ns}/{}", e.group),
                None => e.group.clone(),
            }));
            nodes.push(UnitJson {
                collapsed: false,
                id: nodes.len(),
                name: u.name.clone(),
                namespace: u.namespace.clone(),
                pod_count: 0,
                pods: u.members.iter().map(|&m| r.endpoints[m].name.clone()).collect(),
            });
            nodes.len() - 1
        };
        nodes[id].pod_count += u.members.len();
        for &m in &u.members {
            node_of[m] = id;
        }
    }
    Nodes {
        nodes,
        node_of,
        group,
        collapsed: ns_node.into_keys().collect(),
    }
}

/// What one node pair accumulates over its group pairs.
#[derive(Default)]
struct Pair<'r> {
    /// Per protocol, the distinct range lists allowed.
    lists: [Vec<&'r [(u16, u16)]>; 3],
    allowed: bool,
    /// The sides that allow in half-open group pairs.
    open_sides: BTreeSet<&'static str>,
    /// A pod pair standing for the edge (one that is of its kind, once known).
    example: Option<(usize, usize)>,
}

pub fn map_of(a: &Analysis, q: &MapQuery) -> Result<MapJson, String> {
    let n = narrowing(q)?;
    let r = &a.report;
    let Nodes {
        nodes,
        node_of,
        group,
        collapsed,
    } = nodes(r, q.expand.as_deref());
    // Nodes holding a pod the labels select.
    let mut selected = vec![n.selector.is_none(); nodes.len()];
    if let Some(sel) = &n.selector {
        for (i, p) in a.cluster.pods.iter().enumerate() {
            if sel.matches(&p.labels) {
                selected[node_of[i]] = true;
            }
        }
    }
    // Endpoints judged alike (node, class, tie to a node): one representative each.
    let mut reps: BTreeMap<(usize, usize, Option<NodeTie>), usize> = BTreeMap::new();
    for (i, e) in r.endpoints.iter().enumerate() {
        reps.entry((node_of[i], e.class, e.node)).or_insert(i);
    }
    let reps: Vec<(usize, usize)> = reps.into_iter().map(|((node, ..), i)| (node, i)).collect();
    let keep = |from: usize, to: usize| {
        let (f, t) = (&nodes[from], &nodes[to]);
        if f.namespace.is_none() && t.namespace.is_none() {
            return false;
        }
        if q.cross_namespace && f.namespace == t.namespace {
            return false;
        }
        (selected[from] || selected[to])
            && q.namespace
                .as_ref()
                .is_none_or(|ns| f.namespace.as_ref() == Some(ns) || t.namespace.as_ref() == Some(ns))
    };
    // Half-open needs the two sides apart, for the port's class.
    let sides = match (q.pairs, n.port) {
        (Pairs::HalfOpen, Some(port)) => {
            let proto = n.protocols[0];
            a.compiled
                .port_space(proto)
                .class_of(port)
                .map(|pc| a.compiled.sides(proto, pc))
        }
        _ => None,
    };
    // Per node pair, in order, what its group pairs give.
    let mut acc: Vec<((usize, usize), Pair)> = Vec::new();
    let mut by_node: Vec<Vec<usize>> = vec![Vec::new(); nodes.len()];
    for &(g, x) in &reps {
        by_node[g].push(x);
    }
    // With a namespace asked for, a source outside it is paired with its nodes only.
    let in_namespace = |node: usize| {
        q.namespace
            .as_ref()
            .is_none_or(|ns| nodes[node].namespace.as_ref() == Some(ns))
    };
    let every: Vec<usize> = (0..nodes.len()).collect();
    let of_namespace: Vec<usize> = every.iter().copied().filter(|&g| in_namespace(g)).collect();
    // Inside one node (a unit's own pods, a collapsed namespace's) nothing is drawn, as a
    // unit's own row is not a map edge.
    for ga in 0..nodes.len() {
        let targets = if in_namespace(ga) { &every } else { &of_namespace };
        for &gb in targets {
            if ga == gb || !keep(ga, gb) {
                continue;
            }
            let mut pair = Pair::default();
            for (&x, &y) in by_node[ga]
                .iter()
                .flat_map(|x| by_node[gb].iter().map(move |y| (x, y)))
            {
                let pair = &mut pair;
                let mut allows = false;
                for &p in &n.protocols {
                    let ranges = r.ranges(x, y, p);
                    let on_port = n
                        .port
                        .is_none_or(|port| ranges.iter().any(|&(lo, hi)| lo <= port && port <= hi));
                    if ranges.is_empty() || !on_port {
                        continue;
                    }
                    allows = true;
                    let lists = &mut pair.lists[p.index()];
                    if !lists.iter().any(|l| std::ptr::eq(*l, ranges)) {
                        lists.push(ranges);
                    }
                }
                pair.allowed |= allows;
                let of_kind = match q.pairs {
                    Pairs::Allowed => allows,
                    Pairs::Denied => !allows,
                    Pairs::HalfOpen => {
                        // As lint's half-open rule: both sides are isolated (someone wrote a
                        // rule on each) and they disagree.
                        let (cx, cy) = (r.endpoints[x].class, r.endpoints[y].class);
                        let classes = &a.compiled.classes;
                        let isolated = !classes[cx].egress_policies.is_empty()
                            && !classes[cy].ingress_policies.is_empty()
                            && r.endpoints[y].is_pod
                            && r.endpoints[x].is_pod
                            && !a.cluster.pods[x].host_network
                            && !r.node_local(x, y);
                        let half = sides
                            .as_ref()
                            .filter(|_| isolated && !allows)
                            .and_then(|(eg, ig)| {
                                let (e, i) = (eg.rows[cx].contains(cy), ig.rows[cx].contains(cy));
                                (e != i).then_some(if e { "egress" } else { "ingress" })
                            });
                        if let Some(side) = half {
                            pair.open_sides.insert(side);
                        }
                        half.is_some()
                    }
                };
                if of_kind && pair.example.is_none() {
                    pair.example = Some((x, y));
                }
            }
            acc.push(((ga, gb), pair));
        }
    }
    let opened: HashSet<(&str, &str)> = a
        .change
        .iter()
        .flat_map(|c| &c.diff.opened)
        .map(|c| (c.from.as_str(), c.to.as_str()))
        .collect();
    let kept = acc.into_iter().filter(|(_, p)| match q.pairs {
        Pairs::Allowed => p.allowed,
        Pairs::Denied => !p.allowed,
        Pairs::HalfOpen => !p.open_sides.is_empty(),
    });
    let mut edges = Vec::new();
    let mut truncated = false;
    for ((from, to), pair) in kept {
        if edges.len() == MAX_EDGES {
            truncated = true;
            break;
        }
        let (x, y) = pair.example.expect("an edge of its kind has an example");
        let text = |p: Protocol| match q.pairs {
            Pairs::Allowed => {
                let all: Vec<(u16, u16)> = pair.lists[p.index()]
                    .iter()
                    .flat_map(|l| l.iter().copied())
                    .collect();
                ranges_text(&merge(all))
            }
            Pairs::HalfOpen if p == n.protocols[0] => n.port.map(|p| p.to_string()).unwrap_or_default(),
            _ => "-".to_string(),
        };
        let opened = match (&group[from], &group[to]) {
            (Some(f), Some(t)) => opened.contains(&(f.as_str(), t.as_str())),
            _ => false,
        };
        edges.push(EdgeJson {
            example: (r.endpoints[x].name.clone(), r.endpoints[y].name.clone()),
            from,
            kind: match q.pairs {
                Pairs::Allowed => "allowed",
                Pairs::Denied => "denied",
                Pairs::HalfOpen => "half-open",
            },
            open_side: match pair.open_sides.len() {
                0 => None,
                1 => pair.open_sides.first().copied(),
                _ => Some("egress and ingress"),
            },
            opened,
            sctp: text(Protocol::Sctp),
            tcp: text(Protocol::Tcp),
            to,
            udp: text(Protocol::Udp),
        });
    }
    Ok(MapJson {
        collapsed,
        edges,
        truncated,
        units: nodes,
    })
}
