//! Element-level changes between two rulesets with the same chains: the address ranges
//! and verdict-map entries to delete and to add. Written either as an `nft -f` script or
//! as one nf_tables netlink transaction (no `nft` process, no cache of the whole table:
//! the path that keeps a pod change in the low milliseconds).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::net::IpAddr;

use palisade_core::ip::{num_to_ip, Family};

use crate::netlink::{self, Attrs, NFNL_SUBSYS_NFTABLES, NLM_F_ACK, NLM_F_CREATE, NLM_F_REQUEST};
use crate::ruleset::{range_text, Ruleset, TABLE};

/// One element change.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ElementOp {
    DelRange {
        set: String,
        family: Family,
        range: (u128, u128),
    },
    DelEntry {
        map: String,
        ip: IpAddr,
    },
    AddRange {
        set: String,
        family: Family,
        range: (u128, u128),
    },
    AddEntry {
        map: String,
        ip: IpAddr,
        chain: String,
    },
}

/// A set's name and one of its ranges.
type RangeKey<'a> = (&'a str, (u128, u128));

/// Element changes, deletions before additions.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ElementDelta {
    pub ops: Vec<ElementOp>,
}

const NFT_MSG_NEWSETELEM: u16 = 12;
const NFT_MSG_DELSETELEM: u16 = 14;
const NFPROTO_INET: u8 = 1;
const NFTA_SET_ELEM_LIST_TABLE: u16 = 1;
const NFTA_SET_ELEM_LIST_SET: u16 = 2;
const NFTA_SET_ELEM_LIST_ELEMENTS: u16 = 3;
const NFTA_LIST_ELEM: u16 = 1;
const NFTA_SET_ELEM_KEY: u16 = 1;
const NFTA_SET_ELEM_DATA: u16 = 2;
const NFTA_SET_ELEM_FLAGS: u16 = 3;
const NFTA_SET_ELEM_USERDATA: u16 = 6;
const NFTA_DATA_VALUE: u16 = 1;
const NFTA_DATA_VERDICT: u16 = 2;
const NFTA_VERDICT_CODE: u16 = 1;
const NFTA_VERDICT_CHAIN: u16 = 2;
const NFT_SET_ELEM_INTERVAL_END: u32 = 1;
const NFT_JUMP: i32 = -3;
/// nft's own element annotation for an interval open to the top of the address space
/// (so that `nft list` shows it as a range).
const UDATA_INTERVAL_OPEN: [u8; 6] = [1, 4, 1, 0, 0, 0];

/// Ranges in `a` that are not in `b` (both sorted).
fn missing(a: &[(u128, u128)], b: &[(u128, u128)]) -> Vec<(u128, u128)> {
    a.iter()
        .filter(|r| b.binary_search(r).is_err())
        .copied()
        .collect()
}

fn key_bytes(family: Family, n: u128) -> Vec<u8> {
    match num_to_ip(family, n) {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}

fn key(value: Vec<u8>) -> Attrs {
    Attrs::new().bytes(NFTA_DATA_VALUE, &value)
}

fn family_max(family: Family) -> u128 {
    match family {
        Family::V4 => u32::MAX as u128,
        Family::V6 => u128::MAX,
    }
}

/// The kernel's form of an inclusive range in an interval set: a start element and an end
/// element one past it (none when the range reaches the top of the address space).
fn range_elements(list: Attrs, family: Family, (lo, hi): (u128, u128)) -> Attrs {
    let mut start = Attrs::new().nested(NFTA_SET_ELEM_KEY, key(key_bytes(family, lo)));
    if hi == family_max(family) {
        start = start.bytes(NFTA_SET_ELEM_USERDATA, &UDATA_INTERVAL_OPEN);
        return list.nested(NFTA_LIST_ELEM, start);
    }
    let end = Attrs::new()
        .nested(NFTA_SET_ELEM_KEY, key(key_bytes(family, hi + 1)))
        .u32_be(NFTA_SET_ELEM_FLAGS, NFT_SET_ELEM_INTERVAL_END);
    list.nested(NFTA_LIST_ELEM, start).nested(NFTA_LIST_ELEM, end)
}

fn ip_bytes(ip: IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}

impl ElementDelta {
    /// The element changes that turn `old` into `new`; `None` when their chains or sets
    /// differ in shape (the table must be replaced).
    pub fn between(old: &Ruleset, new: &Ruleset) -> Option<ElementDelta> {
        if !new.same_shape(old) {
            return None;
        }
        let mut ops = Vec::new();
        for (name, s) in &new.sets {
            let o = &old.sets[name];
            for range in missing(&o.ranges, &s.ranges) {
                ops.push(ElementOp::DelRange {
                    set: name.clone(),
                    family: s.family,
                    range,
                });
            }
            for range in missing(&s.ranges, &o.ranges) {
                ops.push(ElementOp::AddRange {
                    set: name.clone(),
                    family: s.family,
                    range,
                });
            }
        }
        ops.extend(Self::map_changes(old, new).ops);
        ops.sort();
        Some(ElementDelta { ops })
    }

    /// The verdict-map entries to delete and add between two rulesets with the same maps.
    pub fn map_changes(old: &Ruleset, new: &Ruleset) -> ElementDelta {
        let mut ops = Vec::new();
        for (name, m) in &new.maps {
            let before: BTreeMap<IpAddr, &String> = old
                .maps
                .get(name)
                .map(|o| o.entries.iter().map(|(ip, c)| (*ip, c)).collect())
                .unwrap_or_default();
            let after: BTreeMap<IpAddr, &String> = m.entries.iter().map(|(ip, c)| (*ip, c)).collect();
            for (ip, chain) in &before {
                if after.get(ip) != Some(chain) {
                    ops.push(ElementOp::DelEntry {
                        map: name.clone(),
                        ip: *ip,
                    });
                }
            }
            for (ip, chain) in &after {
                if before.get(ip) != Some(chain) {
                    ops.push(ElementOp::AddEntry {
                        map: name.clone(),
                        ip: *ip,
                        chain: (*chain).clone(),
                    });
                }
            }
        }
        ops.sort();
        ElementDelta { ops }
    }

    /// The net effect of these changes followed by `next`, with no element both added and
    /// deleted (the kernel refuses to delete an interval added in the same transaction).
    pub fn followed_by(mut self, next: ElementDelta) -> ElementDelta {
        self.ops.extend(next.ops);
        // A range's operations alternate (each valid after the previous): an even number
        // cancels out, an odd number has the effect of the first.
        // (set, range) -> (index of its first operation, number of operations)
        let mut seen: BTreeMap<RangeKey, (usize, usize)> = BTreeMap::new();
        for (i, op) in self.ops.iter().enumerate() {
            if let ElementOp::DelRange { set, range, .. } | ElementOp::AddRange { set, range, .. } = op {
                seen.entry((set.as_str(), *range)).or_insert((i, 0)).1 += 1;
            }
        }
        let keep: std::collections::BTreeSet<usize> = seen
            .values()
            .filter(|(_, n)| n % 2 == 1)
            .map(|(first, _)| *first)
            .collect();
        let mut ops: Vec<ElementOp> = self
            .ops
            .iter()
            .enumerate()
            .filter(|(i, op)| {
                !matches!(op, ElementOp::DelRange { .. } | ElementOp::AddRange { .. }) || keep.contains(i)
            })
            .map(|(_, op)| op.clone())
            .collect();
        // Verdict-map entries: a deletion, then the last addition if any.
        let mut last_add: BTreeMap<(String, IpAddr), usize> = BTreeMap::new();
        let mut deleted: std::collections::BTreeSet<(String, IpAddr)> = Default::default();
        for (i, op) in ops.iter().enumerate() {
            match op {
                ElementOp::DelEntry { map, ip } if last_add.remove(&(map.clone(), *ip)).is_none() => {
                    deleted.insert((map.clone(), *ip));
                }
                ElementOp::AddEntry { map, ip, .. } => {
                    last_add.insert((map.clone(), *ip), i);
                }
                _ => {}
            }
        }
        let adds: std::collections::BTreeSet<usize> = last_add.values().copied().collect();
        ops = ops
            .into_iter()
            .enumerate()
            .filter(|(i, op)| match op {
                ElementOp::DelEntry { map, ip } => deleted.remove(&(map.clone(), *ip)),
                ElementOp::AddEntry { .. } => adds.contains(i),
                _ => true,
            })
            .map(|(_, op)| op)
            .collect();
        ops.sort();
        ElementDelta { ops }
    }

    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Consecutive operations on the same set or map with the same direction, as
    /// (add, set or map name, operations).
    fn groups(&self) -> Vec<(bool, &str, &[ElementOp])> {
        fn target(op: &ElementOp) -> (bool, &str) {
            match op {
                ElementOp::DelRange { set, .. } => (false, set.as_str()),
                ElementOp::DelEntry { map, .. } => (false, map.as_str()),
                ElementOp::AddRange { set, .. } => (true, set.as_str()),
                ElementOp::AddEntry { map, .. } => (true, map.as_str()),
            }
        }
        let mut out: Vec<(bool, &str, &[ElementOp])> = Vec::new();
        let mut start = 0;
        for i in 1..=self.ops.len() {
            if i == self.ops.len() || target(&self.ops[i]) != target(&self.ops[start]) {
                let (add, name) = target(&self.ops[start]);
                out.push((add, name, &self.ops[start..i]));
                start = i;
            }
        }
        out
    }

    /// The same changes as an `nft -f` script (one transaction).
    pub fn script(&self) -> String {
        let mut o = String::new();
        for (add, name, ops) in self.groups() {
            let items: Vec<String> =
                ops.iter()
                    .map(|op| match op {
                        ElementOp::DelRange { family, range, .. }
                        | ElementOp::AddRange { family, range, .. } => range_text(*family, *range),
                        ElementOp::DelEntry { ip, .. } => ip.to_string(),
                        ElementOp::AddEntry { ip, chain, .. } => format!("{ip} : jump {chain}"),
                    })
                    .collect();
            let verb = if add { "add" } else { "delete" };
            writeln!(o, "{verb} element inet {TABLE} {name} {{ {} }}", items.join(", ")).unwrap();
        }
        o
    }

    /// The changes as nf_tables messages with sequence numbers from `first_seq`.
    pub fn messages(&self, first_seq: u32) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        for (add, name, ops) in self.groups() {
            let mut list = Attrs::new();
            for op in ops {
                list = match op {
                    ElementOp::DelRange { family, range, .. } | ElementOp::AddRange { family, range, .. } => {
                        range_elements(list, *family, *range)
                    }
                    ElementOp::DelEntry { ip, .. } => list.nested(
                        NFTA_LIST_ELEM,
                        Attrs::new().nested(NFTA_SET_ELEM_KEY, key(ip_bytes(*ip))),
                    ),
                    ElementOp::AddEntry { ip, chain, .. } => {
                        let verdict = Attrs::new()
                            .u32_be(NFTA_VERDICT_CODE, NFT_JUMP as u32)
                            .string(NFTA_VERDICT_CHAIN, chain);
                        list.nested(
                            NFTA_LIST_ELEM,
                            Attrs::new().nested(NFTA_SET_ELEM_KEY, key(ip_bytes(*ip))).nested(
                                NFTA_SET_ELEM_DATA,
                                Attrs::new().nested(NFTA_DATA_VERDICT, verdict),
                            ),
                        )
                    }
                };
            }
            let (kind, flags) = if add {
                (NFT_MSG_NEWSETELEM, NLM_F_REQUEST | NLM_F_CREATE | NLM_F_ACK)
            } else {
                (NFT_MSG_DELSETELEM, NLM_F_REQUEST | NLM_F_ACK)
            };
            let attrs = Attrs::new()
                .string(NFTA_SET_ELEM_LIST_TABLE, TABLE)
                .string(NFTA_SET_ELEM_LIST_SET, name)
                .nested(NFTA_SET_ELEM_LIST_ELEMENTS, list);
            out.push(netlink::message(
                (NFNL_SUBSYS_NFTABLES << 8) | kind,
                flags,
                first_seq + out.len() as u32,
                NFPROTO_INET,
                0,
                attrs,
            ));
        }
        out
    }

    /// Applies the changes to the table in one netlink transaction: all of them or, on any
    /// error, none.
    pub fn send(&self, sock: &mut NftSocket) -> std::io::Result<()> {
        if self.ops.is_empty() {
            return Ok(());
        }
        let seq = sock.next_seq(self.ops.len() as u32 + 2);
        netlink::transaction(&mut sock.0, &self.messages(seq), seq)
    }

    /// [`ElementDelta::send`] over a socket opened for this change, in the named network
    /// namespace (`/run/netns/NAME`) or the current one for `None`.
    pub fn apply_in(&self, netns: Option<&str>) -> std::io::Result<()> {
        self.send(&mut NftSocket::open_in(netns)?)
    }
}

/// A netlink socket to nf_tables in one network namespace, kept open by whoever updates a
/// table often: opening and closing one per change costs more than the change.
pub struct NftSocket(netlink_sys::Socket, u32);

impl NftSocket {
    /// In the named network namespace (`/run/netns/NAME`, as `ip netns` makes them), or in
    /// the calling thread's for `None`. The socket stays in that namespace for its life.
    pub fn open_in(netns: Option<&str>) -> std::io::Result<NftSocket> {
        let Some(ns) = netns else {
            return Ok(NftSocket(netlink::open_socket()?, 1));
        };
        let path = format!("/run/netns/{ns}");
        std::thread::scope(|s| {
            s.spawn(|| {
                let f = std::fs::File::open(&path)?;
                nix::sched::setns(&f, nix::sched::CloneFlags::CLONE_NEWNET)?;
                Ok(NftSocket(netlink::open_socket()?, 1))
            })
            .join()
            .unwrap_or_else(|_| Err(std::io::Error::other("netns thread panicked")))
        })
    }

    /// The first of `n` fresh sequence numbers.
    fn next_seq(&mut self, n: u32) -> u32 {
        let first = self.1.wrapping_add(1);
        self.1 = self.1.wrapping_add(n);
        first
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ruleset::{AddrSet, VerdictMap};

    fn rs(ranges: &[(u128, u128)], entries: &[(&str, &str)]) -> Ruleset {
        let mut r = Ruleset::default();
        r.sets.insert(
            "peers0_4".into(),
            AddrSet {
                family: Family::V4,
                ranges: ranges.to_vec(),
            },
        );
        r.maps.insert(
            "ingress4".into(),
            VerdictMap {
                family: Family::V4,
                entries: entries
                    .iter()
                    .map(|(ip, c)| (ip.parse().unwrap(), c.to_string()))
                    .collect(),
            },
        );
        r
    }

    #[test]
    fn delta_deletes_changed_ranges_and_entries_then_adds() {
        let old = rs(&[(10, 10), (20, 30)], &[("10.0.0.1", "in0"), ("10.0.0.2", "in0")]);
        let new = rs(&[(10, 11), (20, 30)], &[("10.0.0.1", "in1"), ("10.0.0.3", "in0")]);
        let d = ElementDelta::between(&old, &new).unwrap();
        assert_eq!(
            d.script(),
            "delete element inet palisade peers0_4 { 0.0.0.10 }\n\
             delete element inet palisade ingress4 { 10.0.0.1, 10.0.0.2 }\n\
             add element inet palisade peers0_4 { 0.0.0.10-0.0.0.11 }\n\
             add element inet palisade ingress4 { 10.0.0.1 : jump in1, 10.0.0.3 : jump in0 }\n"
        );
        assert!(ElementDelta::between(&old, &old).unwrap().is_empty());
    }

    #[test]
    fn followed_by_keeps_only_the_net_effect() {
        let add = |r| ElementOp::AddRange {
            set: "s".into(),
            family: Family::V4,
            range: r,
        };
        let del = |r| ElementOp::DelRange {
            set: "s".into(),
            family: Family::V4,
            range: r,
        };
        let entry = |chain: &str| ElementOp::AddEntry {
            map: "m".into(),
            ip: "10.0.0.1".parse().unwrap(),
            chain: chain.into(),
        };
        let unentry = ElementOp::DelEntry {
            map: "m".into(),
            ip: "10.0.0.1".parse().unwrap(),
        };
        // A pod leaves [1,5] (split into [1,2] and [4,5]) and comes back: nothing changes
        // for the set, and its entry moves from chain a to chain b.
        let first = ElementDelta {
            ops: vec![del((1, 5)), unentry.clone(), add((1, 2)), add((4, 5))],
        };
        let second = ElementDelta {
            ops: vec![del((1, 2)), del((4, 5)), add((1, 5)), entry("b")],
        };
        assert_eq!(first.followed_by(second).ops, vec![unentry.clone(), entry("b")]);
        // Added then deleted: nothing at all.
        let a = ElementDelta {
            ops: vec![add((7, 7)), entry("a")],
        };
        let b = ElementDelta {
            ops: vec![del((7, 7)), unentry],
        };
        assert!(a.followed_by(b).is_empty());
    }

    #[test]
    fn ranges_become_start_and_end_elements() {
        // [10.0.0.1, 10.0.0.1]: start key 10.0.0.1, end key 10.0.0.2 flagged INTERVAL_END.
        let b = range_elements(Attrs::new(), Family::V4, (0x0a000001, 0x0a000001)).into_bytes();
        let start = [12u8, 0, 1, 0x80, 8, 0, 1, 0, 10, 0, 0, 1];
        assert_eq!(
            &b[4..16],
            &start,
            "first element: nested key with the start address"
        );
        assert!(
            b.windows(4).any(|w| w == [10, 0, 0, 2]),
            "end key is one past the range"
        );
        assert!(
            b.windows(4).any(|w| w == [0, 0, 0, 1]),
            "INTERVAL_END flag, big-endian"
        );
        // A range to the top of the space has no end element.
        let top = range_elements(Attrs::new(), Family::V4, (0xff000000, 0xffffffff)).into_bytes();
        assert!(!top.windows(4).any(|w| w == [0, 0, 0, 1]));
    }
}
