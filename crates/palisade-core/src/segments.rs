//! The address space outside the pods, as the policies see it: cut at every `ipBlock`
//! boundary (cidr and except), the ranges between cuts are treated alike by every ipBlock.
//! Ranges that every ipBlock treats alike (the same set of matching ipBlocks, found by one
//! sweep over the boundaries with an incremental hash) need one representative address.
//! Diff and lint's redundancy check add these representatives as external endpoints, so
//! that a change in what the cluster may send to or receive from outside is never missed.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;

use crate::ip::{num_to_ip, Family};
use crate::{Cidr, Cluster, External, Peer};

/// One representative address per class of ranges, as an external named after the first
/// range of its class (`11.0.0.0-172.15.255.255 (+3 ranges)`). Families are those of the
/// pods and of the ipBlocks; without any ipBlock a family's whole space is one class.
/// `extra` policies (the other side of a diff) add their boundaries too.
pub fn address_representatives(clusters: &[&Cluster]) -> Vec<External> {
    let mut families: Vec<Family> = Vec::new();
    // Per ipBlock peer: its cidr and excepts, by family.
    let mut blocks: Vec<(&Cidr, &[Cidr])> = Vec::new();
    let mut pod_ips: HashSet<IpAddr> = HashSet::new();
    for c in clusters {
        for p in &c.pods {
            for ip in &p.ips {
                pod_ips.insert(*ip);
                let f = Family::of(*ip);
                if !families.contains(&f) {
                    families.push(f);
                }
            }
        }
        for pol in &c.policies {
            for r in pol.ingress.iter().chain(&pol.egress) {
                for peer in &r.peers {
                    if let Peer::IpBlock(b) = peer {
                        blocks.push((&b.cidr, &b.except));
                        if !families.contains(&b.cidr.family) {
                            families.push(b.cidr.family);
                        }
                    }
                }
            }
        }
    }
    // ClusterNetworkPolicy `networks` CIDRs, and the addresses of Nodes a `nodes` peer
    // may select: boundaries like ipBlocks without exceptions.
    // Each distinct CIDR once; node addresses once per cluster, whatever the number of
    // `nodes` peers.
    let mut tiered: HashSet<Cidr> = HashSet::new();
    for c in clusters {
        let mut nodes_peer = false;
        for r in c
            .cluster_policies
            .iter()
            .flat_map(|p| p.ingress.iter().chain(&p.egress))
        {
            for peer in &r.peers {
                match peer {
                    crate::CnpPeer::Networks(cidrs) => tiered.extend(cidrs.iter().cloned()),
                    crate::CnpPeer::Nodes(_) => nodes_peer = true,
                    _ => {}
                }
            }
        }
        if nodes_peer {
            for a in c.nodes.iter().flat_map(|n| &n.addresses) {
                tiered.extend(Cidr::new(*a, Family::of(*a).bits()).ok());
            }
        }
    }
    let mut tiered: Vec<Cidr> = tiered.into_iter().collect();
    tiered.sort_by_key(|c| (c.family.bits(), c.range()));
    for cidr in &tiered {
        blocks.push((cidr, &[]));
        if !families.contains(&cidr.family) {
            families.push(cidr.family);
        }
    }
    families.sort_by_key(|f| f.bits());
    let mut out = Vec::new();
    for family in families {
        out.extend(family_representatives(family, &blocks, &pod_ips));
    }
    out
}

/// A pseudo-random 64-bit tag per ipBlock (splitmix64 of its index).
fn tag(i: usize) -> u64 {
    let mut z = (i as u64).wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Ranges with one match set: its hash, its first range, a representative address (none
/// while every address seen was a pod's), and how many ranges it has.
type RangeClass = (u64, (u128, u128), Option<u128>, usize);

fn family_representatives(
    family: Family,
    blocks: &[(&Cidr, &[Cidr])],
    pod_ips: &HashSet<IpAddr>,
) -> Vec<External> {
    // Events at range starts and one past range ends: (position, block, +1 cidr / -1 cidr /
    // +1 except / -1 except). Positions past the top of the space are dropped.
    let top = if family == Family::V4 {
        u32::MAX as u128
    } else {
        u128::MAX
    };
    let mut events: BTreeMap<u128, Vec<(usize, i8, bool)>> = BTreeMap::new();
    events.entry(0).or_default();
    for (i, (cidr, except)) in blocks.iter().enumerate() {
        if cidr.family != family {
            continue;
        }
        let mut add = |c: &Cidr, is_except: bool| {
            let (lo, hi) = c.range();
            events.entry(lo).or_default().push((i, 1, is_except));
            if hi < top {
                events.entry(hi + 1).or_default().push((i, -1, is_except));
            }
        };
        add(cidr, false);
        for e in except.iter() {
            add(e, true);
        }
    }
    // Per block: (inside cidr, excepts covering). Matching = inside && excepts == 0.
    let mut state: HashMap<usize, (i32, i32)> = HashMap::new();
    let mut hash: u64 = 0;
    let mut classes: Vec<RangeClass> = Vec::new();
    let mut index: HashMap<u64, usize> = HashMap::new();
    let starts: Vec<u128> = events.keys().copied().collect();
    for (k, &lo) in starts.iter().enumerate() {
        for &(i, delta, is_except) in &events[&lo] {
            let s = state.entry(i).or_insert((0, 0));
            let before = s.0 > 0 && s.1 == 0;
            if is_except {
                s.1 += delta as i32;
            } else {
                s.0 += delta as i32;
            }
            let after = s.0 > 0 && s.1 == 0;
            if before != after {
                hash ^= tag(i);
            }
        }
        let hi = starts.get(k + 1).map_or(top, |next| next - 1);
        // The first address of the range that is no pod's (a range of pod addresses only
        // needs no representative: the pods are endpoints themselves).
        let rep = (lo..=hi)
            .take(64)
            .find(|n| !pod_ips.contains(&num_to_ip(family, *n)));
        match index.get(&hash) {
            Some(&c) => {
                classes[c].3 += 1;
                if classes[c].2.is_none() {
                    classes[c].2 = rep;
                }
            }
            None => {
                index.insert(hash, classes.len());
                classes.push((hash, (lo, hi), rep, 1));
            }
        }
    }
    classes
        .into_iter()
        .filter_map(|(_, (lo, hi), rep, n)| {
            let rep = rep?;
            let mut name = range_name(family, lo, hi);
            if n > 1 {
                name.push_str(&format!(" (+{} ranges)", n - 1));
            }
            Some(External {
                name,
                cidr: Cidr::host(num_to_ip(family, rep)),
            })
        })
        .collect()
}

/// `lo-hi` as a CIDR when it is one, else as a dash range.
fn range_name(family: Family, lo: u128, hi: u128) -> String {
    let size = hi - lo;
    let bits = family.bits() as u32;
    if size == u128::MAX
        || (size.wrapping_add(1)).is_power_of_two() && lo.is_multiple_of(size.wrapping_add(1))
    {
        let host_bits = if size == u128::MAX {
            128
        } else {
            (size + 1).trailing_zeros()
        };
        let prefix = (bits - host_bits.min(bits)) as u8;
        if let Ok(c) = Cidr::new(num_to_ip(family, lo), prefix) {
            return c.to_string();
        }
    }
    format!("{}-{}", num_to_ip(family, lo), num_to_ip(family, hi))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{IpBlock, Policy, PolicyTypes, Rule};

    fn c(s: &str) -> Cidr {
        s.parse().unwrap()
    }

    fn cluster_with(blocks: &[(&str, &[&str])]) -> Cluster {
        let peers = blocks
            .iter()
            .map(|(cidr, except)| {
                Peer::IpBlock(IpBlock {
                    cidr: c(cidr),
                    except: except.iter().map(|e| c(e)).collect(),
                })
            })
            .collect();
        Cluster {
            policies: vec![Policy {
                namespace: "n".into(),
                name: "p".into(),
                pod_selector: Default::default(),
                types: PolicyTypes {
                    ingress: false,
                    egress: true,
                },
                ingress: vec![],
                egress: vec![Rule { peers, ports: vec![] }],
            }],
            ..Default::default()
        }
    }

    fn names(v: &[External]) -> Vec<(String, String)> {
        v.iter().map(|e| (e.name.clone(), e.cidr.to_string())).collect()
    }

    #[test]
    fn internet_except_private_is_two_classes() {
        // By hand: the public ranges (4 of them) match the block, the private ones do not.
        let cl = cluster_with(&[("0.0.0.0/0", &["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"])]);
        assert_eq!(
            names(&address_representatives(&[&cl])),
            vec![
                ("0.0.0.0-9.255.255.255 (+3 ranges)".into(), "0.0.0.0/32".into()),
                ("10.0.0.0/8 (+2 ranges)".into(), "10.0.0.0/32".into()),
            ]
        );
    }

    #[test]
    fn no_ipblock_means_one_class_per_family_of_the_pods() {
        let mut cl = Cluster::default();
        cl.pods.push(crate::Pod {
            namespace: "n".into(),
            name: "a".into(),
            labels: Default::default(),
            ips: vec!["0.0.0.0".parse().unwrap()],
            host_network: false,
            ports: vec![],
            node: None,
            workload: None,
            source: None,
        });
        // The first address is a pod's: the next one stands for the range.
        assert_eq!(
            names(&address_representatives(&[&cl])),
            vec![("0.0.0.0/0".into(), "0.0.0.1/32".into())]
        );
    }

    #[test]
    fn nested_blocks_give_one_class_per_distinct_match_set() {
        // 10/8 matches a only; 10.1/16 matches a and b; the rest matches none; ::/0 adds
        // the IPv6 family (one class: c).
        let cl = cluster_with(&[("10.0.0.0/8", &[]), ("10.1.0.0/16", &[]), ("::/0", &[])]);
        let got = names(&address_representatives(&[&cl]));
        assert_eq!(
            got,
            vec![
                ("0.0.0.0-9.255.255.255 (+1 ranges)".into(), "0.0.0.0/32".into()),
                ("10.0.0.0/16 (+1 ranges)".into(), "10.0.0.0/32".into()),
                ("10.1.0.0/16".into(), "10.1.0.0/32".into()),
                ("::/0".into(), "::/128".into()),
            ]
        );
    }
}
