//! Element-level changes between two rulesets with the same chains: the address ranges
//! and verdict-map entries to delete and to add, as data and as an `nft -f` script (sent
//! as one nf_tables netlink transaction by [`crate::kernel::set_elements`]: no `nft`
//! process, no cache of the whole table, the path that keeps a pod change in the low
//! milliseconds).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::net::IpAddr;

use palisade_core::ip::Family;

use crate::ruleset::{range_text, Ruleset, TABLE};

/// One element change.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ElementOp {
    /// Remove a range from an address set.
    DelRange {
        /// The set's name.
        set: String,
        /// The set's family.
        family: Family,
        /// The inclusive range, as numbers.
        range: (u128, u128),
    },
    /// Remove an address from a verdict map.
    DelEntry {
        /// The map's name.
        map: String,
        /// The address.
        ip: IpAddr,
    },
    /// Add a range to an address set.
    AddRange {
        /// The set's name.
        set: String,
        /// The set's family.
        family: Family,
        /// The inclusive range, as numbers.
        range: (u128, u128),
    },
    /// Map an address to a chain in a verdict map.
    AddEntry {
        /// The map's name.
        map: String,
        /// The address.
        ip: IpAddr,
        /// The chain it jumps to.
        chain: String,
    },
}

/// A set's name and one of its ranges.
type RangeKey<'a> = (&'a str, (u128, u128));

/// Element changes, deletions before additions.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ElementDelta {
    /// The changes, in the order they are sent.
    pub ops: Vec<ElementOp>,
}

/// Ranges in `a` that are not in `b` (both sorted).
fn missing(a: &[(u128, u128)], b: &[(u128, u128)]) -> Vec<(u128, u128)> {
    a.iter()
        .filter(|r| b.binary_search(r).is_err())
        .copied()
        .collect()
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

    /// Whether nothing changes.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Consecutive operations on the same set or map with the same direction, as
    /// (add, set or map name, operations).
    pub(crate) fn groups(&self) -> Vec<(bool, &str, &[ElementOp])> {
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
}
