//! From the engine's compiled form to a [`Ruleset`] for one node.
//!
//! - Every local pod address that some policy isolates is a key of a verdict map
//!   (`ingress4`/`ingress6` by destination, `egress4`/`egress6` by source) that jumps to
//!   the chain of its *profile*: the list of policies isolating it (plus its named ports
//!   for ingress). Rule count grows with distinct profiles, not with pods.
//! - A rule's peers are one interval set: the addresses of the pods of its peer classes,
//!   plus its ipBlock ranges minus their excepts (minus every pod address when ipBlock
//!   must not match pods).
//! - Egress chains `return` on allow so that the destination's ingress still decides;
//!   both chains end by logging to NFLOG and dropping (or, in audit mode, logging and
//!   letting the packet through).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use palisade_core::ip::{ip_to_num, Family};
use palisade_core::{Cluster, Compiled, IpBlockPods, Peer, PolicyPort, PortMatch, Protocol};

use crate::ruleset::{AddrSet, LogMeaning, Ruleset, VerdictMap};

/// Namespace annotation that turns enforcement into logging for that namespace's pods.
pub const AUDIT_ANNOTATION: &str = "palisade.dev/audit";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// Enforce only for pods with this `spec.nodeName` (all pods when `None`).
    pub node: Option<String>,
    /// Log would-be denials and accept them, everywhere.
    pub audit: bool,
    /// Also log allowed new connections.
    pub log_allowed: bool,
    /// NFLOG group.
    pub log_group: u16,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            node: None,
            audit: false,
            log_allowed: false,
            log_group: 100,
        }
    }
}

/// Address ranges per family (IPv4, IPv6).
type Addrs = [Vec<(u128, u128)>; 2];

fn extend(dst: &mut Addrs, src: &Addrs) {
    for (d, s) in dst.iter_mut().zip(src) {
        d.extend(s.iter().copied());
    }
}

/// Merges points and ranges into sorted, disjoint, non-adjacent ranges.
fn merge(mut r: Vec<(u128, u128)>) -> Vec<(u128, u128)> {
    r.sort_unstable();
    let mut out: Vec<(u128, u128)> = Vec::with_capacity(r.len());
    for (lo, hi) in r {
        match out.last_mut() {
            Some(last) if last.1 == u128::MAX || lo <= last.1 + 1 => last.1 = last.1.max(hi),
            _ => out.push((lo, hi)),
        }
    }
    out
}

/// `ranges` minus the sorted, merged `holes`.
fn subtract(ranges: &[(u128, u128)], holes: &[(u128, u128)]) -> Vec<(u128, u128)> {
    let mut out = Vec::new();
    for &(lo, hi) in ranges {
        let mut cur = lo;
        let mut open = true;
        let start = holes.partition_point(|h| h.1 < lo);
        for &(hl, hh) in &holes[start..] {
            if hl > hi {
                break;
            }
            if hl > cur {
                out.push((cur, hl - 1));
            }
            if hh >= hi {
                open = false;
                break;
            }
            cur = cur.max(hh + 1);
        }
        if open && cur <= hi {
            out.push((cur, hi));
        }
    }
    out
}

struct Ctx<'a> {
    cluster: &'a Cluster,
    compiled: &'a Compiled,
    opts: &'a Options,
    /// Addresses of each class's members, per family.
    class_addrs: Vec<Addrs>,
    /// Addresses of every selectable pod, per family (holes for ipBlock in ignore mode).
    pod_addrs: Addrs,
    set_ids: HashMap<(Family, Vec<(u128, u128)>), String>,
    rs: Ruleset,
    rule_marks: HashMap<(usize, usize), u32>,
}

fn fam_index(f: Family) -> usize {
    match f {
        Family::V4 => 0,
        Family::V6 => 1,
    }
}

const FAMILIES: [Family; 2] = [Family::V4, Family::V6];

fn proto_name(p: Protocol) -> &'static str {
    match p {
        Protocol::Tcp => "tcp",
        Protocol::Udp => "udp",
        Protocol::Sctp => "sctp",
    }
}

impl Ctx<'_> {
    /// The named set holding `ranges` (shared between rules with equal peers).
    fn set(&mut self, family: Family, ranges: Vec<(u128, u128)>) -> String {
        let key = (family, ranges);
        if let Some(n) = self.set_ids.get(&key) {
            return n.clone();
        }
        let name = format!(
            "peers{}_{}",
            self.set_ids.len(),
            if family == Family::V4 { 4 } else { 6 }
        );
        self.rs.sets.insert(
            name.clone(),
            AddrSet {
                family,
                ranges: key.1.clone(),
            },
        );
        self.set_ids.insert(key, name.clone());
        name
    }

    /// Addresses a rule's peers stand for, per family; `None` when the rule has no peers (all).
    fn peer_addrs(&self, policy: usize, ingress: bool, rule: usize) -> Option<Addrs> {
        let p = &self.cluster.policies[policy];
        let r = if ingress {
            &p.ingress[rule]
        } else {
            &p.egress[rule]
        };
        if r.peers.is_empty() {
            return None;
        }
        let cr = if ingress {
            &self.compiled.policies[policy].ingress[rule]
        } else {
            &self.compiled.policies[policy].egress[rule]
        };
        let mut out: Addrs = Default::default();
        for c in cr.peers.iter() {
            extend(&mut out, &self.class_addrs[c]);
        }
        for peer in &r.peers {
            if let Peer::IpBlock(b) = peer {
                let f = fam_index(b.cidr.family);
                let mut holes: Vec<(u128, u128)> = b.except.iter().map(|e| e.range()).collect();
                if self.compiled.options.ipblock_pods == IpBlockPods::Ignore {
                    holes.extend(self.pod_addrs[f].iter().copied());
                }
                out[f].extend(subtract(&[b.cidr.range()], &merge(holes)));
            }
        }
        Some(out.map(merge))
    }

    /// `meta l4proto X th dport {..}` expressions of a rule for a destination whose named
    /// ports are `named` (None: resolve nothing). `[None]` when the rule has no ports.
    fn port_exprs(ports: &[PolicyPort], named: Option<&[(String, Protocol, u16)]>) -> Vec<Option<String>> {
        if ports.is_empty() {
            return vec![None];
        }
        let mut out = Vec::new();
        for proto in Protocol::ALL {
            let mine: Vec<&PolicyPort> = ports.iter().filter(|p| p.protocol == proto).collect();
            if mine.is_empty() {
                continue;
            }
            if mine.iter().any(|p| p.port == PortMatch::All) {
                out.push(Some(format!("meta l4proto {}", proto_name(proto))));
                continue;
            }
            let mut nums: BTreeSet<(u16, u16)> = BTreeSet::new();
            for p in mine {
                match &p.port {
                    PortMatch::Range(lo, hi) => {
                        nums.insert((*lo, *hi));
                    }
                    PortMatch::Named(n) => {
                        if let Some(port) = named
                            .and_then(|ns| ns.iter().find(|(nn, pp, _)| nn == n && *pp == proto))
                            .map(|x| x.2)
                        {
                            nums.insert((port, port));
                        }
                    }
                    PortMatch::All => {}
                }
            }
            if nums.is_empty() {
                continue;
            }
            let items: Vec<String> = nums
                .iter()
                .map(|(lo, hi)| {
                    if lo == hi {
                        lo.to_string()
                    } else {
                        format!("{lo}-{hi}")
                    }
                })
                .collect();
            out.push(Some(format!(
                "meta l4proto {} th dport {{ {} }}",
                proto_name(proto),
                items.join(", ")
            )));
        }
        out
    }

    fn log(&self, prefix: &str) -> String {
        format!("log prefix \"{prefix} \" group {}", self.opts.log_group)
    }

    /// The rules of one policy rule inside a chain.
    fn rule_lines(
        &mut self,
        policy: usize,
        ingress: bool,
        rule: usize,
        named: Option<&[(String, Protocol, u16)]>,
    ) -> Vec<String> {
        let p = &self.cluster.policies[policy];
        let ports = if ingress {
            p.ingress[rule].ports.clone()
        } else {
            p.egress[rule].ports.clone()
        };
        let addr_kw = if ingress { "saddr" } else { "daddr" };
        let verdict = if ingress {
            let prefix = format!("A:i:{policy}:{rule}");
            self.rs.prefixes.insert(
                prefix.clone(),
                LogMeaning::Rule {
                    ingress: true,
                    policy,
                    rule,
                },
            );
            if self.opts.log_allowed {
                format!("{} accept", self.log(&prefix))
            } else {
                "accept".to_string()
            }
        } else if self.opts.log_allowed {
            let next = self.rule_marks.len() as u32 + 1;
            let mark = *self.rule_marks.entry((policy, rule)).or_insert(next);
            self.rs.marks.insert(mark, (policy, rule));
            format!("meta mark set {mark:#x} return")
        } else {
            "return".to_string()
        };
        let mut lines = Vec::new();
        let peers = self.peer_addrs(policy, ingress, rule);
        let comment = format!(
            "comment \"{} {} {rule}\"",
            p.key(),
            if ingress { "ingress" } else { "egress" }
        );
        let numeric_ports: Vec<PolicyPort> = if ingress {
            ports.clone()
        } else {
            ports
                .iter()
                .filter(|pp| !matches!(pp.port, PortMatch::Named(_)))
                .cloned()
                .collect()
        };
        // For egress, a rule with only named ports has no numeric part.
        let numeric_exprs = if !ingress && !ports.is_empty() && numeric_ports.is_empty() {
            Vec::new()
        } else {
            Self::port_exprs(&numeric_ports, named)
        };
        let emit = |lines: &mut Vec<String>, target: Option<String>, exprs: &[Option<String>]| {
            for e in exprs {
                let mut parts: Vec<String> = Vec::new();
                if let Some(t) = &target {
                    parts.push(t.clone());
                }
                if let Some(e) = e {
                    parts.push(e.clone());
                }
                parts.push("counter".into());
                parts.push(verdict.clone());
                parts.push(comment.clone());
                lines.push(parts.join(" "));
            }
        };
        match &peers {
            None => emit(&mut lines, None, &numeric_exprs),
            Some(addrs) => {
                for f in FAMILIES {
                    let a = &addrs[fam_index(f)];
                    if a.is_empty() || numeric_exprs.is_empty() {
                        continue;
                    }
                    let set = self.set(f, a.clone());
                    let ip = if f == Family::V4 { "ip" } else { "ip6" };
                    emit(&mut lines, Some(format!("{ip} {addr_kw} @{set}")), &numeric_exprs);
                }
            }
        }
        if !ingress {
            // Named ports resolve on each destination: one set per (name, resolved port).
            let cr = &self.compiled.policies[policy].egress[rule];
            let mut by_port: BTreeMap<(Protocol, u16), Addrs> = BTreeMap::new();
            for pp in &ports {
                let PortMatch::Named(name) = &pp.port else {
                    continue;
                };
                for (c, class) in self.compiled.classes.iter().enumerate() {
                    if !(p.egress[rule].peers.is_empty() || cr.peers.contains(c)) {
                        continue;
                    }
                    if let Some((_, _, port)) = class
                        .named_ports
                        .iter()
                        .find(|(n, pr, _)| n == name && *pr == pp.protocol)
                    {
                        extend(
                            by_port.entry((pp.protocol, *port)).or_default(),
                            &self.class_addrs[c],
                        );
                    }
                }
            }
            for ((proto, port), addrs) in by_port {
                for f in FAMILIES {
                    let a = merge(addrs[fam_index(f)].clone());
                    if a.is_empty() {
                        continue;
                    }
                    let set = self.set(f, a);
                    let ip = if f == Family::V4 { "ip" } else { "ip6" };
                    let expr = format!("meta l4proto {} th dport {{ {port} }}", proto_name(proto));
                    emit(&mut lines, Some(format!("{ip} daddr @{set}")), &[Some(expr)]);
                }
            }
        }
        lines
    }
}

/// Renders the table for one node (or for all pods when `opts.node` is `None`).
pub fn render(cluster: &Cluster, compiled: &Compiled, opts: &Options) -> Ruleset {
    let mut class_addrs: Vec<Addrs> = vec![Default::default(); compiled.classes.len()];
    let mut pod_addrs: Addrs = Default::default();
    for (i, pod) in cluster.pods.iter().enumerate() {
        for ip in &pod.ips {
            let (f, n) = ip_to_num(*ip);
            class_addrs[compiled.pod_class(i)][fam_index(f)].push((n, n));
            if !pod.host_network {
                pod_addrs[fam_index(f)].push((n, n));
            }
        }
    }
    let class_addrs = class_addrs.into_iter().map(|a| a.map(merge)).collect();
    let pod_addrs = pod_addrs.map(merge);
    let mut cx = Ctx {
        cluster,
        compiled,
        opts,
        class_addrs,
        pod_addrs,
        set_ids: HashMap::new(),
        rs: Ruleset::default(),
        rule_marks: HashMap::new(),
    };
    let audit_ns = |ns: &str| {
        opts.audit
            || cluster
                .namespace(ns)
                .is_some_and(|n| n.annotations.get(AUDIT_ANNOTATION).is_some_and(|v| v == "true"))
    };
    let mut maps: BTreeMap<String, VerdictMap> = BTreeMap::new();
    for (name, family) in [
        ("ingress4", Family::V4),
        ("ingress6", Family::V6),
        ("egress4", Family::V4),
        ("egress6", Family::V6),
    ] {
        maps.insert(
            name.into(),
            VerdictMap {
                family,
                entries: Vec::new(),
            },
        );
    }
    // Profiles: (direction, policies, named ports for ingress, audit) -> chain.
    type Key = (bool, Vec<usize>, Vec<(String, Protocol, u16)>, bool);
    let mut chains: BTreeMap<Key, String> = BTreeMap::new();
    for (i, pod) in cluster.pods.iter().enumerate() {
        let local = !pod.host_network && opts.node.as_ref().is_none_or(|n| pod.node.as_ref() == Some(n));
        if !local {
            continue;
        }
        let class = &compiled.classes[compiled.pod_class(i)];
        let audit = audit_ns(&pod.namespace);
        for ingress in [true, false] {
            let policies = if ingress {
                &class.ingress_policies
            } else {
                &class.egress_policies
            };
            if policies.is_empty() {
                continue;
            }
            let named = if ingress {
                class.named_ports.clone()
            } else {
                Vec::new()
            };
            let key: Key = (ingress, policies.clone(), named, audit);
            let next = chains.len();
            let chain = chains
                .entry(key)
                .or_insert_with(|| format!("{}{next}", if ingress { "in" } else { "out" }))
                .clone();
            for ip in &pod.ips {
                let f = if ip.is_ipv4() { "4" } else { "6" };
                let map = format!("{}{f}", if ingress { "ingress" } else { "egress" });
                maps.get_mut(&map)
                    .expect("map exists")
                    .entries
                    .push((*ip, chain.clone()));
            }
        }
    }
    for ((ingress, policies, named, audit), chain) in &chains {
        let mut lines = Vec::new();
        for &p in policies {
            let n = if *ingress {
                cluster.policies[p].ingress.len()
            } else {
                cluster.policies[p].egress.len()
            };
            for r in 0..n {
                lines.extend(cx.rule_lines(p, *ingress, r, Some(named)));
            }
        }
        let dir = if *ingress { "i" } else { "e" };
        let prefix = format!(
            "{}:{dir}:{}",
            if *audit { "U" } else { "D" },
            &chain[if *ingress { 2 } else { 3 }..]
        );
        cx.rs.prefixes.insert(
            prefix.clone(),
            LogMeaning::Deny {
                ingress: *ingress,
                policies: policies.clone(),
            },
        );
        let last = match (*audit, *ingress) {
            (false, _) => format!("counter {} drop", cx.log(&prefix)),
            (true, true) => format!("counter {} accept", cx.log(&prefix)),
            (true, false) => format!("counter {} return", cx.log(&prefix)),
        };
        if *audit {
            cx.rs.audit_prefixes.push(prefix);
        }
        lines.push(last);
        cx.rs.chains.insert(chain.clone(), lines);
    }
    for m in maps.values_mut() {
        m.entries.sort();
    }
    cx.rs.maps = maps;
    let mut fwd = vec![
        "ct state established,related accept".to_string(),
        "ct state invalid drop".to_string(),
    ];
    if opts.log_allowed {
        fwd.push("meta mark set 0x0".into());
    }
    fwd.extend([
        "ip saddr vmap @egress4".to_string(),
        "ip6 saddr vmap @egress6".to_string(),
        "ip daddr vmap @ingress4".to_string(),
        "ip6 daddr vmap @ingress6".to_string(),
    ]);
    if opts.log_allowed {
        cx.rs.prefixes.insert("A:-".into(), LogMeaning::Open);
        fwd.push(format!("counter {} accept", cx.log("A:-")));
    }
    cx.rs.forward = fwd;
    cx.rs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_and_subtract() {
        assert_eq!(
            merge(vec![(5, 5), (1, 3), (4, 4), (10, 12)]),
            vec![(1, 5), (10, 12)]
        );
        assert_eq!(
            subtract(&[(0, 100)], &[(10, 19), (50, 50)]),
            vec![(0, 9), (20, 49), (51, 100)]
        );
        assert_eq!(subtract(&[(0, 100)], &[(0, 100)]), vec![]);
        assert_eq!(subtract(&[(10, 20)], &[(0, 12), (18, 30)]), vec![(13, 17)]);
        assert_eq!(
            subtract(&[(0, u128::MAX)], &[(5, 5)]),
            vec![(0, 4), (6, u128::MAX)]
        );
    }
}
