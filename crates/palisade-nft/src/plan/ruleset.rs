//! What the dataplane installs, as a value: interval sets of addresses, verdict maps from
//! local pod addresses to policy chains, the chains' rules, and what each log prefix means.
//! Rendered to an `nft -f` script that replaces the whole table in one transaction (see
//! [`crate::delta`] for updates that touch only elements).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::net::IpAddr;

use palisade_core::ip::{num_to_ip, Family};
use palisade_core::ObjectRef;

use crate::rule::{LogTag, Rule};

pub const TABLE: &str = "palisade";

/// An interval set of addresses of one family: sorted, merged, inclusive ranges.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddrSet {
    pub family: Family,
    pub ranges: Vec<(u128, u128)>,
}

/// A verdict map from addresses to chains.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerdictMap {
    pub family: Family,
    pub entries: Vec<(IpAddr, String)>,
}

/// A rule of a policy, named: the policy object, the direction and the rule's position in
/// that direction's list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleRef {
    pub ingress: bool,
    pub policy: ObjectRef,
    pub rule: usize,
}

/// What a log tag stands for, for the flow log reader: self-contained, with policies named,
/// so that decoding needs no cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogMeaning {
    /// A rule allowed it.
    Rule(RuleRef),
    /// Nothing allowed it: the policies isolating the pod for that direction.
    /// With `audit`, the packet was let through and only logged.
    Deny {
        ingress: bool,
        policies: Vec<ObjectRef>,
        audit: bool,
    },
    /// The destination side does not restrict it (not isolated or not on this node).
    Open,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ruleset {
    pub sets: BTreeMap<String, AddrSet>,
    pub maps: BTreeMap<String, VerdictMap>,
    /// Regular chains and their rules, in order.
    pub chains: BTreeMap<String, Vec<Rule>>,
    /// The base chains on the forward hook: egress first (source pods), then ingress
    /// (destination pods). A packet must pass both.
    pub egress_hook: Vec<Rule>,
    pub ingress_hook: Vec<Rule>,
    /// What each log tag in the rules means.
    pub logs: BTreeMap<LogTag, LogMeaning>,
    /// Mark value -> the egress rule that allowed (with `log_allowed`).
    pub marks: BTreeMap<u32, RuleRef>,
}

fn type_of(f: Family) -> &'static str {
    match f {
        Family::V4 => "ipv4_addr",
        Family::V6 => "ipv6_addr",
    }
}

pub fn range_text(family: Family, (lo, hi): (u128, u128)) -> String {
    if lo == hi {
        num_to_ip(family, lo).to_string()
    } else {
        format!("{}-{}", num_to_ip(family, lo), num_to_ip(family, hi))
    }
}

fn set_elements(s: &AddrSet) -> String {
    let e: Vec<String> = s.ranges.iter().map(|r| range_text(s.family, *r)).collect();
    e.join(", ")
}

fn map_elements(m: &VerdictMap) -> String {
    let e: Vec<String> = m
        .entries
        .iter()
        .map(|(ip, chain)| format!("{ip} : jump {chain}"))
        .collect();
    e.join(", ")
}

impl Ruleset {
    /// The table's definition in nft syntax.
    pub fn table_text(&self) -> String {
        let mut o = String::new();
        writeln!(o, "table inet {TABLE} {{").unwrap();
        for (name, s) in &self.sets {
            writeln!(
                o,
                "  set {name} {{\n    type {}; flags interval;",
                type_of(s.family)
            )
            .unwrap();
            if !s.ranges.is_empty() {
                writeln!(o, "    elements = {{ {} }}", set_elements(s)).unwrap();
            }
            writeln!(o, "  }}").unwrap();
        }
        for (name, m) in &self.maps {
            writeln!(o, "  map {name} {{\n    type {} : verdict;", type_of(m.family)).unwrap();
            if !m.entries.is_empty() {
                writeln!(o, "    elements = {{ {} }}", map_elements(m)).unwrap();
            }
            writeln!(o, "  }}").unwrap();
        }
        for (name, rules) in &self.chains {
            writeln!(o, "  chain {name} {{").unwrap();
            for r in rules {
                writeln!(o, "    {r}").unwrap();
            }
            writeln!(o, "  }}").unwrap();
        }
        for (name, prio, rules) in [
            ("egress", "filter - 1", &self.egress_hook),
            ("ingress", "filter", &self.ingress_hook),
        ] {
            writeln!(
                o,
                "  chain {name} {{\n    type filter hook forward priority {prio}; policy accept;"
            )
            .unwrap();
            for r in rules {
                writeln!(o, "    {r}").unwrap();
            }
            writeln!(o, "  }}").unwrap();
        }
        writeln!(o, "}}").unwrap();
        o
    }

    /// One transaction that creates or replaces the whole table.
    pub fn replace_script(&self) -> String {
        format!(
            "table inet {TABLE} {{}}\ndelete table inet {TABLE}\n{}",
            self.table_text()
        )
    }

    /// Whether only set and map elements differ from `old`.
    pub fn same_shape(&self, old: &Ruleset) -> bool {
        self.chains == old.chains
            && self.egress_hook == old.egress_hook
            && self.ingress_hook == old.ingress_hook
            && self.sets.len() == old.sets.len()
            && self
                .sets
                .iter()
                .zip(&old.sets)
                .all(|((a, x), (b, y))| a == b && x.family == y.family)
            && self.maps.len() == old.maps.len()
            && self
                .maps
                .iter()
                .zip(&old.maps)
                .all(|((a, x), (b, y))| a == b && x.family == y.family)
    }

    /// Rules in all chains (the figure that must track policy shapes, not pods).
    pub fn rule_count(&self) -> usize {
        self.chains.values().map(Vec::len).sum::<usize>() + self.egress_hook.len() + self.ingress_hook.len()
    }

    pub fn element_count(&self) -> usize {
        self.sets.values().map(|s| s.ranges.len()).sum::<usize>()
            + self.maps.values().map(|m| m.entries.len()).sum::<usize>()
    }
}
