//! Compile phases 5 and 8: the named ports policies reference, each protocol's ports cut
//! into classes no rule tells apart, and the port classes each rule covers.

use std::collections::{BTreeSet, HashMap};

use super::*;
use crate::bits::BitSet;
use crate::model::{Cluster, PolicyPort, PortMatch, Protocol};

/// The named ports some policy references, as each endpoint declares them: distinct
/// signatures (the first is the empty one) and each endpoint's signature.
#[allow(clippy::type_complexity)]
pub(super) fn named_port_signatures<'a>(
    cluster: &'a Cluster,
    cluster_policy_ports: impl Iterator<Item = &'a PolicyPort>,
    endpoints: usize,
) -> (Vec<Vec<(String, Protocol, u16)>>, Vec<usize>) {
    let mut referenced: BTreeSet<(&str, Protocol)> = BTreeSet::new();
    for p in policy_ports(cluster).chain(cluster_policy_ports) {
        if let PortMatch::Named(n) = &p.port {
            referenced.insert((n.as_str(), p.protocol));
        }
    }
    let mut named_sig_ids: HashMap<Vec<(String, Protocol, u16)>, usize> = HashMap::new();
    let mut named_sigs: Vec<Vec<(String, Protocol, u16)>> = Vec::new();
    let mut endpoint_named = vec![0usize; endpoints];
    named_sig_ids.insert(Vec::new(), 0);
    named_sigs.push(Vec::new());
    if referenced.is_empty() {
        return (named_sigs, endpoint_named);
    }
    for (i, pod) in cluster.pods.iter().enumerate() {
        let mut sig: Vec<(String, Protocol, u16)> = pod
            .ports
            .iter()
            .filter_map(|p| {
                let n = p.name.as_deref()?;
                referenced
                    .contains(&(n, p.protocol))
                    .then(|| (n.to_string(), p.protocol, p.port))
            })
            .collect();
        sig.sort();
        sig.dedup_by(|a, b| a.0 == b.0 && a.1 == b.1);
        let n = named_sigs.len();
        let id = *named_sig_ids.entry(sig.clone()).or_insert_with(|| {
            named_sigs.push(sig);
            n
        });
        endpoint_named[i] = id;
    }
    (named_sigs, endpoint_named)
}

/// Every port entry of every NetworkPolicy rule.
fn policy_ports(cluster: &Cluster) -> impl Iterator<Item = &PolicyPort> {
    cluster
        .policies
        .iter()
        .flat_map(|p| p.ingress.iter().chain(&p.egress))
        .flat_map(|r| &r.ports)
}

/// For each (named port, protocol): per port class, the classes whose members resolve the
/// name to a port of that class.
pub(super) type NamedPorts = [HashMap<String, HashMap<usize, BitSet>>; 3];

/// Port classes (compile's eighth phase): each protocol's ports cut into classes, the port
/// classes each rule's numeric items cover, and where named ports resolve.
pub(super) fn port_classes(
    cluster: &Cluster,
    classes: &[Class],
    policies: &mut [CompiledPolicy],
    cluster_policies: &mut [CompiledClusterPolicy],
) -> ([PortSpace; 3], NamedPorts) {
    let n = classes.len();
    let tiered: Vec<&PolicyPort> = cluster_policies
        .iter()
        .flat_map(|c| c.ingress.iter().chain(&c.egress))
        .flat_map(|r| &r.rule.ports)
        .collect();
    let ports = Protocol::ALL.map(|proto| port_space(cluster, &tiered, classes, proto));
    let tiered_rules = cluster_policies
        .iter_mut()
        .flat_map(|c| c.ingress.iter_mut().chain(c.egress.iter_mut()))
        .map(|r| &mut r.rule);
    for rule in policies
        .iter_mut()
        .flat_map(|p| p.ingress.iter_mut().chain(p.egress.iter_mut()))
        .chain(tiered_rules)
    {
        rule.numeric = Protocol::ALL.map(|proto| numeric_cover(&ports[proto.index()], &rule.ports, proto));
    }
    let mut named: NamedPorts = Default::default();
    for (c, class) in classes.iter().enumerate() {
        for (name, proto, port) in &class.named_ports {
            let q = ports[proto.index()]
                .class_of(*port)
                .expect("every port has a class");
            named[proto.index()]
                .entry(name.clone())
                .or_default()
                .entry(q)
                .or_insert_with(|| BitSet::new(n))
                .insert(c);
        }
    }
    (ports, named)
}

/// The port classes of `space` that the numeric items of `ports` (for `proto`) cover:
/// their ranges merged, then the atoms inside them (port classes never straddle a range
/// boundary). The cost is the items' sort plus the atoms covered, not items × classes.
pub(super) fn numeric_cover(space: &PortSpace, ports: &[PolicyPort], proto: Protocol) -> BitSet {
    let mut ranges: Vec<(u16, u16)> = ports
        .iter()
        .filter(|p| p.protocol == proto)
        .filter_map(|p| match p.port {
            PortMatch::All => Some((1, 65535)),
            PortMatch::Range(lo, hi) => Some((lo, hi)),
            PortMatch::Named(_) => None,
        })
        .collect();
    ranges.sort_unstable();
    let mut merged: Vec<(u16, u16)> = Vec::new();
    for (lo, hi) in ranges {
        match merged.last_mut() {
            Some(last) if lo as u32 <= last.1 as u32 + 1 => last.1 = last.1.max(hi),
            _ => merged.push((lo, hi)),
        }
    }
    let mut out = BitSet::new(space.classes.len());
    for (lo, hi) in merged {
        let start = space.atoms.partition_point(|a| a.1 < lo);
        for a in space.atoms[start..].iter().take_while(|a| a.0 <= hi) {
            out.insert(a.2);
        }
    }
    out
}

/// Adds or removes range `i` from a set hash: two independent 64-bit tags (splitmix64).
pub(super) fn toggle(h: (u64, u64), i: usize) -> (u64, u64) {
    let mix = |mut z: u64| {
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let i = i as u64;
    (
        h.0 ^ mix(i.wrapping_mul(2).wrapping_add(0x9E37_79B9_7F4A_7C15)),
        h.1 ^ mix(i
            .wrapping_mul(2)
            .wrapping_add(1)
            .wrapping_add(0x632B_E59B_D9B4_E019)),
    )
}

/// Cuts 1..=65535 of one protocol at every range boundary and every resolved named port,
/// then merges the pieces that every rule treats alike.
pub(super) fn port_space(
    cluster: &Cluster,
    cluster_policy_ports: &[&PolicyPort],
    classes: &[Class],
    proto: Protocol,
) -> PortSpace {
    let mut ranges: BTreeSet<(u16, u16)> = BTreeSet::new();
    let all = policy_ports(cluster).chain(cluster_policy_ports.iter().copied());
    for p in all.filter(|p| p.protocol == proto) {
        if let PortMatch::Range(lo, hi) = p.port {
            ranges.insert((lo, hi));
        }
    }
    let named_ports: BTreeSet<u16> = classes
        .iter()
        .flat_map(|c| c.named_ports.iter())
        .filter(|(_, p, _)| *p == proto)
        .map(|(_, _, port)| *port)
        .collect();
    let mut cuts: BTreeSet<u32> = [1u32, 65536].into_iter().collect();
    for (lo, hi) in &ranges {
        cuts.insert(*lo as u32);
        cuts.insert(*hi as u32 + 1);
    }
    for p in &named_ports {
        cuts.insert(*p as u32);
        cuts.insert(*p as u32 + 1);
    }
    let cuts: Vec<u32> = cuts.into_iter().collect();
    // The ranges covering each piece, as a 128-bit hash of the set kept up to date by a
    // sweep (ranges start and end only at cuts): (pieces + ranges) log, where listing the
    // covering ranges of every piece was pieces × ranges.
    let ranges: Vec<(u16, u16)> = ranges.into_iter().collect();
    let mut starts: Vec<(u32, usize)> = ranges.iter().enumerate().map(|(i, r)| (r.0 as u32, i)).collect();
    let mut ends: Vec<(u32, usize)> = ranges
        .iter()
        .enumerate()
        .map(|(i, r)| (r.1 as u32 + 1, i))
        .collect();
    starts.sort_unstable();
    ends.sort_unstable();
    let (mut si, mut ei) = (0, 0);
    let mut covering: (u64, u64) = (0, 0);
    let mut sig_ids: HashMap<((u64, u64), Option<u16>), usize> = HashMap::new();
    let mut group_ids: HashMap<(u64, u64), usize> = HashMap::new();
    let mut space = PortSpace::default();
    for w in cuts.windows(2) {
        let (lo, hi) = (w[0] as u16, (w[1] - 1) as u16);
        while si < starts.len() && starts[si].0 <= w[0] {
            covering = toggle(covering, starts[si].1);
            si += 1;
        }
        while ei < ends.len() && ends[ei].0 <= w[0] {
            covering = toggle(covering, ends[ei].1);
            ei += 1;
        }
        let named = (lo == hi && named_ports.contains(&lo)).then_some(lo);
        let next = sig_ids.len();
        let q = *sig_ids.entry((covering, named)).or_insert(next);
        if q == space.classes.len() {
            let next_group = group_ids.len();
            let g = *group_ids.entry(covering).or_insert(next_group);
            space.classes.push(Vec::new());
            space.numeric_group.push(g);
        }
        match space.classes[q].last_mut() {
            Some(last) if last.1 as u32 + 1 == lo as u32 => last.1 = hi,
            _ => space.classes[q].push((lo, hi)),
        }
        space.atoms.push((lo, hi, q));
    }
    space
}
