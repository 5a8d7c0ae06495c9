//! Staged (shadow-mode) policies on the node: nothing they say is enforced, but every new
//! connection whose verdict they would change is logged, naming the staged policy and rule.
//!
//! The connections are found by comparing the engine's reports of the cluster as enforced
//! and as promoted ([`Cluster::with_shadow_enforced`]) class pair by class pair, over the
//! pods and the classes of the address space outside them ([`address_classes`]). An
//! endpoint's *joint class* is its pair of classes (enforced, promoted): endpoints of one
//! joint class are judged alike by both. Each pair of joint classes whose allowed ports
//! differ becomes log-only rules at the top of the egress base chain, which every new
//! forwarded connection passes before any verdict. The staged policy and rule named for a
//! difference come from the engine's explanation of one pair of it, as `diff` names the
//! deciding policies.
//!
//! A connection is logged once in a cluster: on the node of its destination pod, or, when
//! the destination is no pod of this dataplane (an address outside, a hostNetwork pod), on
//! the node of its source pod.

use std::collections::{BTreeMap, HashMap};

use palisade_core::explain::{explain, DecidedBy, Endpoint as Side, Explanation};
use palisade_core::report::Report;
use palisade_core::segments::address_classes;
use palisade_core::{compile, Action, Cluster, Protocol};

use palisade_core::ranges::{merge, subtract};

use super::{extend, fam_index, Addrs, Ctx, FAMILIES};
use crate::rule::{End, Expr, LogTag, Rule};
use crate::ruleset::{LogMeaning, ShadowMeaning};

/// Where an endpoint sits for this node's logging.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Place {
    /// A pod this dataplane enforces for.
    Local,
    /// A pod another node enforces for.
    Remote,
    /// No pod of any dataplane: an address outside, or a hostNetwork pod.
    Outside,
}

/// The endpoints of one joint class, by place, with their addresses.
#[derive(Default)]
struct Members {
    /// Endpoint indices (pods first, then address classes), in order.
    endpoints: Vec<usize>,
    /// Addresses of every member.
    all: Addrs,
    /// Addresses of the members that are local pods.
    local: Addrs,
    /// Addresses of the members that are outside.
    outside: Addrs,
    /// Whether some member is a pod.
    has_pod: bool,
}

/// The two reports compared, over the same endpoints.
struct Sides {
    options: palisade_core::Options,
    enforced: Cluster,
    promoted: Cluster,
    before: Report,
    after: Report,
}

/// The most classes compared (either side): two per-pair reports of 4,096 classes are
/// 400 MB, which a node agent must not spend on logging. The 10,000-pod synthetic
/// cluster has about 2,500.
const MAX_CLASSES: usize = 4096;

/// The most classes of the address space outside the pods (as `diff` compares).
const MAX_ADDRESS_CLASSES: usize = 1024;

/// `cluster` as enforced and as promoted, each with the address space's classes as its
/// only externals (the addresses a dataplane rule can name).
fn sides(cluster: &Cluster, options: &palisade_core::Options) -> Result<(Sides, Vec<Addrs>), String> {
    let mut enforced = cluster.clone();
    enforced.shadow_policies.clear();
    enforced.shadow_cluster_policies.clear();
    let mut promoted = cluster.clone().with_shadow_enforced();
    let space = address_classes(&[&enforced, &promoted]);
    if space.len() > MAX_ADDRESS_CLASSES {
        return Err(format!(
            "the address space outside the pods falls into {} classes (at most {MAX_ADDRESS_CLASSES} are compared)",
            space.len()
        ));
    }
    for c in [&mut enforced, &mut promoted] {
        c.externals = space.iter().map(|a| a.external.clone()).collect();
    }
    let outside: Vec<Addrs> = space
        .iter()
        .map(|a| {
            let mut addrs: Addrs = Default::default();
            addrs[fam_index(a.family)] = a.ranges.clone();
            addrs
        })
        .collect();
    let (ce, cp) = (compile(&enforced, options), compile(&promoted, options));
    let classes = ce.class_count().max(cp.class_count());
    if classes > MAX_CLASSES {
        return Err(format!(
            "{classes} equivalence classes (at most {MAX_CLASSES} are compared: the two reports take 12 bytes per class pair each)"
        ));
    }
    let before = Report::build(&enforced, &ce).map_err(|e| e.to_string())?;
    let after = Report::build(&promoted, &cp).map_err(|e| e.to_string())?;
    Ok((
        Sides {
            options: options.clone(),
            enforced,
            promoted,
            before,
            after,
        },
        outside,
    ))
}

/// A staged difference's log rule group: destination joint class, where its members are
/// matched (local or outside), protocol, ports and meaning.
type GroupKey = (usize, bool, Protocol, Vec<(u16, u16)>, usize);

/// Groups with equal sources: destination joint class, place, protocol, meaning, sources.
type RuleKey = (usize, bool, Protocol, usize, Addrs);

impl Ctx<'_> {
    /// The log-only rules for connections the staged policies would change (empty when
    /// nothing is staged).
    pub(super) fn shadow_lines(&mut self) -> Vec<Rule> {
        if !self.cluster.has_shadow() {
            return Vec::new();
        }
        let (sides, outside) = match sides(self.cluster, &self.compiled.options) {
            Ok(s) => s,
            Err(why) => {
                self.rs.shadow_unlogged = Some(why);
                return Vec::new();
            }
        };
        let members = self.joint_classes(&sides, &outside);
        let mut groups: BTreeMap<GroupKey, Addrs> = BTreeMap::new();
        let mut meanings: Vec<ShadowMeaning> = Vec::new();
        let (before, after) = (&sides.before, &sides.after);
        for src in &members {
            for (b, dst) in members.iter().enumerate() {
                if !(src.has_pod || dst.has_pod) {
                    continue;
                }
                let Some((x, y)) = example_pair(&sides, src, dst) else {
                    continue;
                };
                let (ex, ey) = (&before.endpoints, &after.endpoints);
                for proto in Protocol::ALL {
                    let was = before
                        .class_ranges(ex[x].class, ex[y].class, proto)
                        .expect("every class is in scope");
                    let would = after
                        .class_ranges(ey[x].class, ey[y].class, proto)
                        .expect("every class is in scope");
                    if was == would {
                        continue;
                    }
                    for (allowed, ports) in [(false, subtract(was, would)), (true, subtract(would, was))] {
                        for range in ports {
                            let Some(meaning) = attribute(&sides, x, y, proto, range.0, allowed) else {
                                continue;
                            };
                            let id = match meanings.iter().position(|m| *m == meaning) {
                                Some(i) => i,
                                None => {
                                    meanings.push(meaning);
                                    meanings.len() - 1
                                }
                            };
                            for to_local in [true, false] {
                                let key = (b, to_local, proto, vec![range], id);
                                let from = if to_local { &src.all } else { &src.local };
                                extend(groups.entry(key).or_default(), from);
                            }
                        }
                    }
                }
            }
        }
        self.shadow_rules(groups, meanings, &members)
    }

    /// Endpoints grouped by joint class, with their addresses by place.
    fn joint_classes(&self, sides: &Sides, outside: &[Addrs]) -> Vec<Members> {
        let pods = &sides.enforced.pods;
        let mut index: HashMap<(usize, usize), usize> = HashMap::new();
        let mut out: Vec<Members> = Vec::new();
        for i in 0..sides.before.endpoints.len() {
            let key = (sides.before.endpoints[i].class, sides.after.endpoints[i].class);
            let j = *index.entry(key).or_insert_with(|| {
                out.push(Members::default());
                out.len() - 1
            });
            let m = &mut out[j];
            m.endpoints.push(i);
            let (place, addrs) = match pods.get(i) {
                Some(pod) => {
                    let mut addrs: Addrs = Default::default();
                    for ip in &pod.ips {
                        let (f, n) = palisade_core::ip::ip_to_num(*ip);
                        addrs[fam_index(f)].push((n, n));
                    }
                    let place = if pod.host_network {
                        Place::Outside
                    } else if self
                        .opts
                        .node
                        .as_ref()
                        .is_none_or(|n| pod.node.as_ref() == Some(n))
                    {
                        Place::Local
                    } else {
                        Place::Remote
                    };
                    m.has_pod |= !pod.host_network;
                    (place, addrs)
                }
                None => {
                    // An address class: its ranges, less every pod's address.
                    let mut addrs = outside[i - pods.len()].clone();
                    for f in FAMILIES {
                        let fi = fam_index(f);
                        addrs[fi] = subtract(&addrs[fi], &self.pod_addrs[fi]);
                    }
                    (Place::Outside, addrs)
                }
            };
            extend(&mut m.all, &addrs);
            match place {
                Place::Local => extend(&mut m.local, &addrs),
                Place::Outside => extend(&mut m.outside, &addrs),
                Place::Remote => {}
            }
        }
        for m in &mut out {
            for a in [&mut m.all, &mut m.local, &mut m.outside] {
                *a = std::mem::take(a).map(merge);
            }
        }
        out
    }

    /// The grouped differences as rules: source set, destination set, ports, counter, log.
    fn shadow_rules(
        &mut self,
        groups: BTreeMap<GroupKey, Addrs>,
        meanings: Vec<ShadowMeaning>,
        members: &[Members],
    ) -> Vec<Rule> {
        // Equal (destination, protocol, sources, meaning) groups share one rule over
        // their ports.
        let mut merged: BTreeMap<RuleKey, Vec<(u16, u16)>> = BTreeMap::new();
        for ((b, to_local, proto, ports, id), from) in groups {
            let from = from.map(merge);
            merged
                .entry((b, to_local, proto, id, from))
                .or_default()
                .extend(ports);
        }
        let mut lines = Vec::new();
        for ((b, to_local, protocol, id, from), ports) in merged {
            let to = if to_local {
                &members[b].local
            } else {
                &members[b].outside
            };
            let tag = LogTag::Shadow { id };
            let m = &meanings[id];
            let comment = Expr::Comment(format!(
                "shadow-{} {}",
                if m.allowed { "allowed" } else { "denied" },
                m.policy.key()
            ));
            for f in FAMILIES {
                let fi = fam_index(f);
                if from[fi].is_empty() || to[fi].is_empty() {
                    continue;
                }
                let src = self.set(f, from[fi].clone());
                let dst = self.set(f, to[fi].clone());
                lines.push(Rule::of([
                    Expr::InSet {
                        family: f,
                        end: End::Source,
                        set: src,
                    },
                    Expr::InSet {
                        family: f,
                        end: End::Destination,
                        set: dst,
                    },
                    Expr::L4 {
                        protocol,
                        ports: Some(merge(ports.clone())),
                    },
                    Expr::Counter,
                    self.log(tag),
                    comment.clone(),
                ]));
                self.rs.logs.insert(tag, LogMeaning::Shadow(m.clone()));
            }
        }
        lines
    }
}

/// One pair of endpoints of two joint classes that can really talk through this node's
/// forward hook: two distinct endpoints, not a pod and its own node. `None` when the
/// classes hold no such pair (a one-pod class and itself).
fn example_pair(sides: &Sides, src: &Members, dst: &Members) -> Option<(usize, usize)> {
    let r = &sides.before;
    let x = src.endpoints[0];
    if let Some(&y) = dst.endpoints.iter().find(|&&y| y != x && !r.node_local(x, y)) {
        return Some((x, y));
    }
    // The first source is the only destination: try another source.
    let y = dst.endpoints[0];
    src.endpoints
        .iter()
        .find(|&&x| x != y && !r.node_local(x, y))
        .map(|&x| (x, y))
}

/// The explained connection's end for endpoint `i`.
fn side(c: &Cluster, i: usize) -> Side {
    match i.checked_sub(c.pods.len()) {
        None => Side::Pod(i),
        Some(e) => Side::External(c.externals[e].cidr.clone()),
    }
}

/// Which staged policy and rule change the verdict of `x` to `y` on `port`: the
/// direction whose verdict changes (egress first, as the packet meets it), and in it the
/// ClusterNetworkPolicy rule that decides now, or the staged NetworkPolicy that allows
/// (or isolates without allowing). `None` when the explanations agree (cannot happen for a
/// pair the reports tell apart).
fn attribute(
    sides: &Sides,
    x: usize,
    y: usize,
    proto: Protocol,
    port: u16,
    allowed: bool,
) -> Option<ShadowMeaning> {
    let ask = |c: &Cluster, o: &palisade_core::Options| -> Explanation {
        explain(c, o, &side(c, x), &side(c, y), proto, port)
    };
    let (was, would) = (
        ask(&sides.enforced, &sides.options),
        ask(&sides.promoted, &sides.options),
    );
    for ingress in [false, true] {
        let (w, d) = if ingress {
            (&was.ingress, &would.ingress)
        } else {
            (&was.egress, &would.egress)
        };
        if w.allowed == d.allowed || d.allowed != allowed {
            continue;
        }
        let promoted = &sides.promoted;
        if let DecidedBy::ClusterPolicy(tier, ci, ri, action) = d.decided_by {
            debug_assert_eq!(action == Action::Deny, !allowed);
            let p = &promoted.cluster_policies[ci];
            return Some(ShadowMeaning {
                allowed,
                ingress,
                policy: p.object_ref(),
                rule: Some(ri),
                tier: Some(tier),
                isolated_by: Vec::new(),
            });
        }
        let staged = |i: usize| i >= sides.enforced.policies.len();
        let policies = &promoted.policies;
        if allowed {
            let (t, r) = d
                .policies
                .iter()
                .filter(|t| staged(t.policy))
                .find_map(|t| t.rules.iter().find(|r| r.matched()).map(|r| (t.policy, r.index)))?;
            return Some(ShadowMeaning {
                allowed,
                ingress,
                policy: policies[t].object_ref(),
                rule: Some(r),
                tier: None,
                isolated_by: Vec::new(),
            });
        }
        let first = d.policies.iter().find(|t| staged(t.policy))?;
        return Some(ShadowMeaning {
            allowed,
            ingress,
            policy: policies[first.policy].object_ref(),
            rule: None,
            tier: None,
            isolated_by: d
                .policies
                .iter()
                .map(|t| policies[t.policy].object_ref())
                .collect(),
        });
    }
    None
}
