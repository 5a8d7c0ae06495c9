//! Compile phase 4: which ipBlocks match each endpoint, through an index of the blocks'
//! boundaries, so that endpoints matched by the same blocks share one signature.

use std::collections::HashMap;

use crate::bits::BitSet;
use crate::ip::{ip_to_num, Family};
use crate::model::{Cluster, IpBlock, IpBlockPods, Options, Pod};

/// ipBlock signatures (compile's fourth phase): endpoints matched by the same ipBlocks
/// share a signature.
pub(super) struct IpSignatures {
    /// The signature of each endpoint.
    pub(super) of_endpoint: Vec<usize>,
    /// Each signature's ipBlocks (indices into [`Tokens::blocks`]).
    pub(super) blocks: Vec<BitSet>,
}

pub(super) fn ip_signatures(cluster: &Cluster, options: &Options, blocks: &[&IpBlock]) -> IpSignatures {
    let match_pods = options.ipblock_pods == IpBlockPods::Match;
    ip_signatures_where(cluster, |p| p.host_network || match_pods, blocks)
}

/// ipBlock signatures where the pods `looks_up` accepts are matched by their addresses
/// (the others match no block).
pub(super) fn ip_signatures_where(
    cluster: &Cluster,
    looks_up: impl Fn(&Pod) -> bool,
    blocks: &[&IpBlock],
) -> IpSignatures {
    let pods = cluster.pods.len();
    let looked_up = cluster
        .pods
        .iter()
        .filter(|p| looks_up(p))
        .flat_map(|p| p.ips.iter().copied())
        .chain(
            cluster
                .externals
                .iter()
                .filter(|e| e.cidr.is_host())
                .map(|e| e.cidr.network_ip()),
        );
    let ip_index = IpIndex::build(blocks, looked_up);
    let mut ids: HashMap<BitSet, usize> = HashMap::new();
    let mut intern = |s: BitSet| {
        let n = ids.len();
        *ids.entry(s).or_insert(n)
    };
    let empty = intern(BitSet::new(blocks.len()));
    let mut of_endpoint = vec![empty; pods + cluster.externals.len()];
    for (i, pod) in cluster.pods.iter().enumerate() {
        if looks_up(pod) {
            let mut s = BitSet::new(blocks.len());
            for ip in &pod.ips {
                s.union_with(ip_index.lookup(*ip));
            }
            of_endpoint[i] = intern(s);
        }
    }
    for (i, ext) in cluster.externals.iter().enumerate() {
        // A single address is a lookup; a wider block must lie inside cidr and outside
        // every except as a whole.
        let s = if ext.cidr.is_host() {
            ip_index.lookup(ext.cidr.network_ip()).clone()
        } else {
            let mut s = BitSet::new(blocks.len());
            for (b, block) in blocks.iter().enumerate() {
                if block.cidr.covers(&ext.cidr) && !block.except.iter().any(|e| e.overlaps(&ext.cidr)) {
                    s.insert(b);
                }
            }
            s
        };
        of_endpoint[pods + i] = intern(s);
    }
    let mut sets = vec![BitSet::new(0); ids.len()];
    for (s, id) in ids {
        sets[id] = s;
    }
    IpSignatures {
        of_endpoint,
        blocks: sets,
    }
}

/// For the addresses that are looked up (pods', and single-address externals'), the set
/// of ipBlocks containing each: one sweep over the blocks' boundaries (cidr and except
/// starts and ends) in address order, so the cost is (boundaries + addresses) log, plus a
/// copy of the current set where it changed between two addresses; never addresses ×
/// blocks, nor elementary intervals × blocks.
pub(super) struct IpIndex {
    pub(super) at: HashMap<std::net::IpAddr, usize>,
    pub(super) sets: Vec<BitSet>,
    pub(super) empty: BitSet,
}

/// A boundary of an ipBlock: the block, and whether its cidr or one of its excepts starts
/// (+1) or ends (-1) here.
#[derive(Clone, Copy)]
pub(super) struct Boundary {
    pub(super) at: u128,
    pub(super) block: usize,
    pub(super) except: bool,
    pub(super) delta: i32,
}

impl IpIndex {
    fn build(blocks: &[&IpBlock], addresses: impl IntoIterator<Item = std::net::IpAddr>) -> IpIndex {
        let mut at = HashMap::new();
        let mut sets = Vec::new();
        let mut queries: Vec<(Family, u128, std::net::IpAddr)> = addresses
            .into_iter()
            .map(|ip| {
                let (f, n) = ip_to_num(ip);
                (f, n, ip)
            })
            .collect();
        queries.sort_unstable_by_key(|q| (q.0 == Family::V6, q.1));
        queries.dedup();
        for family in [Family::V4, Family::V6] {
            let mut events: Vec<Boundary> = Vec::new();
            let mut add = |(lo, hi): (u128, u128), block: usize, except: bool| {
                events.push(Boundary {
                    at: lo,
                    block,
                    except,
                    delta: 1,
                });
                if let Some(end) = hi.checked_add(1) {
                    events.push(Boundary {
                        at: end,
                        block,
                        except,
                        delta: -1,
                    });
                }
            };
            for (bi, b) in blocks.iter().enumerate().filter(|(_, b)| b.cidr.family == family) {
                add(b.cidr.range(), bi, false);
                for e in &b.except {
                    add(e.range(), bi, true);
                }
            }
            events.sort_unstable_by_key(|e| e.at);
            let mut inside = vec![0i32; blocks.len()];
            let mut excepted = vec![0i32; blocks.len()];
            let mut current = BitSet::new(blocks.len());
            let mut changed = true;
            let mut next = 0;
            for &(f, n, ip) in queries.iter().filter(|q| q.0 == family) {
                debug_assert_eq!(f, family);
                while next < events.len() && events[next].at <= n {
                    let e = events[next];
                    let counter = if e.except { &mut excepted } else { &mut inside };
                    counter[e.block] += e.delta;
                    let matches = inside[e.block] > 0 && excepted[e.block] == 0;
                    if matches != current.contains(e.block) {
                        if matches {
                            current.insert(e.block);
                        } else {
                            current.remove(e.block);
                        }
                        changed = true;
                    }
                    next += 1;
                }
                if changed {
                    sets.push(current.clone());
                    changed = false;
                }
                at.insert(ip, sets.len() - 1);
            }
        }
        IpIndex {
            at,
            sets,
            empty: BitSet::new(blocks.len()),
        }
    }

    /// The blocks containing `ip` (which must have been among the addresses built for).
    fn lookup(&self, ip: std::net::IpAddr) -> &BitSet {
        self.at.get(&ip).map_or(&self.empty, |&i| &self.sets[i])
    }
}
