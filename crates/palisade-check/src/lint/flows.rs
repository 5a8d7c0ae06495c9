//! Flows: half-open connections (one side allows, the other denies) and, against a
//! baseline, metrics the monitoring namespace can no longer scrape.

use std::collections::{BTreeMap, HashMap, HashSet};

use palisade_core::bits::BitSet;
use palisade_core::{allowed, explain, Endpoint, ObjectRef, Peer, Protocol};

use super::{some, Ctx, Finding, HALF_OPEN, MONITORING_BLIND};
use crate::diff::deciding_policies;
use palisade_core::report::{merge, ranges_text};

/// (source class, destination class, egress allows?, protocol).
type HalfOpen = (usize, usize, bool, Protocol);

/// At most this many half-open findings (the rest are counted in a note).
const MAX_HALF_OPEN: usize = 25;

pub fn check(cx: &Ctx, out: &mut Vec<Finding>) {
    half_open(cx, out);
    monitoring(cx, out);
}

fn half_open(cx: &Ctx, out: &mut Vec<Finding>) {
    let comp = &cx.compiled;
    let n = comp.classes.len();
    let rep: Vec<usize> = comp.classes.iter().map(|c| c.members[0]).collect();
    // Destinations that can be half-open: pod classes isolated for ingress.
    let mut isolated_in = BitSet::new(n);
    for d in (0..n).filter(|&d| comp.is_pod_class(d) && !comp.classes[d].ingress_policies.is_empty()) {
        isolated_in.insert(d);
    }
    // The first groups in full; the others only counted (a big cluster has many).
    let mut found: BTreeMap<HalfOpen, Vec<(u16, u16)>> = BTreeMap::new();
    let mut others: HashSet<HalfOpen> = HashSet::new();
    for proto in Protocol::ALL {
        for q in 0..comp.port_space(proto).classes.len() {
            let (eg, ig) = comp.sides(proto, q);
            for (s, &rs) in rep.iter().enumerate() {
                if !comp.is_pod_class(s)
                    || comp.classes[s].egress_policies.is_empty()
                    || cx.cluster.pods[rs].host_network
                {
                    continue;
                }
                // Word by word: the destinations where the two sides disagree.
                for d in BitSet::differences_within(&eg.rows[s], &ig.rows[s], &isolated_in).iter() {
                    if s == d && comp.classes[s].members.len() == 1 {
                        continue; // a pod talking to itself is always allowed
                    }
                    let key = (s, d, eg.rows[s].contains(d), proto);
                    if found.len() < MAX_HALF_OPEN || found.contains_key(&key) {
                        found
                            .entry(key)
                            .or_default()
                            .extend(comp.port_space(proto).classes[q].iter().copied());
                    } else {
                        others.insert(key);
                    }
                }
            }
        }
    }
    let more = others.len();
    for ((s, d, egress_allows, proto), mut ranges) in found {
        ranges.sort_unstable();
        let (a, b) = (rep[s], rep[d]);
        let e = explain(
            cx.cluster,
            &cx.opts.engine,
            &Endpoint::Pod(a),
            &Endpoint::Pod(b),
            proto,
            ranges[0].0,
        );
        let names = |members: &[usize]| -> Vec<String> {
            members
                .iter()
                .filter(|&&m| m < cx.cluster.pods.len())
                .map(|&m| cx.cluster.pods[m].key())
                .collect()
        };
        let (from, to) = (names(&comp.classes[s].members), names(&comp.classes[d].members));
        // Only a side that singles the other end out (a pod selector that matched) is a
        // deliberate allow; "from anywhere" or "the whole namespace" promises nothing
        // about this pod.
        let side = if egress_allows { &e.egress } else { &e.ingress };
        let allowing: Vec<usize> = side
            .policies
            .iter()
            .filter(|t| {
                let policy = &cx.cluster.policies[t.policy];
                let rules = if egress_allows {
                    &policy.egress
                } else {
                    &policy.ingress
                };
                t.rules.iter().filter(|r| r.matched()).any(|r| {
                    r.peers.iter().filter(|o| o.matched).any(|o| {
                        matches!(&rules[r.index].peers[o.index],
                            Peer::Pods { pod_selector: Some(x), .. } if !x.is_everything())
                    })
                })
            })
            .map(|t| t.policy)
            .collect();
        let denying = deciding_policies(cx.cluster, &e);
        let Some(&at) = allowing.first() else { continue };
        let ports = format!("{proto}/{}", ranges_text(&merge(ranges)));
        let message = if egress_allows {
            format!(
                "egress of {} allows {} on {ports}, but their ingress denies it ({}): connections time out",
                some(&from),
                some(&to),
                denying.join(", ")
            )
        } else {
            format!(
                "ingress of {} allows {} on {ports}, but the source's egress denies it ({}): connections time out",
                some(&to),
                some(&from),
                denying.join(", ")
            )
        };
        out.push(
            Finding::new(
                HALF_OPEN,
                cx.policy_object(at),
                palisade_load::path::FieldPath::root(),
                message,
            )
            .fix("allow the flow on the other side too, or remove it from this side"),
        );
    }
    if more > 0 {
        cx.note(format!("{more} more half-open flow group(s) not shown"));
    }
}

/// Metrics ports: container ports whose name says metrics (`metrics`, `http-metrics`,
/// `prometheus`).
pub fn is_metrics(name: &str) -> bool {
    name.contains("metrics") || name == "prometheus"
}

fn monitoring(cx: &Ctx, out: &mut Vec<Finding>) {
    let Some(base) = &cx.opts.baseline else { return };
    let now = cx.cluster;
    let ns = &cx.opts.monitoring_namespace;
    let base_index: HashMap<String, usize> =
        base.pods.iter().enumerate().map(|(i, p)| (p.key(), i)).collect();
    let scrapers: Vec<(usize, usize)> = now
        .pods
        .iter()
        .enumerate()
        .filter(|(_, p)| p.namespace == *ns)
        .filter_map(|(i, p)| base_index.get(&p.key()).map(|&b| (i, b)))
        .collect();
    // target object -> (ports lost, scrapers)
    let mut lost: BTreeMap<ObjectRef, (Vec<String>, Vec<String>)> = BTreeMap::new();
    for (t, target) in now.pods.iter().enumerate() {
        let Some(&bt) = base_index.get(&target.key()) else {
            continue;
        };
        for port in target
            .ports
            .iter()
            .filter(|p| p.name.as_deref().is_some_and(is_metrics))
        {
            for &(m, bm) in &scrapers {
                let was = allowed(
                    base,
                    &cx.opts.engine,
                    &Endpoint::Pod(bm),
                    &Endpoint::Pod(bt),
                    port.protocol,
                    port.port,
                );
                let is = allowed(
                    now,
                    &cx.opts.engine,
                    &Endpoint::Pod(m),
                    &Endpoint::Pod(t),
                    port.protocol,
                    port.port,
                );
                if was && !is {
                    let e = lost.entry(cx.pod_group(target)).or_default();
                    let p = format!(
                        "{}/{} ({})",
                        port.port,
                        port.protocol,
                        port.name.as_deref().unwrap_or("")
                    );
                    if !e.0.contains(&p) {
                        e.0.push(p);
                    }
                    let who = now.pods[m].key();
                    if !e.1.contains(&who) {
                        e.1.push(who);
                    }
                }
            }
        }
    }
    for (object, (ports, who)) in lost {
        out.push(
            Finding::new(
                MONITORING_BLIND,
                object.clone(),
                palisade_load::path::FieldPath::root(),
                format!(
                    "{} could scrape {object} on {} in the baseline and cannot any more",
                    some(&who),
                    ports.join(", ")
                ),
            )
            .fix(format!(
                "allow ingress from the {ns} namespace on the metrics port:\n{}",
                palisade_load::emit::yaml(&serde_json::json!({"ingress": [{
                    "from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns}}}],
                    "ports": [{"port": "metrics"}]
                }]}))
            )),
        );
    }
}
