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
    address_classes(clusters)
        .into_iter()
        .map(|c| c.external)
        .collect()
}

/// One class of the address space outside the pods: every address in its ranges is
/// matched by the same ipBlocks (and `networks`, and node addresses).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddressClass {
    /// Its representative, as [`address_representatives`] gives it.
    pub external: External,
    /// IPv4 or IPv6.
    pub family: Family,
    /// All its ranges, as numbers, in order (they may hold pod addresses).
    pub ranges: Vec<(u128, u128)>,
}

/// [`address_representatives`] with each class's ranges: what the dataplane needs to
/// match a whole class by address.
pub fn address_classes(clusters: &[&Cluster]) -> Vec<AddressClass> {
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

/// Ranges with one match set: its hash, its ranges, and a representative address (none
/// while every address seen was a pod's).
type RangeClass = (u64, Vec<(u128, u128)>, Option<u128>);

fn family_representatives(
    family: Family,
    blocks: &[(&Cidr, &[Cidr])],
    pod_ips: &HashSet<IpAddr>,
) -> Vec<AddressClass> {
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
                classes[c].1.push((lo, hi));
                if classes[c].2.is_none() {
                    classes[c].2 = rep;
                }
            }
            None => {
                index.insert(hash, classes.len());
                classes.push((hash, vec![(lo, hi)], rep));
            }
        }
    }
    classes
        .into_iter()
        .filter_map(|(_, ranges, rep)| {
            let rep = rep?;
            let (lo, hi) = ranges[0];
            let mut name = range_name(family, lo, hi);
            if ranges.len() > 1 {
                name.push_str(&format!(" (+{} ranges)", ranges.len() - 1));
            }
            Some(AddressClass {
                external: External {
                    name,
                    cidr: Cidr::host(num_to_ip(family, rep)),
                },
                family,
                ranges,
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
    fn classes_hold_all_their_ranges() {
        // By hand: the four public ranges around 10/8, 172.16/12 and 192.168/16, and the
        // three private ones.
        let cl = cluster_with(&[("0.0.0.0/0", &["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"])]);
        let n = |s: &str| crate::ip::ip_to_num(s.parse().unwrap()).1;
        let classes = address_classes(&[&cl]);
        assert_eq!(classes.len(), 2);
        assert_eq!(
            classes[0].ranges,
            vec![
                (n("0.0.0.0"), n("9.255.255.255")),
                (n("11.0.0.0"), n("172.15.255.255")),
                (n("172.32.0.0"), n("192.167.255.255")),
                (n("192.169.0.0"), n("255.255.255.255")),
            ]
        );
        assert_eq!(
            classes[1].ranges,
            vec![
                (n("10.0.0.0"), n("10.255.255.255")),
                (n("172.16.0.0"), n("172.31.255.255")),
                (n("192.168.0.0"), n("192.168.255.255")),
            ]
        );
        assert!(classes.iter().all(|c| c.family == Family::V4));
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
