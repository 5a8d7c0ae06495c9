//! The analysis at display level: pods and externals, their classes, and the port
//! ranges allowed between every pair of classes, computed once from the matrices.

use crate::compile::NodeTie;
use crate::scope::Scope;
use crate::{Cluster, Compiled, Protocol};

/// An endpoint as printed.
pub struct Endpoint {
    /// `namespace/pod`, or the external block's name.
    pub name: String,
    /// The namespace, `None` for external blocks.
    pub namespace: Option<String>,
    /// Display group: workload (or pod) within the namespace, or the external's name.
    pub group: String,
    /// Its endpoint class.
    pub class: usize,
    /// A pod (not an external block).
    pub is_pod: bool,
    /// Its tie to a node: pods tied to the same node as resident and node talk freely.
    pub node: Option<NodeTie>,
}

/// The allowed port ranges between every pair of endpoint classes, ready to print.
pub struct Report {
    /// Pods, then external blocks.
    pub endpoints: Vec<Endpoint>,
    /// `pair[proto][row[s] * cols + col[d]]`: index into `lists[proto]` of the ranges from
    /// class s to d (only source and destination classes in scope have a row or column).
    pair: [Vec<u32>; 3],
    lists: [Vec<Vec<(u16, u16)>>; 3],
    row: Vec<u32>,
    col: Vec<u32>,
    cols: usize,
    scope: Scope,
}

/// No row or column: the class is out of scope on that side.
const NONE: u32 = u32::MAX;

/// Above this many classes (source classes times destination classes above its square)
/// the per-pair report (4 bytes per class pair and protocol) is refused: `-o summary`,
/// `--port`, `explain`, and `--from`/`--to` narrowing still work at any size.
pub const MAX_CLASSES: usize = 8192;

/// The per-pair report was refused: too many classes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TooManyClasses(pub usize);

impl std::fmt::Display for TooManyClasses {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} equivalence classes is too many for a pair-by-pair report (at most {MAX_CLASSES}); \
             narrow it with --from/--to (e.g. --from NAMESPACE or --to NAMESPACE/POD), \
             or use -o summary, --port, or explain",
            self.0
        )
    }
}

impl std::error::Error for TooManyClasses {}

impl Report {
    /// The report of a compiled cluster; an error when it has too many classes to list pairs.
    pub fn build(cluster: &Cluster, compiled: &Compiled) -> Result<Report, TooManyClasses> {
        Report::build_scoped(cluster, compiled, Scope::all())
    }

    /// The report of the pairs `scope` keeps; an error when their source classes times
    /// destination classes exceed [`MAX_CLASSES`] squared.
    pub fn build_scoped(
        cluster: &Cluster,
        compiled: &Compiled,
        scope: Scope,
    ) -> Result<Report, TooManyClasses> {
        let mut endpoints = Vec::new();
        for (i, p) in cluster.pods.iter().enumerate() {
            // The workload, else the conventional app label, else the pod itself.
            let group = p
                .workload
                .as_ref()
                .map(|w| w.name.clone())
                .or_else(|| {
                    ["app.kubernetes.io/name", "app", "k8s-app"]
                        .iter()
                        .find_map(|k| p.labels.get(*k).map(|v| format!("{k}={v}")))
                })
                .unwrap_or_else(|| p.name.clone());
            endpoints.push(Endpoint {
                name: p.key(),
                namespace: Some(p.namespace.clone()),
                group,
                class: compiled.pod_class(i),
                is_pod: true,
                node: compiled.endpoint_node[i],
            });
        }
        for (i, e) in cluster.externals.iter().enumerate() {
            endpoints.push(Endpoint {
                name: e.name.clone(),
                namespace: None,
                group: e.name.clone(),
                class: compiled.external_class(i),
                is_pod: false,
                node: compiled.endpoint_node[cluster.pods.len() + i],
            });
        }
        let n = compiled.class_count();
        // Rows for the classes of kept sources, columns for those of kept destinations.
        let (mut row, mut col) = (vec![NONE; n], vec![NONE; n]);
        let (mut rows, mut cols) = (0usize, 0usize);
        for (i, e) in endpoints.iter().enumerate() {
            if scope.from(i) && row[e.class] == NONE {
                row[e.class] = rows as u32;
                rows += 1;
            }
            if scope.to(i) && col[e.class] == NONE {
                col[e.class] = cols as u32;
                cols += 1;
            }
        }
        if rows.saturating_mul(cols) > MAX_CLASSES * MAX_CLASSES {
            return Err(TooManyClasses(n));
        }
        let sources: Vec<usize> = (0..n).filter(|c| row[*c] != NONE).collect();
        let mut pair: [Vec<u32>; 3] = Default::default();
        let mut lists: [Vec<Vec<(u16, u16)>>; 3] = Default::default();
        for proto in Protocol::ALL {
            // Each pair's list of port classes grows one class at a time; equal lists share
            // an id through the (list, next class) transitions.
            let mut ids = vec![0u32; rows * cols];
            let mut qlists: Vec<Vec<usize>> = vec![Vec::new()];
            let mut next: std::collections::HashMap<(u32, usize), u32> = Default::default();
            for q in 0..compiled.port_space(proto).classes.len() {
                let m = compiled.class_matrix(proto, q);
                for &s in &sources {
                    for d in m.rows[s].iter() {
                        if col[d] == NONE {
                            continue;
                        }
                        let id = &mut ids[row[s] as usize * cols + col[d] as usize];
                        *id = *next.entry((*id, q)).or_insert_with(|| {
                            let mut l = qlists[*id as usize].clone();
                            l.push(q);
                            qlists.push(l);
                            (qlists.len() - 1) as u32
                        });
                    }
                }
            }
            let space = compiled.port_space(proto);
            lists[proto.index()] = qlists
                .iter()
                .map(|qs| {
                    merge(
                        qs.iter()
                            .flat_map(|q| space.classes[*q].iter().copied())
                            .collect(),
                    )
                })
                .collect();
            pair[proto.index()] = ids;
        }
        Ok(Report {
            endpoints,
            pair,
            lists,
            row,
            col,
            cols,
            scope,
        })
    }

    /// Allowed ranges from endpoint a to endpoint b (self traffic is always allowed).
    /// Panics when the pair is out of the report's scope ([`Report::in_scope`]).
    pub fn ranges(&self, a: usize, b: usize, proto: Protocol) -> &[(u16, u16)] {
        const ALL: &[(u16, u16)] = &[(1, 65535)];
        if (a == b && self.endpoints[a].is_pod) || self.node_local(a, b) {
            return ALL;
        }
        let (s, d) = (self.endpoints[a].class, self.endpoints[b].class);
        let (r, c) = (self.row[s], self.col[d]);
        assert!(r != NONE && c != NONE, "pair out of the report's scope");
        let p = proto.index();
        &self.lists[p][self.pair[p][r as usize * self.cols + c as usize] as usize]
    }

    /// Allowed ranges from class `s` to class `d` as the policies give them: without the
    /// exceptions [`Report::ranges`] makes for a pod's own traffic and its node's, which
    /// hold for a pair of endpoints, not for a pair of classes. `None` when a class is out
    /// of the report's scope on its side.
    pub fn class_ranges(&self, s: usize, d: usize, proto: Protocol) -> Option<&[(u16, u16)]> {
        let (r, c) = (self.row[s], self.col[d]);
        if r == NONE || c == NONE {
            return None;
        }
        let p = proto.index();
        Some(&self.lists[p][self.pair[p][r as usize * self.cols + c as usize] as usize])
    }

    /// Whether endpoint `i` is a source in the report's scope.
    pub fn is_source(&self, i: usize) -> bool {
        self.scope.from(i)
    }

    /// Whether endpoint `i` is a destination in the report's scope.
    pub fn is_destination(&self, i: usize) -> bool {
        self.scope.to(i)
    }

    /// Whether endpoint a as source and b as destination are in the report's scope.
    pub fn in_scope(&self, a: usize, b: usize) -> bool {
        self.scope.from(a) && self.scope.to(b)
    }

    /// Whether endpoints `a` and `b` are a pod and its own node (see [`Compiled::node_local`]).
    pub fn node_local(&self, a: usize, b: usize) -> bool {
        match (self.endpoints[a].node, self.endpoints[b].node) {
            (Some(NodeTie::Resident(x)), Some(NodeTie::Itself(y)))
            | (Some(NodeTie::Itself(x)), Some(NodeTie::Resident(y))) => x == y,
            _ => false,
        }
    }

    /// Ordered endpoint pairs that the report covers (external to external is not
    /// analysed; only pairs in scope).
    pub fn pairs(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        let n = self.endpoints.len();
        (0..n)
            .filter(|&a| self.scope.from(a))
            .flat_map(move |a| (0..n).filter(|&b| self.scope.to(b)).map(move |b| (a, b)))
            .filter(|&(a, b)| self.endpoints[a].is_pod || self.endpoints[b].is_pod)
    }
}

pub use crate::ranges::merge;

/// `80,443,8000-8080`, `all` or `-`.
pub fn ranges_text(r: &[(u16, u16)]) -> String {
    if r.is_empty() {
        return "-".into();
    }
    if r == [(1, 65535)] {
        return "all".into();
    }
    r.iter()
        .map(|(lo, hi)| crate::port_range_text(*lo, *hi))
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_ranges_as_text() {
        assert_eq!(ranges_text(&[(1, 65535)]), "all");
        assert_eq!(ranges_text(&[]), "-");
        assert_eq!(ranges_text(&[(53, 53), (8000, 8080)]), "53,8000-8080");
    }
}
