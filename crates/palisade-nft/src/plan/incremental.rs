//! A node's table kept in step with a changing cluster. Pod churn takes the incremental
//! path: a new pod with a *twin* (an existing pod every policy judges alike, see
//! [`palisade_core::twin`]) gets its addresses into exactly the sets and verdict maps that
//! hold the twin's; a removed pod's addresses take the membership of an *address twin* (a
//! free address with the same ipBlock signature). The result is the ruleset a full
//! compile and render would produce, reached in microseconds, and written to the kernel
//! as an [`ElementDelta`]. Anything else (policies, namespaces, labels, pods without a
//! twin) recompiles and re-renders, keeping the installed set names, and updates only
//! elements when the chains stay, or only the sets and chains that changed. While some
//! policy is staged (shadow mode), every change re-renders: twins are alike under the
//! enforced policies, not necessarily under the staged ones.

use std::collections::HashMap;
use std::net::IpAddr;

use palisade_core::ip::{ip_to_num, Family};
use palisade_core::twin::{address_twin, paired_ips, twin};
use palisade_core::{Cluster, CompiledCluster, Options as EngineOptions, Pod};

use crate::delta::{ElementDelta, ElementOp};
use crate::render::{render, Options};
use crate::ruleset::{AddrSet, Ruleset};

/// What the kernel needs to follow a change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// Element changes only (possibly none).
    Elements(ElementDelta),
    /// Chains changed: this `nft -f` transaction updates the table in place (new sets and
    /// chains, rewritten chains, moved map entries, deletions), keeping it all along.
    Script(String),
    /// Replace the whole table with [`NodeTable::ruleset`].
    Replace,
}

impl Change {
    /// This change followed by `next` (computed on the state after this one), as one.
    pub fn then(self, next: Change) -> Change {
        match (self, next) {
            (Change::Elements(a), Change::Elements(b)) => Change::Elements(a.followed_by(b)),
            (Change::Elements(a), Change::Script(s)) => Change::Script(a.script() + &s),
            (Change::Script(s), Change::Elements(b)) => Change::Script(s + &b.script()),
            _ => Change::Replace,
        }
    }
}

/// How a change was computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Path {
    /// Copied from a twin, without recompiling.
    Twin,
    /// Recompiled and re-rendered.
    Full,
}

/// The cluster and the ruleset rendered from it for one node.
pub struct NodeTable {
    cluster: Cluster,
    engine: EngineOptions,
    opts: Options,
    ruleset: Ruleset,
    /// How many pods hold each address.
    pod_ips: HashMap<IpAddr, usize>,
}

fn contains(ranges: &[(u128, u128)], n: u128) -> bool {
    let i = ranges.partition_point(|r| r.1 < n);
    i < ranges.len() && ranges[i].0 <= n
}

/// Adds point `n` to the set, keeping ranges merged; records the element changes.
fn insert(name: &str, set: &mut AddrSet, n: u128, ops: &mut Vec<ElementOp>) {
    let r = &mut set.ranges;
    let i = r.partition_point(|x| x.1 < n);
    if i < r.len() && r[i].0 <= n {
        return;
    }
    let left = i > 0 && r[i - 1].1 + 1 == n;
    let right = i < r.len() && n.checked_add(1) == Some(r[i].0);
    let del = |range, ops: &mut Vec<ElementOp>| {
        ops.push(ElementOp::DelRange {
            set: name.to_string(),
            family: set.family,
            range,
        })
    };
    let merged = match (left, right) {
        (false, false) => {
            r.insert(i, (n, n));
            (n, n)
        }
        (true, false) => {
            del(r[i - 1], ops);
            r[i - 1].1 = n;
            r[i - 1]
        }
        (false, true) => {
            del(r[i], ops);
            r[i].0 = n;
            r[i]
        }
        (true, true) => {
            del(r[i - 1], ops);
            del(r[i], ops);
            r[i - 1].1 = r[i].1;
            r.remove(i);
            r[i - 1]
        }
    };
    ops.push(ElementOp::AddRange {
        set: name.to_string(),
        family: set.family,
        range: merged,
    });
}

/// Removes point `n` from the set, splitting its range; records the element changes.
fn remove(name: &str, set: &mut AddrSet, n: u128, ops: &mut Vec<ElementOp>) {
    let r = &mut set.ranges;
    let i = r.partition_point(|x| x.1 < n);
    if i >= r.len() || r[i].0 > n {
        return;
    }
    let (lo, hi) = r[i];
    ops.push(ElementOp::DelRange {
        set: name.to_string(),
        family: set.family,
        range: (lo, hi),
    });
    let mut pieces = Vec::new();
    if lo < n {
        pieces.push((lo, n - 1));
    }
    if n < hi {
        pieces.push((n + 1, hi));
    }
    for p in &pieces {
        ops.push(ElementOp::AddRange {
            set: name.to_string(),
            family: set.family,
            range: *p,
        });
    }
    r.splice(i..=i, pieces);
}

impl NodeTable {
    /// Compiles and renders `cluster` for the node in `opts`.
    pub fn new(cluster: Cluster, engine: EngineOptions, opts: Options) -> NodeTable {
        let ruleset = render(&CompiledCluster::new(&cluster, &engine), &opts);
        let mut t = NodeTable {
            cluster,
            engine,
            opts,
            ruleset,
            pod_ips: HashMap::new(),
        };
        t.count_ips();
        t
    }

    fn count_ips(&mut self) {
        self.pod_ips.clear();
        for p in &self.cluster.pods {
            for ip in &p.ips {
                *self.pod_ips.entry(*ip).or_default() += 1;
            }
        }
    }

    /// The cluster the table enforces.
    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    /// The cluster, giving up the table.
    pub fn into_cluster(self) -> Cluster {
        self.cluster
    }

    /// The rules the table holds.
    pub fn ruleset(&self) -> &Ruleset {
        &self.ruleset
    }

    /// Recompiles and re-renders the current cluster, keeping the installed set names
    /// where contents are the same.
    fn rebuild(&mut self) -> (Change, Path) {
        let mut new = render(&CompiledCluster::new(&self.cluster, &self.engine), &self.opts);
        new.adopt_names(&self.ruleset);
        let change = match ElementDelta::between(&self.ruleset, &new) {
            Some(d) => Change::Elements(d),
            None => match new.update_script(&self.ruleset) {
                Some(script) => Change::Script(script),
                None => Change::Replace,
            },
        };
        self.ruleset = new;
        self.count_ips();
        (change, Path::Full)
    }

    /// Replaces the whole cluster (a policy or namespace changed).
    pub fn set_cluster(&mut self, cluster: Cluster) -> Change {
        self.cluster = cluster;
        self.rebuild().0
    }

    /// Gives `ip` the set membership `like` has, in every set of its family.
    fn copy_membership(&mut self, ip: IpAddr, like: IpAddr, ops: &mut Vec<ElementOp>) {
        let (family, n) = ip_to_num(ip);
        let (_, m) = ip_to_num(like);
        for (name, set) in self.ruleset.sets.iter_mut() {
            if set.family != family {
                continue;
            }
            match (contains(&set.ranges, m), contains(&set.ranges, n)) {
                (true, false) => insert(name, set, n, ops),
                (false, true) => remove(name, set, n, ops),
                _ => {}
            }
        }
    }

    fn map_names(ip: IpAddr) -> [&'static str; 2] {
        match Family::of(ip) {
            Family::V4 => ["egress4", "ingress4"],
            Family::V6 => ["egress6", "ingress6"],
        }
    }

    /// Adds a pod, or replaces the pod of that name (a readdressed or relabelled pod).
    pub fn add_pod(&mut self, pod: Pod) -> (Change, Path) {
        match self.remove_pod(&pod.namespace, &pod.name) {
            None => self.insert_pod(pod),
            Some((first, p1)) => {
                let (second, p2) = self.insert_pod(pod);
                let path = if p1 == Path::Full || p2 == Path::Full {
                    Path::Full
                } else {
                    Path::Twin
                };
                let change = first.then(second);
                (change, path)
            }
        }
    }

    fn insert_pod(&mut self, pod: Pod) -> (Change, Path) {
        let shared = pod.ips.iter().any(|ip| self.pod_ips.contains_key(ip));
        // A twin is judged alike by the enforced policies only: with staged ones, whose
        // log rules hold addresses too, the table is rendered again.
        let staged = self.cluster.has_shadow();
        let pairs = (!pod.host_network && !shared && !staged)
            .then(|| twin(&self.cluster, &pod))
            .flatten()
            .and_then(|t| paired_ips(&self.cluster.pods[t], &pod));
        let Some(pairs) = pairs else {
            self.cluster.pods.push(pod);
            return self.rebuild();
        };
        let mut ops = Vec::new();
        for (like, ip) in pairs {
            self.copy_membership(ip, like, &mut ops);
            for map in Self::map_names(ip) {
                let entries = &mut self.ruleset.maps.get_mut(map).expect("map exists").entries;
                let chain = entries.iter().find(|(a, _)| *a == like).map(|(_, c)| c.clone());
                if let Some(chain) = chain {
                    let i = entries.partition_point(|(a, _)| *a < ip);
                    entries.insert(i, (ip, chain.clone()));
                    ops.push(ElementOp::AddEntry {
                        map: map.to_string(),
                        ip,
                        chain,
                    });
                }
            }
            *self.pod_ips.entry(ip).or_default() += 1;
        }
        self.cluster.pods.push(pod);
        self.finish(ops, &[])
    }

    /// Removes a pod; `None` when there is no such pod.
    pub fn remove_pod(&mut self, namespace: &str, name: &str) -> Option<(Change, Path)> {
        let i = self
            .cluster
            .pods
            .iter()
            .position(|p| p.namespace == namespace && p.name == name)?;
        let pod = self.cluster.pods.remove(i);
        for ip in &pod.ips {
            if let Some(c) = self.pod_ips.get_mut(ip) {
                *c -= 1;
                if *c == 0 {
                    self.pod_ips.remove(ip);
                }
            }
        }
        let taken = |ip: &IpAddr| self.pod_ips.contains_key(ip);
        let likes: Option<Vec<(IpAddr, IpAddr)>> = (!pod.host_network && !self.cluster.has_shadow())
            .then(|| {
                pod.ips
                    .iter()
                    .map(|ip| {
                        (!taken(ip))
                            .then(|| address_twin(&self.cluster, *ip, taken))
                            .flatten()
                            .map(|like| (*ip, like))
                    })
                    .collect()
            })
            .flatten();
        let Some(likes) = likes else {
            return Some(self.rebuild());
        };
        let mut ops = Vec::new();
        let mut orphans = Vec::new();
        for (ip, like) in likes {
            self.copy_membership(ip, like, &mut ops);
            for map in Self::map_names(ip) {
                let entries = &mut self.ruleset.maps.get_mut(map).expect("map exists").entries;
                if let Some(j) = entries.iter().position(|(a, _)| *a == ip) {
                    orphans.push(entries.remove(j).1);
                    ops.push(ElementOp::DelEntry {
                        map: map.to_string(),
                        ip,
                    });
                }
            }
        }
        Some(self.finish(ops, &orphans))
    }

    /// Element changes already made in memory: sent as they are, unless a full render
    /// would now come out in another shape, then followed by what the rebuild changes.
    fn finish(&mut self, mut ops: Vec<ElementOp>, left_chains: &[String]) -> (Change, Path) {
        ops.sort();
        if !self.reshaped(&ops, left_chains) {
            return (Change::Elements(ElementDelta { ops }), Path::Twin);
        }
        let (change, path) = self.rebuild();
        (Change::Elements(ElementDelta { ops }).then(change), path)
    }

    /// Whether element changes would make a full render come out with other chains: a
    /// set that became empty, full or equal to another set (the renderer drops, inlines or
    /// shares those), or a profile chain that no address jumps to any more.
    fn reshaped(&self, ops: &[ElementOp], left_chains: &[String]) -> bool {
        let full = |f: Family| match f {
            Family::V4 => u32::MAX as u128,
            Family::V6 => u128::MAX,
        };
        let mut touched: Vec<&str> = ops
            .iter()
            .filter_map(|op| match op {
                ElementOp::AddRange { set, .. } | ElementOp::DelRange { set, .. } => Some(set.as_str()),
                _ => None,
            })
            .collect();
        touched.sort();
        touched.dedup();
        let set_reshaped = touched.iter().any(|name| {
            let s = &self.ruleset.sets[*name];
            s.ranges.is_empty()
                || s.ranges == [(0, full(s.family))]
                || self.ruleset.sets.iter().any(|(other, o)| other != name && o == s)
        });
        let chain_orphaned = left_chains.iter().any(|c| {
            !self
                .ruleset
                .maps
                .values()
                .any(|m| m.entries.iter().any(|(_, x)| x == c))
        });
        set_reshaped || chain_orphaned
    }
}
