//! Reachability over equivalence classes: for one protocol and one port class,
//! `allowed[s][d] = egress(s) admits d  AND  ingress(d) admits s`, computed as
//! bit rows (ingress rows transposed once), so the cost is classes² / 64 per port class.
//! Node-local pairs (a pod and its own node) are not in these matrices: they are endpoint
//! pairs ([`Compiled::node_local`]) that every reader adds.

use std::collections::HashMap;

use rayon::prelude::*;

use crate::bits::{transpose_into, BitMatrix, BitSet};
use crate::compile::{ClassKind, Compiled, CompiledRule};
use crate::model::{PortMatch, Protocol};

impl Compiled {
    /// Class-level matrix for one port class of a protocol.
    pub fn class_matrix(&self, proto: Protocol, q: usize) -> BitMatrix {
        let n = self.classes.len();
        let mut ingress_t = BitMatrix::new(n);
        let mut out = BitMatrix::new(n);
        self.accumulate(proto, q, &mut ingress_t, &mut out);
        out
    }

    /// `acc |= allowed on port class q`, using `scratch` for the transposed ingress rows.
    fn accumulate(&self, proto: Protocol, q: usize, scratch: &mut BitMatrix, acc: &mut BitMatrix) {
        let n = self.classes.len();
        let (rows, index) = self.ingress_rows(proto, q);
        let refs: Vec<&BitSet> = index.iter().map(|&i| &rows[i]).collect();
        transpose_into(&refs, scratch);
        let mut egress_memo: HashMap<&[usize], BitSet> = HashMap::new();
        let full = BitSet::full(n);
        for (s, class) in self.classes.iter().enumerate() {
            let row = if class.egress_policies.is_empty() {
                &full
            } else {
                egress_memo
                    .entry(class.egress_policies.as_slice())
                    .or_insert_with(|| self.egress_row(&class.egress_policies, proto, q))
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
        let (rows, index) = self.ingress_rows(proto, q);
        let refs: Vec<&BitSet> = index.iter().map(|&i| &rows[i]).collect();
        let mut ingress = BitMatrix::new(n);
        transpose_into(&refs, &mut ingress);
        let mut egress = BitMatrix::new(n);
        for (s, class) in self.classes.iter().enumerate() {
            egress.rows[s] = self.egress_row(&class.egress_policies, proto, q);
        }
        (egress, ingress)
    }

    /// Class-level matrix for one port (`None` if the port is 0).
    pub fn port_matrix(&self, proto: Protocol, port: u16) -> Option<BitMatrix> {
        let q = self.port_space(proto).class_of(port)?;
        Some(self.class_matrix(proto, q))
    }

    /// Class pairs allowed on at least one port of the protocol.
    pub fn any_port_matrix(&self, proto: Protocol) -> BitMatrix {
        let n = self.classes.len();
        let qs: Vec<usize> = (0..self.port_space(proto).classes.len()).collect();
        // One scratch and one accumulator per worker (each is classes² bits).
        let workers = rayon::current_num_threads().clamp(1, qs.len().max(1));
        let chunk = qs.len().div_ceil(workers).max(1);
        let mut parts: Vec<BitMatrix> = qs
            .par_chunks(chunk)
            .map(|part| {
                let mut scratch = BitMatrix::new(n);
                let mut acc = BitMatrix::new(n);
                for &q in part {
                    self.accumulate(proto, q, &mut scratch, &mut acc);
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

    /// Which rules of a direction apply on port class `q` for destination class `d`.
    fn rule_applies(&self, rule: &CompiledRule, proto: Protocol, q: usize, d: usize) -> bool {
        rule.ports.is_empty()
            || rule.numeric[proto.index()].contains(q)
            || rule.ports.iter().any(|p| {
                matches!(&p.port, PortMatch::Named(name) if p.protocol == proto
                        && self.named_classes(name, proto, q).is_some_and(|s| s.contains(d)))
            })
    }

    /// For each destination class, the source classes its ingress admits on port class `q`:
    /// the distinct rows, and the row of each class.
    fn ingress_rows(&self, proto: Protocol, q: usize) -> (Vec<BitSet>, Vec<usize>) {
        let n = self.classes.len();
        let mut rows = vec![BitSet::full(n)];
        let mut index = Vec::with_capacity(n);
        let mut memo: HashMap<Vec<(usize, usize)>, usize> = HashMap::new();
        for (d, class) in self.classes.iter().enumerate() {
            if class.ingress_policies.is_empty() {
                index.push(0);
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
            let i = *memo.entry(applicable).or_insert_with_key(|rules| {
                let mut row = BitSet::new(n);
                for &(p, ri) in rules {
                    row.union_with(&self.policies[p].ingress[ri].peers);
                }
                rows.push(row);
                rows.len() - 1
            });
            index.push(i);
        }
        (rows, index)
    }

    /// The destination classes that egress policies `policies` admit on port class `q`.
    fn egress_row(&self, policies: &[usize], proto: Protocol, q: usize) -> BitSet {
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
