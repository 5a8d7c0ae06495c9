//! One nftables rule as data: its expressions in order (matches, set references, counter,
//! log tag, mark, verdict, comment). Rules are built, compared, renamed and inspected as
//! values; nft syntax is produced only by their `Display`, at the edge where a script is
//! written, and never read back.

use std::collections::HashMap;
use std::fmt;

use palisade_core::ip::Family;
use palisade_core::{port_range_text, Protocol};

/// Which address of a packet an expression looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum End {
    /// `saddr`
    Source,
    /// `daddr`
    Destination,
}

/// What a log statement stands for. Only this short tag travels through the kernel (an
/// NFLOG prefix has room for 63 bytes, too few for policy names); what it means, with the
/// policies named, is in [`crate::LogMeaning`], kept beside the rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LogTag {
    /// An ingress rule allowed (logged with `log_allowed`): the rule of a policy, by their
    /// positions in the rendered cluster. `A:i:P:R`.
    Allowed {
        /// The policy's index in the cluster.
        policy: usize,
        /// The rule's index in the policy's ingress list.
        rule: usize,
    },
    /// Nothing allowed: the last rule of profile chain `profile` of that direction, which
    /// drops (or, in audit mode, lets through). `D:i:N`, `U:e:N`.
    Denied {
        /// Ingress (else egress).
        ingress: bool,
        /// The profile chain's number.
        profile: usize,
        /// Audit mode: let through and logged.
        audit: bool,
    },
    /// The destination does not restrict ingress (with `log_allowed`). `A:-`.
    Open,
    /// An ingress rule of a ClusterNetworkPolicy accepted (with `log_allowed`), by their
    /// positions in the rendered cluster. `A:c:P:R`.
    TierAllowed {
        /// The ClusterNetworkPolicy's index in the cluster.
        policy: usize,
        /// The rule's index in its ingress list.
        rule: usize,
    },
    /// A ClusterNetworkPolicy rule denied (or, in audit mode, would have). `D:c:i:P:R`,
    /// `U:c:e:P:R`.
    TierDenied {
        /// Ingress (else egress).
        ingress: bool,
        /// The ClusterNetworkPolicy's index in the cluster.
        policy: usize,
        /// The rule's index in that direction's list.
        rule: usize,
        /// Audit mode: let through and logged.
        audit: bool,
    },
    /// A staged (shadow-mode) policy would change the verdict: logged only, the packet
    /// goes on. `S:N`, N numbering the differences' meanings.
    Shadow {
        /// The meaning's number in this ruleset.
        id: usize,
    },
}

impl fmt::Display for LogTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LogTag::Allowed { policy, rule } => write!(f, "A:i:{policy}:{rule}"),
            LogTag::Denied {
                ingress,
                profile,
                audit,
            } => write!(
                f,
                "{}:{}:{profile}",
                if *audit { "U" } else { "D" },
                if *ingress { "i" } else { "e" }
            ),
            LogTag::Open => f.write_str("A:-"),
            LogTag::TierAllowed { policy, rule } => write!(f, "A:c:{policy}:{rule}"),
            LogTag::TierDenied {
                ingress,
                policy,
                rule,
                audit,
            } => write!(
                f,
                "{}:c:{}:{policy}:{rule}",
                if *audit { "U" } else { "D" },
                if *ingress { "i" } else { "e" }
            ),
            LogTag::Shadow { id } => write!(f, "S:{id}"),
        }
    }
}

/// One expression or statement of a rule.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Expr {
    /// `ct state established,related`
    Established,
    /// `ct state invalid`
    Invalid,
    /// `ip saddr @SET`: the address is in a named interval set.
    InSet {
        /// The address family.
        family: Family,
        /// Source or destination address.
        end: End,
        /// The set's name.
        set: String,
    },
    /// `ip saddr vmap @MAP`: jump to the chain the address maps to.
    Vmap {
        /// The address family.
        family: Family,
        /// Source or destination address.
        end: End,
        /// The map's name.
        map: String,
    },
    /// `ip version 4`: any address of the family.
    Version(Family),
    /// `meta l4proto tcp`, with `th dport { 80, 8000-8080 }` when `ports` are given.
    L4 {
        /// The protocol.
        protocol: Protocol,
        /// Destination port ranges; `None` for every port.
        ports: Option<Vec<(u16, u16)>>,
    },
    /// `counter`
    Counter,
    /// `log prefix "TAG " group N`
    Log {
        /// What the log line stands for.
        tag: LogTag,
        /// The NFLOG group.
        group: u16,
    },
    /// `meta mark set 0x3`
    SetMark(u32),
    /// `accept`
    Accept,
    /// `drop`
    Drop,
    /// `goto CHAIN`: go on in another chain, returning where this one would.
    Goto(String),
    /// `comment "…"`: for people reading `nft list`.
    Comment(String),
}

fn ip_word(f: Family) -> &'static str {
    match f {
        Family::V4 => "ip",
        Family::V6 => "ip6",
    }
}

fn end_word(e: End) -> &'static str {
    match e {
        End::Source => "saddr",
        End::Destination => "daddr",
    }
}

/// The protocol's nft keyword.
pub fn proto_word(p: Protocol) -> &'static str {
    match p {
        Protocol::Tcp => "tcp",
        Protocol::Udp => "udp",
        Protocol::Sctp => "sctp",
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Established => f.write_str("ct state established,related"),
            Expr::Invalid => f.write_str("ct state invalid"),
            Expr::InSet { family, end, set } => {
                write!(f, "{} {} @{set}", ip_word(*family), end_word(*end))
            }
            Expr::Vmap { family, end, map } => {
                write!(f, "{} {} vmap @{map}", ip_word(*family), end_word(*end))
            }
            Expr::Version(family) => write!(
                f,
                "{} version {}",
                ip_word(*family),
                if *family == Family::V4 { 4 } else { 6 }
            ),
            Expr::L4 { protocol, ports } => {
                write!(f, "meta l4proto {}", proto_word(*protocol))?;
                if let Some(ports) = ports {
                    let items: Vec<String> = ports.iter().map(|(lo, hi)| port_range_text(*lo, *hi)).collect();
                    write!(f, " th dport {{ {} }}", items.join(", "))?;
                }
                Ok(())
            }
            Expr::Counter => f.write_str("counter"),
            Expr::Log { tag, group } => write!(f, "log prefix \"{tag} \" group {group}"),
            Expr::SetMark(m) => write!(f, "meta mark set {m:#x}"),
            Expr::Accept => f.write_str("accept"),
            Expr::Drop => f.write_str("drop"),
            Expr::Goto(chain) => write!(f, "goto {chain}"),
            Expr::Comment(c) => write!(f, "comment \"{c}\""),
        }
    }
}

/// A rule: expressions in the order nft evaluates them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Rule(pub Vec<Expr>);

impl Rule {
    /// A rule of these expressions.
    pub fn of(exprs: impl IntoIterator<Item = Expr>) -> Rule {
        Rule(exprs.into_iter().collect())
    }

    /// The names of the sets the rule looks addresses up in.
    pub fn sets(&self) -> impl Iterator<Item = &str> {
        self.0.iter().filter_map(|e| match e {
            Expr::InSet { set, .. } => Some(set.as_str()),
            _ => None,
        })
    }

    /// Renames set references by `map` (names not in it stay).
    pub fn rename_sets(&mut self, map: &HashMap<String, String>) {
        for e in &mut self.0 {
            if let Expr::InSet { set, .. } = e {
                if let Some(to) = map.get(set.as_str()) {
                    set.clone_from(to);
                }
            }
        }
    }

    /// The verdict the rule ends with, if any.
    pub fn verdict(&self) -> Option<&Expr> {
        self.0
            .iter()
            .rev()
            .find(|e| matches!(e, Expr::Accept | Expr::Drop))
    }

    /// The tag of the rule's log statement, if it logs.
    pub fn log_tag(&self) -> Option<LogTag> {
        self.0.iter().find_map(|e| match e {
            Expr::Log { tag, .. } => Some(*tag),
            _ => None,
        })
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_print_as_nft_syntax() {
        // Expected text written by hand from the nft(8) grammar.
        let r = Rule::of([
            Expr::L4 {
                protocol: Protocol::Tcp,
                ports: Some(vec![(80, 80), (8000, 8080)]),
            },
            Expr::InSet {
                family: Family::V6,
                end: End::Source,
                set: "peers3_6".into(),
            },
            Expr::Counter,
            Expr::Log {
                tag: LogTag::Denied {
                    ingress: false,
                    profile: 2,
                    audit: true,
                },
                group: 100,
            },
            Expr::Accept,
            Expr::Comment("shop/web ingress 0".into()),
        ]);
        assert_eq!(
            r.to_string(),
            "meta l4proto tcp th dport { 80, 8000-8080 } ip6 saddr @peers3_6 counter log prefix \"U:e:2 \" group 100 accept comment \"shop/web ingress 0\""
        );
        assert_eq!(r.sets().collect::<Vec<_>>(), ["peers3_6"]);
        assert_eq!(r.verdict(), Some(&Expr::Accept));
        assert_eq!(Rule::of([Expr::SetMark(0)]).to_string(), "meta mark set 0x0");
        assert_eq!(
            Rule::of([Expr::Vmap {
                family: Family::V4,
                end: End::Destination,
                map: "ingress4".into()
            }])
            .to_string(),
            "ip daddr vmap @ingress4"
        );
    }

    #[test]
    fn renaming_touches_set_references_only() {
        let mut r = Rule::of([
            Expr::InSet {
                family: Family::V4,
                end: End::Destination,
                set: "peers0_4".into(),
            },
            Expr::Comment("peers0_4 stays in a comment".into()),
        ]);
        r.rename_sets(&HashMap::from([("peers0_4".to_string(), "peers9_4".to_string())]));
        assert_eq!(
            r.to_string(),
            "ip daddr @peers9_4 comment \"peers0_4 stays in a comment\""
        );
    }
}
