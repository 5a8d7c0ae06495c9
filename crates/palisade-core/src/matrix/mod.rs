//! Reachability over equivalence classes: for one protocol and one port class,
//! `allowed[s][d] = egress(s) admits d  AND  ingress(d) admits s`, computed as
//! bit rows (ingress rows transposed once), so the cost is classes² / 64 per port class.
//! Node-local pairs (a pod and its own node) are not in these matrices: they are endpoint
//! pairs ([`Compiled::node_local`]) that every reader adds.

use std::collections::{BTreeMap, HashMap};

use rayon::prelude::*;

use crate::bits::{transpose_into, BitMatrix, BitSet};
use crate::compile::{ClassKind, Compiled, CompiledRule};
use crate::model::{PortMatch, Protocol};
use crate::tiers::Tier;

mod tiers;
use tiers::SideRules;

/// Whether named port items resolve (a real port class) or match nothing (the numeric
/// part of a port class group, for destinations whose named ports are elsewhere).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Named {
    Resolve,
    Ignore,
}

impl Compiled {
    /// Class-level matrix for one port class of a protocol.
    pub fn class_matrix(&self, proto: Protocol, q: usize) -> BitMatrix {
        let n = self.classes.len();
        let mut ingress_t = BitMatrix::new(n);
        let mut out = BitMatrix::new(n);
        self.accumulate(proto, q, Named::Resolve, &mut ingress_t, &mut out);
        out
    }

    /// `acc |= allowed on port class q`, using `scratch` for the transposed ingress rows.
    fn accumulate(
        &self,
        proto: Protocol,
        q: usize,
        named: Named,
        scratch: &mut BitMatrix,
        acc: &mut BitMatrix,
    ) {
        let n = self.classes.len();
        let (rows, index) = self.ingress_rows(proto, q, named);
        let refs: Vec<&BitSet> = index.iter().map(|&i| &rows[i]).collect();
        transpose_into(&refs, scratch);
        let mut egress_memo: HashMap<(&[usize], &[usize]), BitSet> = HashMap::new();
        let full = BitSet::full(n);
        for (s, class) in self.classes.iter().enumerate() {
            let row = if class.egress_policies.is_empty() && !self.has_tier_rules(class, false) {
                &full
            } else {
                egress_memo
                    .entry((
                        class.cluster_policies.as_slice(),
                        class.egress_policies.as_slice(),
                    ))
                    .or_insert_with(|| self.egress_side(s, proto, q, named))
            };
            acc.rows[s].union_with_and(row, &scratch.rows[s]);
        }
    }

    /// The two halves of the verdict on port class `q`, class by class: `egress.rows[s]`
    /// holds the destinations the egress side of `s` admits, `ingress.rows[s]` the
    /// destinations whose ingress side admits `s` (non-isolated sides admit everything).
    /// `class_matrix` is their intersection; apart they show half-open flows.
    pub fn sides(&self, proto: Protocol, q: usize) -> (BitMatrix, BitMatrix) {
        let n = self.classes.len();
        let (rows, index) = self.ingress_rows(proto, q, Named::Resolve);
        let refs: Vec<&BitSet> = index.iter().map(|&i| &rows[i]).collect();
        let mut ingress = BitMatrix::new(n);
        transpose_into(&refs, &mut ingress);
        let mut egress = BitMatrix::new(n);
        for s in 0..n {
            egress.rows[s] = self.egress_side(s, proto, q, Named::Resolve);
        }
        (egress, ingress)
    }

    /// Class-level matrix for one port (`None` if the port is 0).
    pub fn port_matrix(&self, proto: Protocol, port: u16) -> Option<BitMatrix> {
        let q = self.port_space(proto).class_of(port)?;
        Some(self.class_matrix(proto, q))
    }

    /// Class pairs allowed on at least one port of the protocol, exactly the union of the
    /// port classes' matrices, without computing every port class in full (each pod's own
    /// named port made that cubic):
    /// 1. each numeric group (port classes covered by the same numeric items) once, with
    ///    named ports resolving nowhere: resolving one only adds rules, so this is inside
    ///    the verdict of every port class of the group;
    /// 2. each port class that named ports cut out, for the destinations declaring them:
    ///    in full (classes² / 64) when many declare it, else column by column (egress
    ///    profiles × (rules + classes / 64) per destination).
    pub fn any_port_matrix(&self, proto: Protocol) -> BitMatrix {
        let n = self.classes.len();
        let space = self.port_space(proto);
        // One port class of each numeric group stands for the group.
        let mut full: Vec<(usize, Named)> = Vec::new();
        if self.tiers_name_ports() {
            // A named port in a Deny or Pass rule can take verdicts away: every port class
            // in full.
            full.extend((0..space.classes.len()).map(|q| (q, Named::Resolve)));
            return self.union_of(proto, &full);
        }
        for (q, &g) in space.numeric_group.iter().enumerate() {
            if g == full.len() {
                full.push((q, Named::Ignore));
            }
        }
        let egress = EgressProfiles::of(self);
        let mut columns: Vec<(usize, Vec<usize>)> = Vec::new();
        for (q, dests) in self.declaring(proto) {
            if dests.len() * (egress.profiles.len() + 1) < n {
                columns.push((q, dests));
            } else {
                full.push((q, Named::Resolve));
            }
        }
        let mut out = self.union_of(proto, &full);
        if !columns.is_empty() {
            // Sources admitted, one row per destination; transposed once.
            let mut sources = BitMatrix::new(n);
            for (q, dests) in &columns {
                for &d in dests {
                    let admitted = egress.admitting(self, proto, *q, d);
                    match self.ingress_row_of(d, proto, *q) {
                        Some(row) => sources.rows[d].union_with_and(&admitted, &row),
                        None => sources.rows[d].union_with(&admitted),
                    }
                }
            }
            let refs: Vec<&BitSet> = sources.rows.iter().collect();
            let mut t = BitMatrix::new(n);
            transpose_into(&refs, &mut t);
            for (x, y) in out.rows.iter_mut().zip(&t.rows) {
                x.union_with(y);
            }
        }
        out
    }

    /// The union of the matrices of `work` (port class, named resolution), in parallel.
    fn union_of(&self, proto: Protocol, work: &[(usize, Named)]) -> BitMatrix {
        let n = self.classes.len();
        // One scratch and one accumulator per worker (each is classes² bits).
        let workers = rayon::current_num_threads().clamp(1, work.len().max(1));
        let chunk = work.len().div_ceil(workers).max(1);
        let mut parts: Vec<BitMatrix> = work
            .par_chunks(chunk)
            .map(|part| {
                let mut scratch = BitMatrix::new(n);
                let mut acc = BitMatrix::new(n);
                for &(q, named) in part {
                    self.accumulate(proto, q, named, &mut scratch, &mut acc);
                }
                acc
            })
            .collect();
        let mut out = parts.pop().unwrap_or_else(|| BitMatrix::new(n));
        for p in parts {
            for (x, y) in out.rows.iter_mut().zip(&p.rows) {
                x.union_with(y);
            }
        }
        out
    }

    /// Port classes that named ports cut out, each with the destination classes declaring
    /// a named port there (from the resolutions compiled once).
    fn declaring(&self, proto: Protocol) -> Vec<(usize, Vec<usize>)> {
        let mut by_q: BTreeMap<usize, BitSet> = BTreeMap::new();
        for per_class in self.named[proto.index()].values() {
            for (&q, classes) in per_class {
                by_q.entry(q)
                    .or_insert_with(|| BitSet::new(self.classes.len()))
                    .union_with(classes);
            }
        }
        by_q.into_iter().map(|(q, cs)| (q, cs.iter().collect())).collect()
    }

    /// The sources destination class `d` admits on port class `q` (`None`: everything).
    fn ingress_row_of(&self, d: usize, proto: Protocol, q: usize) -> Option<BitSet> {
        let key = self.ingress_key(d, proto, q, Named::Resolve)?;
        Some(self.ingress_row_for(&key))
    }

    /// Whether egress policies `policies` admit destination class `d` on port class `q`.
    fn egress_admits(&self, policies: &[usize], proto: Protocol, q: usize, d: usize, names: &[&str]) -> bool {
        policies.iter().any(|&p| {
            self.policies[p]
                .egress
                .iter()
                .any(|r| r.peers.contains(d) && Self::rule_applies(r, proto, q, names))
        })
    }

    /// Which rules of a direction apply on port class `q` for destination class `d`.
    /// `names`: the named ports of the destination that resolve into `q` (usually none,
    /// so that the common case costs no lookup).
    fn rule_applies(rule: &CompiledRule, proto: Protocol, q: usize, names: &[&str]) -> bool {
        rule.ports.is_empty()
            || rule.numeric[proto.index()].contains(q)
            || !names.is_empty()
                && rule.ports.iter().any(|p| {
                    matches!(&p.port, PortMatch::Named(name) if p.protocol == proto && names.contains(&name.as_str()))
                })
    }

    /// The named ports of class `d` that resolve into port class `q` (none when `named`
    /// says named ports resolve nowhere).
    fn names_at(&self, d: usize, proto: Protocol, q: usize, named: Named) -> Vec<&str> {
        if named == Named::Ignore {
            return Vec::new();
        }
        let space = self.port_space(proto);
        self.classes[d]
            .named_ports
            .iter()
            .filter(|(_, p, port)| *p == proto && space.class_of(*port) == Some(q))
            .map(|(n, _, _)| n.as_str())
            .collect()
    }

    /// For each destination class, the source classes its ingress admits on port class `q`:
    /// the distinct rows, and the row of each class.
    fn ingress_rows(&self, proto: Protocol, q: usize, named: Named) -> (Vec<BitSet>, Vec<usize>) {
        let n = self.classes.len();
        let mut rows = vec![BitSet::full(n)];
        let mut index = Vec::with_capacity(n);
        let mut memo: HashMap<IngressKey, usize> = HashMap::new();
        for d in 0..n {
            let Some(key) = self.ingress_key(d, proto, q, named) else {
                index.push(0);
                continue;
            };
            let i = *memo.entry(key).or_insert_with_key(|key| {
                rows.push(self.ingress_row_for(key));
                rows.len() - 1
            });
            index.push(i);
        }
        (rows, index)
    }

    /// The rules that apply to the ingress of class `d` on port class `q`, tier by tier
    /// (`None` when nothing applies to its ingress: it admits everything).
    fn ingress_key(&self, d: usize, proto: Protocol, q: usize, named: Named) -> Option<IngressKey> {
        let class = &self.classes[d];
        let tiered = self.has_tier_rules(class, true);
        if class.ingress_policies.is_empty() && !tiered {
            return None;
        }
        let names = self.names_at(d, proto, q, named);
        let names = names.as_slice();
        let np = (!class.ingress_policies.is_empty()).then(|| {
            class
                .ingress_policies
                .iter()
                .flat_map(|&p| {
                    self.policies[p]
                        .ingress
                        .iter()
                        .enumerate()
                        .filter(move |(_, r)| Self::rule_applies(r, proto, q, names))
                        .map(move |(ri, _)| (p, ri))
                })
                .collect()
        });
        let tier = |tier| -> Vec<(usize, usize)> {
            if !tiered {
                return Vec::new();
            }
            self.tier_rules(class, tier, true)
                .filter(|(_, r, _)| Self::rule_applies(r, proto, q, names))
                .map(|(at, _, _)| at)
                .collect()
        };
        Some(IngressKey {
            admin: tier(Tier::Admin),
            np,
            baseline: tier(Tier::Baseline),
        })
    }

    /// The sources admitted by the ingress rules of `key`.
    fn ingress_row_for(&self, key: &IngressKey) -> BitSet {
        let n = self.classes.len();
        let np = key.np.as_ref().map(|rules| {
            let mut row = BitSet::new(n);
            for &(p, ri) in rules {
                row.union_with(&self.policies[p].ingress[ri].peers);
            }
            row
        });
        if key.admin.is_empty() && key.baseline.is_empty() {
            return np.unwrap_or_else(|| BitSet::full(n));
        }
        let rules = |list: &[(usize, usize)]| {
            list.iter()
                .map(|&(c, ri)| {
                    let r = &self.cluster_policies[c].ingress[ri];
                    (std::borrow::Cow::Borrowed(&r.rule.peers), r.action)
                })
                .collect()
        };
        SideRules {
            admin: rules(&key.admin),
            np,
            baseline: rules(&key.baseline),
        }
        .row(n)
    }

    /// The destination classes that egress policies `policies` admit on port class `q`.
    fn egress_row(&self, policies: &[usize], proto: Protocol, q: usize, named: Named) -> BitSet {
        let n = self.classes.len();
        if policies.is_empty() {
            return BitSet::full(n);
        }
        let mut row = BitSet::new(n);
        for &p in policies {
            for rule in &self.policies[p].egress {
                let numeric = rule.ports.is_empty() || rule.numeric[proto.index()].contains(q);
                if numeric {
                    row.union_with(&rule.peers);
                    continue;
                }
                if named == Named::Ignore {
                    continue;
                }
                for pp in rule.ports.iter().filter(|pp| pp.protocol == proto) {
                    if let PortMatch::Named(name) = &pp.port {
                        if let Some(dsts) = self.named_classes(name, proto, q) {
                            row.union_with_and(&rule.peers, dsts);
                        }
                    }
                }
            }
        }
        row
    }

    /// Whether a class holds pods (rather than external blocks).
    pub fn is_pod_class(&self, c: usize) -> bool {
        self.classes[c].kind != ClassKind::External
    }
}

/// The rules that apply to one class's ingress on one port class: ClusterNetworkPolicy
/// rules `(policy, rule)` of each tier, and NetworkPolicy rules when one isolates it.
#[derive(Clone, PartialEq, Eq, Hash)]
struct IngressKey {
    admin: Vec<(usize, usize)>,
    np: Option<Vec<(usize, usize)>>,
    baseline: Vec<(usize, usize)>,
}

/// Classes grouped by their egress policies of both kinds (their egress profile).
struct EgressProfiles<'a> {
    profiles: Vec<(&'a [usize], &'a [usize])>,
    members: Vec<BitSet>,
    /// Classes no egress policy selects.
    open: BitSet,
}

impl<'a> EgressProfiles<'a> {
    fn of(c: &'a Compiled) -> Self {
        let n = c.classes.len();
        let mut ids: HashMap<(&[usize], &[usize]), usize> = HashMap::new();
        let mut profiles = Vec::new();
        let mut members: Vec<BitSet> = Vec::new();
        let mut open = BitSet::new(n);
        for (k, class) in c.classes.iter().enumerate() {
            if class.egress_policies.is_empty() && !c.has_tier_rules(class, false) {
                open.insert(k);
                continue;
            }
            let next = ids.len();
            let key = (
                class.cluster_policies.as_slice(),
                class.egress_policies.as_slice(),
            );
            let p = *ids.entry(key).or_insert(next);
            if p == members.len() {
                profiles.push(key);
                members.push(BitSet::new(n));
            }
            members[p].insert(k);
        }
        EgressProfiles {
            profiles,
            members,
            open,
        }
    }

    /// The source classes whose egress admits destination class `d` on port class `q`.
    fn admitting(&self, c: &Compiled, proto: Protocol, q: usize, d: usize) -> BitSet {
        let mut out = self.open.clone();
        let names = c.names_at(d, proto, q, Named::Resolve);
        for (p, (cnps, policies)) in self.profiles.iter().enumerate() {
            if c.egress_admits_one(cnps, policies, proto, q, d, &names) {
                out.union_with(&self.members[p]);
            }
        }
        out
    }
}
