//! From the engine's compiled form to a [`Ruleset`] for one node.
//!
//! - Every local pod address that some policy isolates is a key of a verdict map
//!   (`ingress4`/`ingress6` by destination, `egress4`/`egress6` by source) that jumps to
//!   the chain of its *profile*: the list of policies isolating it (plus its named ports
//!   for ingress). Rule count grows with distinct profiles, not with pods.
//! - A rule's peers are one interval set: the addresses of the pods of its peer classes,
//!   plus its ipBlock ranges minus their excepts (minus every pod address when ipBlock
//!   must not match pods).
//! - Egress and ingress are two base chains on the forward hook, so an egress allow
//!   (`accept`) still leaves the destination's ingress to decide; every profile chain ends
//!   by logging to NFLOG and dropping (or, in audit mode, logging and letting it through).
//!   A node's own traffic with its pods (always allowed, see `palisade_core::nodes`) passes
//!   the output and input hooks, never this one, so it needs no rule.
//! - Staged (shadow-mode) policies are not enforced: the connections whose verdict they
//!   would change are logged at the top of the egress base chain (module `shadow`).
//! - Names are stable under pod churn: chains are numbered in profile order and rules
//!   come in port order, so sets keep their names while policy shapes stay (what lets
//!   [`crate::incremental`] reach the same ruleset by element changes alone).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use palisade_core::ip::{ip_to_num, Family};
use palisade_core::ranges::{merge, subtract};
use std::net::IpAddr;

use palisade_core::bits::BitSet;
use palisade_core::{
    Action, Cluster, CnpPeer, Compiled, CompiledCluster, IpBlockPods, Peer, PolicyPort, PortMatch, Protocol,
    Tier,
};

use crate::rule::{End, Expr, LogTag, Rule};
use crate::ruleset::{AddrSet, LogMeaning, RuleRef, Ruleset, VerdictMap};

mod shadow;
mod tiers;

/// Namespace annotation that turns enforcement into logging for that namespace's pods.
pub const AUDIT_ANNOTATION: &str = "palisade.dev/audit";

/// What to render: the node to enforce for, and the logging and audit modes.
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

/// An address range, a protocol and a port range.
type Tuple = ((u128, u128), Protocol, (u16, u16));

/// Sorted, merged address ranges.
type Ranges = Vec<(u128, u128)>;

/// Address ranges per family (IPv4, IPv6).
type Addrs = [Vec<(u128, u128)>; 2];

fn extend(dst: &mut Addrs, src: &Addrs) {
    for (d, s) in dst.iter_mut().zip(src) {
        d.extend(s.iter().copied());
    }
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
    /// Marks of egress rules (policy, rule, of a ClusterNetworkPolicy).
    rule_marks: HashMap<(usize, usize, bool), u32>,
}

fn fam_index(f: Family) -> usize {
    match f {
        Family::V4 => 0,
        Family::V6 => 1,
    }
}

const FAMILIES: [Family; 2] = [Family::V4, Family::V6];

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
        let r = &self.cluster.policies[policy].rules(ingress)[rule];
        if r.peers.is_empty() {
            return None;
        }
        let cr = &self.compiled.policies[policy].rules(ingress)[rule];
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

    /// A log statement with `tag`, to this node's NFLOG group.
    fn log(&self, tag: LogTag) -> Expr {
        Expr::Log {
            tag,
            group: self.opts.log_group,
        }
    }

    /// What one policy rule matches: addresses of the other end (`None`: any), ports
    /// (`None`: every protocol and port), and for egress the named ports resolved on each
    /// destination.
    fn rule_match(
        &self,
        policy: usize,
        ingress: bool,
        rule: usize,
        named: &[(String, Protocol, u16)],
    ) -> RuleMatch {
        let r = &self.cluster.policies[policy].rules(ingress)[rule];
        let cr = &self.compiled.policies[policy].rules(ingress)[rule];
        let peers = (!r.peers.is_empty()).then_some(&cr.peers);
        let addrs = self.peer_addrs(policy, ingress, rule);
        self.match_of(addrs, &r.ports, peers, ingress, named)
    }

    /// What a rule with these addresses (`None`: any), port entries and peer classes
    /// (`None`: every class) matches; `named` are the local pod's named ports (ingress).
    fn match_of(
        &self,
        addrs: Option<Addrs>,
        ports: &[PolicyPort],
        peers: Option<&BitSet>,
        ingress: bool,
        named: &[(String, Protocol, u16)],
    ) -> RuleMatch {
        if ports.is_empty() {
            return RuleMatch {
                addrs,
                ports: None,
                named: Vec::new(),
            };
        }
        let mut list = Vec::new();
        let mut by_port: BTreeMap<(Protocol, u16), Addrs> = BTreeMap::new();
        for pp in ports {
            match &pp.port {
                PortMatch::All => list.push((pp.protocol, 0, 65535)),
                PortMatch::Range(lo, hi) => list.push((pp.protocol, *lo, *hi)),
                PortMatch::Named(name) if ingress => {
                    if let Some((_, _, port)) =
                        named.iter().find(|(n, pr, _)| n == name && *pr == pp.protocol)
                    {
                        list.push((pp.protocol, *port, *port));
                    }
                }
                PortMatch::Named(name) => {
                    // Resolved on each destination pod: group the peer classes by the port.
                    for (c, class) in self.compiled.classes.iter().enumerate() {
                        if !peers.is_none_or(|p| p.contains(c)) {
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
            }
        }
        let named = by_port
            .into_iter()
            .map(|((proto, port), a)| (a.map(merge), proto, port))
            .collect();
        RuleMatch {
            addrs,
            ports: Some(list),
            named,
        }
    }

    /// One rule per policy rule (and family and protocol), so that a log line can name the
    /// rule that allowed: used when allowed flows are logged.
    fn logged_lines(&mut self, policy: usize, ingress: bool, rule: usize, m: &RuleMatch) -> Vec<Rule> {
        let p = &self.cluster.policies[policy];
        let end = if ingress { End::Source } else { End::Destination };
        let named_rule = RuleRef {
            ingress,
            policy: p.object_ref(),
            rule,
            tier: None,
        };
        let verdict = if ingress {
            let tag = LogTag::Allowed { policy, rule };
            self.rs.logs.insert(tag, LogMeaning::Rule(named_rule));
            self.log(tag)
        } else {
            let next = self.rule_marks.len() as u32 + 1;
            let mark = *self.rule_marks.entry((policy, rule, false)).or_insert(next);
            self.rs.marks.insert(mark, named_rule);
            Expr::SetMark(mark)
        };
        let comment = Expr::Comment(format!(
            "{} {} {rule}",
            p.key(),
            if ingress { "ingress" } else { "egress" }
        ));
        self.match_lines(end, m, &[Expr::Counter, verdict, Expr::Accept, comment])
    }

    /// The lines matching what `m` matches (one per address family set, protocol and
    /// resolved named port), each ending with `tail`.
    fn match_lines(&mut self, end: End, m: &RuleMatch, tail: &[Expr]) -> Vec<Rule> {
        let port_exprs: Vec<Option<Expr>> = match &m.ports {
            None => vec![None],
            Some(list) => Protocol::ALL
                .iter()
                .filter_map(|proto| {
                    let ranges: BTreeSet<(u16, u16)> = list
                        .iter()
                        .filter(|(pr, _, _)| pr == proto)
                        .map(|(_, lo, hi)| (*lo, *hi))
                        .collect();
                    (!ranges.is_empty()).then(|| Expr::L4 {
                        protocol: *proto,
                        ports: Some(ranges.into_iter().collect()),
                    })
                })
                .map(Some)
                .collect(),
        };
        let mut lines = Vec::new();
        let line = |target: Option<Expr>, e: &Option<Expr>| {
            let mut parts: Vec<Expr> = target.into_iter().collect();
            parts.extend(e.clone());
            parts.extend(tail.iter().cloned());
            Rule(parts)
        };
        match &m.addrs {
            None => lines.extend(port_exprs.iter().map(|e| line(None, e))),
            Some(addrs) => {
                for target in self.set_matches(end, addrs) {
                    lines.extend(port_exprs.iter().map(|e| line(Some(target.clone()), e)));
                }
            }
        }
        for (addrs, proto, port) in &m.named {
            let e = Some(Expr::L4 {
                protocol: *proto,
                ports: Some(vec![(*port, *port)]),
            });
            for target in self.set_matches(End::Destination, addrs) {
                lines.push(line(Some(target), &e));
            }
        }
        lines
    }

    /// `ip KW @set` / `ip6 KW @set` for the families where `addrs` is not empty.
    fn set_matches(&mut self, end: End, addrs: &Addrs) -> Vec<Expr> {
        FAMILIES
            .iter()
            .filter(|f| !addrs[fam_index(**f)].is_empty())
            .map(|&family| Expr::InSet {
                family,
                end,
                set: self.set(family, addrs[fam_index(family)].clone()),
            })
            .collect()
    }

    /// All rules of a profile folded together: the (address, protocol, port) boxes they
    /// allow, made disjoint, become one rule per protocol and distinct address set (a port
    /// set, then one set lookup), plus address sets for rules that allow every protocol.
    fn fast_lines(&mut self, ingress: bool, matches: &[RuleMatch]) -> Vec<Rule> {
        let end = if ingress { End::Source } else { End::Destination };
        let mut lines = Vec::new();
        let mut any_proto: Addrs = Default::default();
        let mut boxes: [Vec<Tuple>; 2] = Default::default();
        let full = |f: Family| -> (u128, u128) {
            (
                0,
                if f == Family::V4 {
                    u32::MAX as u128
                } else {
                    u128::MAX
                },
            )
        };
        for m in matches {
            match (&m.addrs, &m.ports) {
                (None, None) => {
                    lines.push(Rule::of([
                        Expr::Counter,
                        Expr::Accept,
                        Expr::Comment("allows everything".into()),
                    ]));
                    return lines;
                }
                (Some(a), None) => extend(&mut any_proto, a),
                (addrs, Some(ports)) => {
                    for f in FAMILIES {
                        let fi = fam_index(f);
                        let ranges: Vec<(u128, u128)> = match addrs {
                            None => vec![full(f)],
                            Some(a) => a[fi].clone(),
                        };
                        for r in &ranges {
                            for (proto, lo, hi) in ports {
                                boxes[fi].push((*r, *proto, (*lo, *hi)));
                            }
                        }
                    }
                }
            }
            for (a, proto, port) in &m.named {
                for f in FAMILIES {
                    for r in &a[fam_index(f)] {
                        boxes[fam_index(f)].push((*r, *proto, (*port, *port)));
                    }
                }
            }
        }
        let full_v4 = full(Family::V4);
        for f in FAMILIES {
            let fi = fam_index(f);
            let a = merge(std::mem::take(&mut any_proto[fi]));
            if !a.is_empty() {
                let set = self.set(f, a);
                lines.push(Rule::of([
                    Expr::InSet { family: f, end, set },
                    Expr::Counter,
                    Expr::Accept,
                ]));
            }
            // Disjoint boxes, grouped by their address ranges: one rule per protocol and
            // address set, with every port that set is allowed on.
            let mut groups: BTreeMap<(Protocol, Ranges), Vec<(u16, u16)>> = BTreeMap::new();
            let mut by_ports: BTreeMap<(Protocol, (u16, u16)), Ranges> = BTreeMap::new();
            for (a, proto, ports) in disjoint_boxes(std::mem::take(&mut boxes[fi])) {
                by_ports.entry((proto, ports)).or_default().push(a);
            }
            for ((proto, ports), addrs) in by_ports {
                groups.entry((proto, addrs)).or_default().push(ports);
            }
            // In port order, not address order: a pod joining a set must not reorder the
            // rules (and rename the sets) of an unchanged policy shape.
            let mut groups: Vec<_> = groups.into_iter().collect();
            groups.sort_by_key(|((proto, _), ports): &((Protocol, Ranges), Vec<(u16, u16)>)| {
                (*proto, ports[0])
            });
            for ((protocol, addrs), ports) in groups {
                let port_match = Expr::L4 {
                    protocol,
                    ports: (ports != [(0, 65535)]).then_some(ports),
                };
                let everyone = addrs == [full(f)] || (f == Family::V4 && addrs == [full_v4]);
                if everyone {
                    lines.push(Rule::of([
                        Expr::Version(f),
                        port_match,
                        Expr::Counter,
                        Expr::Accept,
                    ]));
                } else {
                    let set = self.set(f, addrs);
                    lines.push(Rule::of([
                        port_match,
                        Expr::InSet { family: f, end, set },
                        Expr::Counter,
                        Expr::Accept,
                    ]));
                }
            }
        }
        lines
    }
}

/// What one policy rule matches (see `Ctx::rule_match`).
struct RuleMatch {
    addrs: Option<Addrs>,
    ports: Option<Vec<(Protocol, u16, u16)>>,
    named: Vec<(Addrs, Protocol, u16)>,
}

/// A port range and the merged address ranges allowed on it.
type PortAtom = ((u16, u16), Vec<(u128, u128)>);

/// Boxes (address range, protocol, port range) rewritten as disjoint boxes covering the
/// same union: nftables refuses overlapping elements in interval sets.
fn disjoint_boxes(boxes: Vec<Tuple>) -> Vec<Tuple> {
    let mut out = Vec::new();
    for proto in Protocol::ALL {
        let mine: Vec<&Tuple> = boxes.iter().filter(|b| b.1 == proto).collect();
        if mine.is_empty() {
            continue;
        }
        let mut cuts: BTreeSet<u32> = BTreeSet::new();
        for b in &mine {
            cuts.insert(b.2 .0 as u32);
            cuts.insert(b.2 .1 as u32 + 1);
        }
        let cuts: Vec<u32> = cuts.into_iter().collect();
        // Port atoms with their merged address ranges; equal neighbours merge.
        let mut prev: Option<PortAtom> = None;
        let flush = |p: Option<PortAtom>, out: &mut Vec<_>| {
            if let Some((ports, addrs)) = p {
                for a in addrs {
                    out.push((a, proto, ports));
                }
            }
        };
        for w in cuts.windows(2) {
            let (lo, hi) = (w[0] as u16, (w[1] - 1) as u16);
            let addrs = merge(
                mine.iter()
                    .filter(|b| b.2 .0 <= lo && hi <= b.2 .1)
                    .map(|b| b.0)
                    .collect(),
            );
            match &mut prev {
                Some((ports, a)) if *a == addrs && ports.1 as u32 + 1 == lo as u32 => ports.1 = hi,
                _ => {
                    flush(prev.take(), &mut out);
                    if !addrs.is_empty() {
                        prev = Some(((lo, hi), addrs));
                    }
                }
            }
        }
        flush(prev, &mut out);
    }
    out
}

/// A profile: the direction, the policies isolating a pod in it, the pod's named ports
/// (ingress only), whether its namespace is audited, and the ClusterNetworkPolicies with
/// rules in that direction selecting it (in reading order). Pods with equal profiles share
/// a chain.
type Profile = (bool, Vec<usize>, Vec<(String, Protocol, u16)>, bool, Vec<usize>);

/// Addresses of each class's members, and of every selectable pod, per family.
fn endpoint_addrs(cc: &CompiledCluster<'_>) -> (Vec<Addrs>, Addrs) {
    let (cluster, compiled) = (cc.cluster(), cc.compiled());
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
    (class_addrs, pod_addrs.map(merge))
}

/// Each local isolated pod address with the verdict map it goes in and its profile.
fn local_profiles(cc: &CompiledCluster<'_>, opts: &Options) -> Vec<(&'static str, IpAddr, Profile)> {
    let (cluster, compiled) = (cc.cluster(), cc.compiled());
    let audit_ns = |ns: &str| {
        opts.audit
            || cluster
                .namespace(ns)
                .is_some_and(|n| n.annotations.get(AUDIT_ANNOTATION).is_some_and(|v| v == "true"))
    };
    let mut entries = Vec::new();
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
            let cnps: Vec<usize> = class
                .cluster_policies
                .iter()
                .copied()
                .filter(|&c| !compiled.cluster_policies[c].rules(ingress).is_empty())
                .collect();
            if policies.is_empty() && cnps.is_empty() {
                continue;
            }
            let named = if ingress {
                class.named_ports.clone()
            } else {
                Vec::new()
            };
            let profile: Profile = (ingress, policies.clone(), named, audit, cnps);
            for ip in &pod.ips {
                let map = match (ingress, ip.is_ipv4()) {
                    (true, true) => "ingress4",
                    (true, false) => "ingress6",
                    (false, true) => "egress4",
                    (false, false) => "egress6",
                };
                entries.push((map, *ip, profile.clone()));
            }
        }
    }
    entries
}

/// Chain names and numbers per profile: numbered in profile order per direction, so that
/// chains keep their names while the profiles stay, whatever pods come and go.
fn number_profiles<'p>(profiles: impl Iterator<Item = &'p Profile>) -> BTreeMap<Profile, (String, usize)> {
    let mut chains: BTreeMap<Profile, (String, usize)> =
        profiles.map(|p| (p.clone(), (String::new(), 0))).collect();
    let mut counts = [0usize; 2];
    for (key, (name, number)) in chains.iter_mut() {
        let n = &mut counts[key.0 as usize];
        *name = format!("{}{n}", if key.0 { "in" } else { "out" });
        *number = *n;
        *n += 1;
    }
    chains
}

/// The four verdict maps, each local address jumping to its profile's chain.
fn verdict_maps(
    entries: Vec<(&'static str, IpAddr, Profile)>,
    chains: &BTreeMap<Profile, (String, usize)>,
) -> BTreeMap<String, VerdictMap> {
    let mut maps: BTreeMap<String, VerdictMap> = [
        ("ingress4", Family::V4),
        ("ingress6", Family::V6),
        ("egress4", Family::V4),
        ("egress6", Family::V6),
    ]
    .into_iter()
    .map(|(name, family)| {
        (
            name.to_string(),
            VerdictMap {
                family,
                entries: Vec::new(),
            },
        )
    })
    .collect();
    for (map, ip, key) in entries {
        maps.get_mut(map)
            .expect("map exists")
            .entries
            .push((ip, chains[&key].0.clone()));
    }
    for m in maps.values_mut() {
        m.entries.sort();
    }
    maps
}

impl Ctx<'_> {
    /// A profile's chain: what its policies allow, then log and drop (or accept in audit).
    /// With ClusterNetworkPolicies, the Admin tier first (see [`Ctx::tiered_chain`]).
    fn profile_chain(&mut self, profile: &Profile, number: usize, name: &str) -> Vec<Rule> {
        if !profile.4.is_empty() {
            return self.tiered_chain(profile, number, name);
        }
        self.networkpolicy_chain(profile, number)
    }

    /// What the NetworkPolicies of a profile allow, then log and drop (or accept in audit).
    fn networkpolicy_chain(&mut self, profile: &Profile, number: usize) -> Vec<Rule> {
        let (ingress, policies, named, audit, _) = profile;
        let mut matches = Vec::new();
        let mut lines = Vec::new();
        for &p in policies {
            for r in 0..self.cluster.policies[p].rules(*ingress).len() {
                let m = self.rule_match(p, *ingress, r, named);
                if self.opts.log_allowed {
                    lines.extend(self.logged_lines(p, *ingress, r, &m));
                } else {
                    matches.push(m);
                }
            }
        }
        if !self.opts.log_allowed {
            lines = self.fast_lines(*ingress, &matches);
        }
        let tag = LogTag::Denied {
            ingress: *ingress,
            profile: number,
            audit: *audit,
        };
        self.rs.logs.insert(
            tag,
            LogMeaning::Deny {
                ingress: *ingress,
                policies: policies
                    .iter()
                    .map(|&p| self.cluster.policies[p].object_ref())
                    .collect(),
                audit: *audit,
            },
        );
        // Egress and ingress are separate base chains: accept ends only this one.
        lines.push(Rule::of([
            Expr::Counter,
            self.log(tag),
            if *audit { Expr::Accept } else { Expr::Drop },
        ]));
        lines
    }

    /// The two base chains: connection tracking, then the verdict maps by source (egress)
    /// and by destination (ingress).
    fn base_chains(&mut self) -> (Vec<Rule>, Vec<Rule>) {
        let ct = [
            Rule::of([Expr::Established, Expr::Accept]),
            Rule::of([Expr::Invalid, Expr::Drop]),
        ];
        let vmap = |family, end, map: &str| {
            Rule::of([Expr::Vmap {
                family,
                end,
                map: map.into(),
            }])
        };
        let mut egress = ct.to_vec();
        if self.opts.log_allowed {
            egress.push(Rule::of([Expr::SetMark(0)]));
        }
        egress.push(vmap(Family::V4, End::Source, "egress4"));
        egress.push(vmap(Family::V6, End::Source, "egress6"));
        let mut ingress = ct.to_vec();
        ingress.push(vmap(Family::V4, End::Destination, "ingress4"));
        ingress.push(vmap(Family::V6, End::Destination, "ingress6"));
        if self.opts.log_allowed {
            self.rs.logs.insert(LogTag::Open, LogMeaning::Open);
            ingress.push(Rule::of([Expr::Counter, self.log(LogTag::Open), Expr::Accept]));
        }
        (egress, ingress)
    }
}

/// Renders the table for one node (or for all pods when `opts.node` is `None`).
pub fn render(cc: &CompiledCluster<'_>, opts: &Options) -> Ruleset {
    let (class_addrs, pod_addrs) = endpoint_addrs(cc);
    let mut cx = Ctx {
        cluster: cc.cluster(),
        compiled: cc.compiled(),
        opts,
        class_addrs,
        pod_addrs,
        set_ids: HashMap::new(),
        rs: Ruleset::default(),
        rule_marks: HashMap::new(),
    };
    let entries = local_profiles(cc, opts);
    let chains = number_profiles(entries.iter().map(|e| &e.2));
    for (profile, (name, number)) in &chains {
        let rules = cx.profile_chain(profile, *number, name);
        cx.rs.chains.insert(name.clone(), rules);
    }
    cx.rs.maps = verdict_maps(entries, &chains);
    let shadow = cx.shadow_lines();
    let (mut egress, ingress) = cx.base_chains();
    // After connection tracking, before any verdict: every new connection is compared.
    egress.splice(2..2, shadow);
    cx.rs.egress_hook = egress;
    cx.rs.ingress_hook = ingress;
    cx.rs
}
