//! What the dataplane installs, as a value: interval sets of addresses, verdict maps from
//! local pod addresses to policy chains, the chains' rules, and what each log prefix means.
//! Rendered to an `nft -f` script that replaces the whole table in one transaction (see
//! [`crate::delta`] for updates that touch only elements).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::net::IpAddr;

use palisade_core::ip::{num_to_ip, Family};
use palisade_core::{ObjectRef, Tier};

use crate::rule::{LogTag, Rule};

/// The name of Palisade's table (family `inet`).
pub const TABLE: &str = "palisade";

/// An interval set of addresses of one family: sorted, merged, inclusive ranges.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddrSet {
    /// IPv4 or IPv6.
    pub family: Family,
    /// The ranges, as numbers.
    pub ranges: Vec<(u128, u128)>,
}

/// A verdict map from addresses to chains.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerdictMap {
    /// IPv4 or IPv6.
    pub family: Family,
    /// Each address and the chain it jumps to.
    pub entries: Vec<(IpAddr, String)>,
}

/// A rule of a policy, named: the policy object, the direction and the rule's position in
/// that direction's list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleRef {
    /// Ingress (else egress).
    pub ingress: bool,
    /// The policy.
    pub policy: ObjectRef,
    /// The rule's index in the policy's list for that direction.
    pub rule: usize,
    /// The tier, for a ClusterNetworkPolicy's rule (`None`: a NetworkPolicy's).
    pub tier: Option<Tier>,
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
        /// Ingress (else egress).
        ingress: bool,
        /// The policies isolating the pod for that direction.
        policies: Vec<ObjectRef>,
        /// Audit mode: let through and logged.
        audit: bool,
    },
    /// The destination side does not restrict it (not isolated or not on this node).
    Open,
    /// A ClusterNetworkPolicy rule denied it (with `audit`, only logged).
    TierDeny {
        /// The rule, with its tier.
        rule: RuleRef,
        /// Audit mode: let through and logged.
        audit: bool,
    },
    /// Staged policies would change its verdict if they were enforced (only logged).
    Shadow(ShadowMeaning),
}

/// What staged (shadow-mode) policies would change about a connection, and which.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShadowMeaning {
    /// Promoted, the staged policies would allow the connection (else deny it).
    pub allowed: bool,
    /// The direction whose verdict would change (ingress, else egress).
    pub ingress: bool,
    /// The staged policy that would decide.
    pub policy: ObjectRef,
    /// The staged rule that would allow it, or the ClusterNetworkPolicy rule that would
    /// deny it; `None` when a NetworkPolicy would deny it by isolating without allowing.
    pub rule: Option<usize>,
    /// The tier, for a ClusterNetworkPolicy.
    pub tier: Option<Tier>,
    /// For a denial by isolation: every policy that would isolate the pod in that
    /// direction, staged or not.
    pub isolated_by: Vec<ObjectRef>,
}

/// The `inet palisade` table as data: sets, maps, chains and what its log tags mean.
/// Made into nft text ([`Ruleset::table_text`]) only when it is applied or printed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ruleset {
    /// Address sets by name.
    pub sets: BTreeMap<String, AddrSet>,
    /// Verdict maps by name.
    pub maps: BTreeMap<String, VerdictMap>,
    /// Regular chains and their rules, in order.
    pub chains: BTreeMap<String, Vec<Rule>>,
    /// The base chains on the forward hook: egress first (source pods), then ingress
    /// (destination pods). A packet must pass both.
    pub egress_hook: Vec<Rule>,
    /// The ingress base chain's rules.
    pub ingress_hook: Vec<Rule>,
    /// What each log tag in the rules means.
    pub logs: BTreeMap<LogTag, LogMeaning>,
    /// ClusterNetworkPolicy rules with peers nftables cannot enforce (`domainNames`), as
    /// `(policy, direction is ingress, rule)`: they match nothing here, and whoever applies
    /// the ruleset says so.
    pub unenforced: Vec<(ObjectRef, bool, usize)>,
    /// Mark value -> the egress rule that allowed (with `log_allowed`).
    pub marks: BTreeMap<u32, RuleRef>,
    /// Why the connections staged policies would change are not logged, when they are not
    /// (the per-pair comparison was refused: too many classes).
    pub shadow_unlogged: Option<String>,
}

fn type_of(f: Family) -> &'static str {
    match f {
        Family::V4 => "ipv4_addr",
        Family::V6 => "ipv6_addr",
    }
}

/// A range as nft writes it (`10.0.0.1`, `10.0.0.0/24`, `10.0.0.3-10.0.0.9`).
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
        for (name, prio, rules) in self.base_chains() {
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

    /// The base chains on the forward hook, as named in the table, with their priorities:
    /// egress first, then ingress.
    pub fn base_chains(&self) -> [(&'static str, &'static str, &Vec<Rule>); 2] {
        [
            ("egress", "filter - 1", &self.egress_hook),
            ("ingress", "filter", &self.ingress_hook),
        ]
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

    /// Elements in all sets and maps.
    pub fn element_count(&self) -> usize {
        self.sets.values().map(|s| s.ranges.len()).sum::<usize>()
            + self.maps.values().map(|m| m.entries.len()).sum::<usize>()
    }
}
