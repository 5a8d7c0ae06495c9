//! Reachability over equivalence classes: for one protocol and one port class,
//! `allowed[s][d] = egress(s) admits d  AND  ingress(d) admits s`, computed as
//! bit rows (ingress rows transposed once), so the cost is classes² / 64 per port class.

use std::collections::HashMap;

use rayon::prelude::*;

use crate::bits::{BitMatrix, BitSet};
use crate::compile::{ClassKind, Compiled, CompiledRule};
use crate::model::{PortMatch, Protocol};

impl Compiled {
    /// Class-level matrix for one port class of a protocol.
    pub fn class_matrix(&self, proto: Protocol, q: usize) -> BitMatrix {
        let n = self.classes.len();
        let ingress_t = self.ingress_rows(proto, q).transpose();
        let mut out = BitMatrix::new(n);
        let mut egress_memo: HashMap<&[usize], BitSet> = HashMap::new();
        for (s, class) in self.classes.iter().enumerate() {
            let row = egress_memo
                .entry(class.egress_policies.as_slice())
                .or_insert_with(|| self.egress_row(&class.egress_policies, proto, q));
            out.rows[s] = row.clone();
            out.rows[s].intersect_with(&ingress_t.rows[s]);
        }
        out
    }

    /// Class-level matrix for one port (`None` if the port is 0).
    pub fn port_matrix(&self, proto: Protocol, port: u16) -> Option<BitMatrix> {
        let q = self.port_space(proto).class_of(port)?;
        Some(self.class_matrix(proto, q))
    }

    /// Class pairs allowed on at least one port of the protocol.
    pub fn any_port_matrix(&self, proto: Protocol) -> BitMatrix {
        let n = self.classes.len();
        let qs = self.port_space(proto).classes.len();
        (0..qs)
            .into_par_iter()
            .map(|q| self.class_matrix(proto, q))
            .reduce(
                || BitMatrix::new(n),
                |mut a, b| {
                    for (x, y) in a.rows.iter_mut().zip(&b.rows) {
                        x.union_with(y);
                    }
                    a
                },
            )
    }

    /// Every port class's matrix, in port-class order.
    pub fn all_port_matrices(&self, proto: Protocol) -> Vec<BitMatrix> {
        let qs = self.port_space(proto).classes.len();
        (0..qs)
            .into_par_iter()
            .map(|q| self.class_matrix(proto, q))
            .collect()
    }

    /// Whether pod/external endpoint `a` may connect to `b` on the port.
    pub fn endpoint_allowed(&self, a: usize, b: usize, proto: Protocol, port: u16) -> bool {
        if a == b && a < self.pods {
            return true;
        }
        self.port_matrix(proto, port)
            .is_some_and(|m| m.get(self.endpoint_class[a], self.endpoint_class[b]))
    }

    /// Which rules of a direction apply on port class `q` for destination class `d`.
    fn rule_applies(&self, rule: &CompiledRule, proto: Protocol, q: usize, d: usize) -> bool {
        if rule.ports.is_empty() {
            return true;
        }
        let space = self.port_space(proto);
        rule.ports
            .iter()
            .filter(|p| p.protocol == proto)
            .any(|p| match &p.port {
                PortMatch::All => true,
                PortMatch::Range(lo, hi) => {
                    // Port classes never straddle a range boundary, so one port decides.
                    let first = space.classes[q][0].0;
                    (*lo..=*hi).contains(&first)
                }
                PortMatch::Named(name) => self.named_classes(name, proto, q).is_some_and(|s| s.contains(d)),
            })
    }

    /// Rows indexed by destination class: the source classes its ingress admits.
    fn ingress_rows(&self, proto: Protocol, q: usize) -> BitMatrix {
        let n = self.classes.len();
        let mut m = BitMatrix::new(n);
        let mut memo: HashMap<Vec<(usize, usize)>, BitSet> = HashMap::new();
        for (d, class) in self.classes.iter().enumerate() {
            if class.ingress_policies.is_empty() {
                m.rows[d] = BitSet::full(n);
                continue;
            }
            let applicable: Vec<(usize, usize)> = class
                .ingress_policies
                .iter()
                .flat_map(|&p| {
                    self.policies[p]
                        .ingress
                        .iter()
                        .enumerate()
                        .filter(move |(_, r)| self.rule_applies(r, proto, q, d))
                        .map(move |(ri, _)| (p, ri))
                })
                .collect();
            let row = memo.entry(applicable).or_insert_with_key(|rules| {
                let mut row = BitSet::new(n);
                for &(p, ri) in rules {
                    row.union_with(&self.policies[p].ingress[ri].peers);
                }
                row
            });
            m.rows[d] = row.clone();
        }
        m
    }

    /// The destination classes that egress policies `policies` admit on port class `q`.
    fn egress_row(&self, policies: &[usize], proto: Protocol, q: usize) -> BitSet {
        let n = self.classes.len();
        if policies.is_empty() {
            return BitSet::full(n);
        }
        let space = self.port_space(proto);
        let first = space.classes[q][0].0;
        let mut row = BitSet::new(n);
        for &p in policies {
            for rule in &self.policies[p].egress {
                let numeric = rule.ports.is_empty()
                    || rule.ports.iter().any(|pp| {
                        pp.protocol == proto
                            && match pp.port {
                                PortMatch::All => true,
                                PortMatch::Range(lo, hi) => (lo..=hi).contains(&first),
                                PortMatch::Named(_) => false,
                            }
                    });
                if numeric {
                    row.union_with(&rule.peers);
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
