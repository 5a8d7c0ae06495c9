//! ClusterNetworkPolicy tiers in a profile's chains. A profile with CNP rules gets two
//! chains: `inN` (or `outN`) holds the Admin tier's rules in reading order (accept, log and
//! drop, or `goto` the next chain on Pass) and ends with `goto inNr`; `inNr` holds what
//! follows: the NetworkPolicy chain when a NetworkPolicy isolates the pods, else the
//! Baseline tier's rules, falling back to the base chain (the default: allow). Rules stay
//! per profile, never per pod, and audit mode turns every drop into log and accept.

use super::*;

impl Ctx<'_> {
    /// The chains of a profile with ClusterNetworkPolicies: returns the Admin chain and adds
    /// the rest chain (`{name}r`) to the ruleset.
    pub(super) fn tiered_chain(&mut self, profile: &Profile, number: usize, name: &str) -> Vec<Rule> {
        let (ingress, policies, named, audit, cnps) = profile;
        let rest = format!("{name}r");
        let of_tier = |tier| -> Vec<usize> {
            cnps.iter()
                .copied()
                .filter(|&c| self.compiled.cluster_policies[c].tier == tier)
                .collect()
        };
        let (admin, baseline) = (of_tier(Tier::Admin), of_tier(Tier::Baseline));
        let mut head = Vec::new();
        for c in admin {
            for r in 0..self.cluster.cluster_policies[c].rules(*ingress).len() {
                head.extend(self.tier_rule_lines(c, *ingress, r, named, *audit, &rest));
            }
        }
        head.push(Rule::of([Expr::Goto(rest.clone())]));
        let tail = if policies.is_empty() {
            let mut lines = Vec::new();
            for c in baseline {
                for r in 0..self.cluster.cluster_policies[c].rules(*ingress).len() {
                    lines.extend(self.tier_rule_lines(c, *ingress, r, named, *audit, &rest));
                }
            }
            lines
        } else {
            self.networkpolicy_chain(profile, number)
        };
        self.rs.chains.insert(rest, tail);
        head
    }

    /// The lines of one ClusterNetworkPolicy rule: what it matches, then its action.
    fn tier_rule_lines(
        &mut self,
        policy: usize,
        ingress: bool,
        rule: usize,
        named: &[(String, Protocol, u16)],
        audit: bool,
        rest: &str,
    ) -> Vec<Rule> {
        let cnp = &self.cluster.cluster_policies[policy];
        let model = &cnp.rules(ingress)[rule];
        let compiled = &self.compiled.cluster_policies[policy].rules(ingress)[rule];
        if model.peers.iter().any(|p| matches!(p, CnpPeer::DomainNames(_))) {
            let at = (cnp.object_ref(), ingress, rule);
            if !self.rs.unenforced.contains(&at) {
                self.rs.unenforced.push(at);
            }
        }
        let named_rule = RuleRef {
            ingress,
            policy: cnp.object_ref(),
            rule,
            tier: Some(cnp.tier),
        };
        let comment = Expr::Comment(format!(
            "{} {} {} {rule}",
            cnp.tier.as_str(),
            cnp.name,
            if ingress { "ingress" } else { "egress" }
        ));
        let tail = match (compiled.action, cnp.tier) {
            (Action::Pass, Tier::Admin) => vec![Expr::Counter, Expr::Goto(rest.to_string()), comment],
            (Action::Deny, _) => {
                let tag = LogTag::TierDenied {
                    ingress,
                    policy,
                    rule,
                    audit,
                };
                self.rs.logs.insert(
                    tag,
                    LogMeaning::TierDeny {
                        rule: named_rule,
                        audit,
                    },
                );
                let verdict = if audit { Expr::Accept } else { Expr::Drop };
                vec![Expr::Counter, self.log(tag), verdict, comment]
            }
            // Accept, or a Baseline Pass (to the default: allow).
            _ if !self.opts.log_allowed => vec![Expr::Counter, Expr::Accept, comment],
            _ if ingress => {
                let tag = LogTag::TierAllowed { policy, rule };
                self.rs.logs.insert(tag, LogMeaning::Rule(named_rule));
                vec![Expr::Counter, self.log(tag), Expr::Accept, comment]
            }
            _ => {
                let next = self.rule_marks.len() as u32 + 1;
                let mark = *self.rule_marks.entry((policy, rule, true)).or_insert(next);
                self.rs.marks.insert(mark, named_rule);
                vec![Expr::Counter, Expr::SetMark(mark), Expr::Accept, comment]
            }
        };
        let addrs = self.tier_peer_addrs(policy, ingress, rule);
        let peers = addrs.is_some().then_some(&compiled.rule.peers);
        let m = self.match_of(addrs, &compiled.rule.ports, peers, ingress, named);
        let end = if ingress { End::Source } else { End::Destination };
        self.match_lines(end, &m, &tail)
    }

    /// Addresses a ClusterNetworkPolicy rule's peers stand for (`None`: any, for a rule that
    /// fails closed): its peer classes' addresses, its `networks` whole, and every address
    /// of the Nodes its `nodes` selectors pick.
    fn tier_peer_addrs(&self, policy: usize, ingress: bool, rule: usize) -> Option<Addrs> {
        let model = &self.cluster.cluster_policies[policy].rules(ingress)[rule];
        if model.fails_closed() {
            return None;
        }
        let compiled = &self.compiled.cluster_policies[policy].rules(ingress)[rule];
        let mut out: Addrs = Default::default();
        for c in compiled.rule.peers.iter() {
            extend(&mut out, &self.class_addrs[c]);
        }
        for peer in &model.peers {
            match peer {
                CnpPeer::Networks(cidrs) => {
                    for c in cidrs {
                        out[fam_index(c.family)].push(c.range());
                    }
                }
                CnpPeer::Nodes(sel) => {
                    for node in self.cluster.nodes.iter().filter(|n| sel.matches(&n.labels)) {
                        for a in &node.addresses {
                            let (f, n) = ip_to_num(*a);
                            out[fam_index(f)].push((n, n));
                        }
                    }
                }
                _ => {}
            }
        }
        Some(out.map(merge))
    }
}
