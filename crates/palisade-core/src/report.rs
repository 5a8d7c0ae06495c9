//! The analysis at display level: pods and externals, their classes, and the port
//! ranges allowed between every pair of classes, computed once from the matrices.

use crate::compile::NodeTie;
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
    /// `pair[proto][s * n + d]`: index into `lists[proto]` of the ranges from class s to d.
    pair: [Vec<u32>; 3],
    lists: [Vec<Vec<(u16, u16)>>; 3],
    n: usize,
}

/// Above this many classes the per-pair report (4 bytes per class pair and protocol) is
/// refused: `-o summary`, `--port` and `explain` still work at any size.
pub const MAX_CLASSES: usize = 8192;

/// The per-pair report was refused: too many classes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TooManyClasses(pub usize);

impl std::fmt::Display for TooManyClasses {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} equivalence classes is too many for a pair-by-pair report (at most {MAX_CLASSES}); \
             use -o summary, --port, or explain",
            self.0
        )
    }
}

impl std::error::Error for TooManyClasses {}

impl Report {
    /// The report of a compiled cluster; an error when it has too many classes to list pairs.
    pub fn build(cluster: &Cluster, compiled: &Compiled) -> Result<Report, TooManyClasses> {
        if compiled.class_count() > MAX_CLASSES {
            return Err(TooManyClasses(compiled.class_count()));
        }
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
        let mut pair: [Vec<u32>; 3] = Default::default();
        let mut lists: [Vec<Vec<(u16, u16)>>; 3] = Default::default();
        for proto in Protocol::ALL {
            // Each pair's list of port classes grows one class at a time; equal lists share
            // an id through the (list, next class) transitions.
            let mut ids = vec![0u32; n * n];
            let mut qlists: Vec<Vec<usize>> = vec![Vec::new()];
            let mut next: std::collections::HashMap<(u32, usize), u32> = Default::default();
            for q in 0..compiled.port_space(proto).classes.len() {
                let m = compiled.class_matrix(proto, q);
                for s in 0..n {
                    for d in m.rows[s].iter() {
                        let id = &mut ids[s * n + d];
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
            n,
        })
    }

    /// Allowed ranges from endpoint a to endpoint b (self traffic is always allowed).
    pub fn ranges(&self, a: usize, b: usize, proto: Protocol) -> &[(u16, u16)] {
        const ALL: &[(u16, u16)] = &[(1, 65535)];
        if (a == b && self.endpoints[a].is_pod) || self.node_local(a, b) {
            return ALL;
        }
        let (s, d) = (self.endpoints[a].class, self.endpoints[b].class);
        let p = proto.index();
        &self.lists[p][self.pair[p][s * self.n + d] as usize]
    }

    /// Whether endpoints `a` and `b` are a pod and its own node (see [`Compiled::node_local`]).
    pub fn node_local(&self, a: usize, b: usize) -> bool {
        match (self.endpoints[a].node, self.endpoints[b].node) {
            (Some(NodeTie::Resident(x)), Some(NodeTie::Itself(y)))
            | (Some(NodeTie::Itself(x)), Some(NodeTie::Resident(y))) => x == y,
            _ => false,
        }
    }

    /// Ordered endpoint pairs that the report covers (external to external is not analysed).
    pub fn pairs(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        let n = self.endpoints.len();
        (0..n)
            .flat_map(move |a| (0..n).map(move |b| (a, b)))
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
