//! Updating an installed table in place when its chains change (a policy edited, added or
//! removed): sets keep the names the kernel knows them by where their contents are the
//! same, and one `nft -f` transaction adds the new sets and chains, rewrites the chains that
//! changed, moves the verdict-map entries, and deletes what is no longer used. The table is
//! never absent and untouched sets are not re-sent, which is much less work for `nft` than a
//! whole replacement.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write;

use palisade_core::ip::Family;

use crate::delta::ElementDelta;
use crate::rule::Rule;
use crate::ruleset::{range_text, AddrSet, Ruleset, TABLE};

/// A set's family and contents.
type SetKey<'a> = (Family, &'a [(u128, u128)]);

fn family_digit(f: Family) -> u8 {
    if f == Family::V4 {
        4
    } else {
        6
    }
}

impl Ruleset {
    /// Renames sets (and the rules' references to them) by `map`.
    fn rename_sets(&mut self, map: &HashMap<String, String>) {
        let sets = std::mem::take(&mut self.sets);
        self.sets = sets
            .into_iter()
            .map(|(n, s)| (map.get(&n).cloned().unwrap_or(n), s))
            .collect();
        let hooks = [&mut self.egress_hook, &mut self.ingress_hook];
        for rules in self.chains.values_mut().chain(hooks) {
            for r in rules.iter_mut() {
                r.rename_sets(map);
            }
        }
    }

    /// Gives every set the name `old` has for the same contents; sets with new contents get
    /// names `old` does not use (so both can exist during one transaction).
    pub fn adopt_names(&mut self, old: &Ruleset) {
        let by_content: HashMap<SetKey<'_>, &String> = old
            .sets
            .iter()
            .map(|(n, s)| ((s.family, s.ranges.as_slice()), n))
            .collect();
        let mut used: HashSet<String> = HashSet::new();
        let mut map: HashMap<String, String> = HashMap::new();
        for (name, s) in &self.sets {
            if let Some(o) = by_content.get(&(s.family, s.ranges.as_slice())) {
                if used.insert((*o).clone()) {
                    map.insert(name.clone(), (*o).clone());
                }
            }
        }
        let mut k = 0usize;
        for (name, s) in &self.sets {
            if map.contains_key(name) {
                continue;
            }
            let fresh = loop {
                let c = format!("peers{k}_{}", family_digit(s.family));
                k += 1;
                if !old.sets.contains_key(&c) && !used.contains(&c) {
                    break c;
                }
            };
            used.insert(fresh.clone());
            map.insert(name.clone(), fresh);
        }
        self.rename_sets(&map);
    }

    /// The same ruleset with sets named by the order of their contents: two rulesets that
    /// differ only in set names have equal canonical forms.
    pub fn canonical(&self) -> Ruleset {
        let mut contents: Vec<(&String, &AddrSet)> = self.sets.iter().collect();
        contents.sort_by(|a, b| (a.1.family as u8, &a.1.ranges).cmp(&(b.1.family as u8, &b.1.ranges)));
        let map: HashMap<String, String> = contents
            .iter()
            .enumerate()
            .map(|(i, (n, s))| ((*n).clone(), format!("c{i}_{}", family_digit(s.family))))
            .collect();
        let mut c = self.clone();
        c.rename_sets(&map);
        c
    }

    /// One transaction that turns the installed `old` into `self` without replacing the
    /// table; `None` when the maps differ, or a set name stands for other contents (then
    /// the table must be replaced). Call [`Ruleset::adopt_names`] first. Base chains whose
    /// rules changed (the staged policies' log rules) are flushed and filled in the same
    /// transaction, keeping their hooks.
    pub fn update_script(&self, old: &Ruleset) -> Option<String> {
        if self.maps.keys().ne(old.maps.keys())
            || self.maps.iter().any(|(n, m)| old.maps[n].family != m.family)
            || self
                .sets
                .iter()
                .any(|(n, s)| old.sets.get(n).is_some_and(|o| o != s))
        {
            return None;
        }
        let mut o = String::new();
        for (name, s) in self.sets.iter().filter(|(n, _)| !old.sets.contains_key(*n)) {
            let ty = if s.family == Family::V4 {
                "ipv4_addr"
            } else {
                "ipv6_addr"
            };
            write!(o, "add set inet {TABLE} {name} {{ type {ty}; flags interval; ").unwrap();
            if !s.ranges.is_empty() {
                let e: Vec<String> = s.ranges.iter().map(|r| range_text(s.family, *r)).collect();
                write!(o, "elements = {{ {} }}; ", e.join(", ")).unwrap();
            }
            writeln!(o, "}}").unwrap();
        }
        for name in self.chains.keys().filter(|c| !old.chains.contains_key(*c)) {
            writeln!(o, "add chain inet {TABLE} {name}").unwrap();
        }
        let changed: BTreeMap<&String, &Vec<Rule>> = self
            .chains
            .iter()
            .filter(|(c, rules)| old.chains.get(*c) != Some(rules))
            .collect();
        // Base chains: always present, rewritten when their rules differ.
        let hooks = self
            .base_chains()
            .into_iter()
            .zip(old.base_chains())
            .filter(|((_, _, new), (_, _, was))| new != was)
            .map(|((name, _, rules), _)| (name, rules));
        for (name, rules) in hooks {
            writeln!(o, "flush chain inet {TABLE} {name}").unwrap();
            for r in rules {
                writeln!(o, "add rule inet {TABLE} {name} {r}").unwrap();
            }
        }
        for (name, rules) in changed {
            if old.chains.contains_key(name) {
                writeln!(o, "flush chain inet {TABLE} {name}").unwrap();
            }
            for r in rules {
                writeln!(o, "add rule inet {TABLE} {name} {r}").unwrap();
            }
        }
        o.push_str(&ElementDelta::map_changes(old, self).script());
        for name in old.chains.keys().filter(|c| !self.chains.contains_key(*c)) {
            writeln!(o, "delete chain inet {TABLE} {name}").unwrap();
        }
        for name in old.sets.keys().filter(|n| !self.sets.contains_key(*n)) {
            writeln!(o, "delete set inet {TABLE} {name}").unwrap();
        }
        Some(o)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rule::{End, Expr};

    /// `ip saddr @SET accept`
    fn accept_from(set: &str) -> Rule {
        Rule::of([
            Expr::InSet {
                family: Family::V4,
                end: End::Source,
                set: set.into(),
            },
            Expr::Accept,
        ])
    }

    /// Sets by name and contents; chains' rules as (chain, set it accepts from).
    fn rs(sets: &[(&str, &[(u128, u128)])], rules: &[(&str, &str)]) -> Ruleset {
        let mut r = Ruleset::default();
        for (n, ranges) in sets {
            r.sets.insert(
                n.to_string(),
                AddrSet {
                    family: Family::V4,
                    ranges: ranges.to_vec(),
                },
            );
        }
        for (c, set) in rules {
            r.chains.entry(c.to_string()).or_default().push(accept_from(set));
        }
        r
    }

    #[test]
    fn names_follow_contents_and_scripts_touch_only_what_changed() {
        let old = rs(
            &[("peers0_4", &[(1, 1)]), ("peers1_4", &[(2, 2)])],
            &[("in0", "peers0_4"), ("in1", "peers1_4")],
        );
        // Rendered afresh, the same contents came out under swapped names, plus a new set.
        let mut new = rs(
            &[
                ("peers0_4", &[(2, 2)]),
                ("peers1_4", &[(1, 1)]),
                ("peers2_4", &[(3, 3)]),
            ],
            &[("in0", "peers1_4"), ("in1", "peers0_4"), ("in1", "peers2_4")],
        );
        assert_eq!(new.canonical(), {
            let mut c = new.clone();
            c.adopt_names(&old);
            c.canonical()
        });
        new.adopt_names(&old);
        assert_eq!(
            new.chains["in0"], old.chains["in0"],
            "in0 is unchanged once names are adopted"
        );
        assert_eq!(new.sets["peers1_4"].ranges, [(2, 2)]);
        let fresh = new.chains["in1"][1].sets().next().unwrap();
        assert!(!old.sets.contains_key(fresh));
        let script = new.update_script(&old).unwrap();
        let lines: Vec<&str> = script.lines().collect();
        assert_eq!(lines.len(), 4, "{script}");
        assert!(lines[0].starts_with(
            "add set inet palisade peers2_4 { type ipv4_addr; flags interval; elements = { 0.0.0.3 }"
        ));
        assert_eq!(lines[1], "flush chain inet palisade in1");
        assert_eq!(lines[2], "add rule inet palisade in1 ip saddr @peers1_4 accept");
    }
}
