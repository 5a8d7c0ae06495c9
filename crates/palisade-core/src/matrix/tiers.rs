//! The tiers around NetworkPolicy in the class rows: one side (the egress of a source or
//! the ingress of a destination) reads the Admin rules that apply in order, then its
//! NetworkPolicy row when a NetworkPolicy isolates it, else the Baseline rules, then the
//! default. Each rule is a set of other-end classes; a rule decides the classes no earlier
//! rule of its tier matched, so a tier costs rules × classes / 64.

use std::borrow::Cow;

use crate::bits::BitSet;
use crate::compile::{Class, Compiled, CompiledRule};
use crate::model::{PortMatch, Protocol};
use crate::tiers::{Action, Tier};

use super::Named;

/// One side of one class on one port class, ready to be read.
pub(super) struct SideRules<'a> {
    /// Admin rules that apply, in order: the other ends each matches, and its action.
    pub(super) admin: Vec<(Cow<'a, BitSet>, Action)>,
    /// What the NetworkPolicies admit, when one isolates the side.
    pub(super) np: Option<BitSet>,
    /// Baseline rules that apply, in order.
    pub(super) baseline: Vec<(Cow<'a, BitSet>, Action)>,
}

impl SideRules<'_> {
    /// The other ends this side admits.
    pub(super) fn row(&self, n: usize) -> BitSet {
        let mut allowed = BitSet::new(n);
        let mut undecided = BitSet::full(n);
        let mut passed = BitSet::new(n);
        for (matched, action) in &self.admin {
            let mut hit = matched.as_ref().clone();
            hit.intersect_with(&undecided);
            match action {
                Action::Accept => allowed.union_with(&hit),
                Action::Pass => passed.union_with(&hit),
                Action::Deny => {}
            }
            undecided.subtract(&hit);
        }
        // What the Admin tier left or passed on goes to the NetworkPolicy tier.
        undecided.union_with(&passed);
        match &self.np {
            Some(np) => allowed.union_with_and(&undecided, np),
            None => {
                for (matched, action) in &self.baseline {
                    let mut hit = matched.as_ref().clone();
                    hit.intersect_with(&undecided);
                    if *action != Action::Deny {
                        // Accept, or Pass to the default (allow).
                        allowed.union_with(&hit);
                    }
                    undecided.subtract(&hit);
                }
                allowed.union_with(&undecided);
            }
        }
        allowed
    }
}

impl Compiled {
    /// Whether some ClusterNetworkPolicy selecting `class` has rules in this direction.
    pub(super) fn has_tier_rules(&self, class: &Class, ingress: bool) -> bool {
        class
            .cluster_policies
            .iter()
            .any(|&c| !self.cluster_policies[c].rules(ingress).is_empty())
    }

    /// Whether a ClusterNetworkPolicy rule names a port: then resolving a named port can
    /// deny as well as allow, and port classes cannot stand for their numeric group.
    pub(super) fn tiers_name_ports(&self) -> bool {
        self.cluster_policies
            .iter()
            .flat_map(|c| c.ingress.iter().chain(&c.egress))
            .flat_map(|r| &r.rule.ports)
            .any(|p| matches!(p.port, PortMatch::Named(_)))
    }

    /// The rules of `tier` for `class` in one direction, in reading order, each with its
    /// place `(policy, rule)`.
    pub(super) fn tier_rules<'a>(
        &'a self,
        class: &'a Class,
        tier: Tier,
        ingress: bool,
    ) -> impl Iterator<Item = ((usize, usize), &'a CompiledRule, Action)> + 'a {
        class
            .cluster_policies
            .iter()
            .filter(move |&&c| self.cluster_policies[c].tier == tier)
            .flat_map(move |&c| {
                self.cluster_policies[c]
                    .rules(ingress)
                    .iter()
                    .enumerate()
                    .map(move |(ri, r)| ((c, ri), &r.rule, r.action))
            })
    }

    /// The egress side of source class `s` on port class `q`: the destinations it admits.
    pub(super) fn egress_side(&self, s: usize, proto: Protocol, q: usize, named: Named) -> BitSet {
        let class = &self.classes[s];
        let n = self.classes.len();
        if !self.has_tier_rules(class, false) {
            return self.egress_row(&class.egress_policies, proto, q, named);
        }
        let masks = |tier| {
            self.tier_rules(class, tier, false)
                .filter_map(|(_, r, a)| Some((Cow::Owned(self.egress_rule_mask(r, proto, q, named)?), a)))
                .collect()
        };
        let np = (!class.egress_policies.is_empty())
            .then(|| self.egress_row(&class.egress_policies, proto, q, named));
        SideRules {
            admin: masks(Tier::Admin),
            np,
            baseline: masks(Tier::Baseline),
        }
        .row(n)
    }

    /// The destinations an egress rule matches on port class `q`: its peers where its port
    /// items apply (a named port applies at the destinations declaring it there); `None`
    /// when nowhere.
    fn egress_rule_mask(
        &self,
        rule: &CompiledRule,
        proto: Protocol,
        q: usize,
        named: Named,
    ) -> Option<BitSet> {
        if rule.ports.is_empty() || rule.numeric[proto.index()].contains(q) {
            return Some(rule.peers.clone());
        }
        if named == Named::Ignore {
            return None;
        }
        let mut out: Option<BitSet> = None;
        for p in rule.ports.iter().filter(|p| p.protocol == proto) {
            if let PortMatch::Named(name) = &p.port {
                if let Some(dsts) = self.named_classes(name, proto, q) {
                    out.get_or_insert_with(|| BitSet::new(self.classes.len()))
                        .union_with_and(&rule.peers, dsts);
                }
            }
        }
        out
    }

    /// Whether the egress of a class with ClusterNetworkPolicies `cnps` and NetworkPolicies
    /// `policies` admits destination class `d` on port class `q` (`names`: the named ports
    /// `d` resolves into `q`). The same reading as [`SideRules::row`], for one destination.
    pub(super) fn egress_admits_one(
        &self,
        cnps: &[usize],
        policies: &[usize],
        proto: Protocol,
        q: usize,
        d: usize,
        names: &[&str],
    ) -> bool {
        let decide = |tier: Tier| {
            cnps.iter()
                .filter(|&&c| self.cluster_policies[c].tier == tier)
                .flat_map(|&c| &self.cluster_policies[c].egress)
                .find(|r| r.rule.peers.contains(d) && Self::rule_applies(&r.rule, proto, q, names))
                .map(|r| r.action)
        };
        match decide(Tier::Admin) {
            Some(Action::Accept) => return true,
            Some(Action::Deny) => return false,
            _ => {}
        }
        if !policies.is_empty() {
            return self.egress_admits(policies, proto, q, d, names);
        }
        decide(Tier::Baseline) != Some(Action::Deny)
    }
}

impl Compiled {
    /// The other-end classes that rule `ri` of ClusterNetworkPolicy `ci` (ingress or
    /// egress) matches for subject class `s` on port class `q` of `proto`, before the
    /// rules read ahead of it take their share.
    pub fn tier_rule_matches(
        &self,
        ci: usize,
        ingress: bool,
        ri: usize,
        s: usize,
        proto: Protocol,
        q: usize,
    ) -> BitSet {
        let r = &self.cluster_policies[ci].rules(ingress)[ri].rule;
        let none = || BitSet::new(self.classes.len());
        if ingress {
            let names = self.names_at(s, proto, q, Named::Resolve);
            if Self::rule_applies(r, proto, q, &names) {
                r.peers.clone()
            } else {
                none()
            }
        } else {
            self.egress_rule_mask(r, proto, q, Named::Resolve)
                .unwrap_or_else(none)
        }
    }

    /// The other-end classes the Admin tier decides (Accept or Deny) for subject class `s`
    /// in one direction on port class `q`: there no NetworkPolicy has a say.
    pub fn admin_decided(&self, s: usize, ingress: bool, proto: Protocol, q: usize) -> BitSet {
        let n = self.classes.len();
        let mut undecided = BitSet::full(n);
        let mut decided = BitSet::new(n);
        for ((c, ri), _, action) in self.tier_rules(&self.classes[s], Tier::Admin, ingress) {
            let mut hit = self.tier_rule_matches(c, ingress, ri, s, proto, q);
            hit.intersect_with(&undecided);
            if action != Action::Pass {
                decided.union_with(&hit);
            }
            undecided.subtract(&hit);
        }
        decided
    }
}
