//! What a change of manifests opens and closes: every pod present on both sides, every
//! protocol and port range, compared through the engine's reports, grouped by namespace,
//! workload and port, with the policies that decide now (the engine's explanation of one
//! example pair per group).

use std::collections::{BTreeMap, HashMap};

use palisade_core::compile::NodeTie;
use palisade_core::explain::DecidedBy;
use palisade_core::{compile, explain, Cluster, Endpoint, Explanation, Options, Protocol};
use serde::Serialize;

use palisade_core::report::{ranges_text, Report};
use palisade_core::scope::PairFilter;

/// One group of changed connections.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FlowChange {
    /// Source group (`namespace/workload`, or an external block).
    pub from: String,
    /// Destination group.
    pub to: String,
    /// Protocols with these same ports (`TCP`, `UDP`, `SCTP`).
    pub protocols: Vec<String>,
    /// Port ranges, as `80,443,8000-8080` or `all`.
    pub ports: String,
    /// Pod pairs in the group.
    pub pairs: usize,
    /// One pod pair of the group (`ns/pod`).
    pub example: (String, String),
    /// Policies (`ns/name`) that decide the example now: for an opened flow, those whose
    /// rules allow it; for a closed one, those that isolate without allowing it; or, where
    /// a tier decided a side, `Admin ClusterNetworkPolicy NAME` (or `Baseline …`).
    pub policies: Vec<String>,
}

/// What a change of manifests opens and closes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Diff {
    /// Connections allowed now and not before.
    pub opened: Vec<FlowChange>,
    /// Connections allowed before and not now.
    pub closed: Vec<FlowChange>,
    /// Pods only in the new or only in the old manifests (their flows are not compared).
    pub pods_added: Vec<String>,
    /// Pods only in the old manifests.
    pub pods_removed: Vec<String>,
    /// What was not compared, when limits applied.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Groups found but not listed ([`diff_first`]), opened and closed.
    #[serde(skip)]
    pub unlisted: [usize; 2],
}

/// The most address-space classes (see [`palisade_core::segments`]) a diff or a redundancy
/// check adds as endpoints; past it the rest of the address space is not compared (and a
/// note says so).
pub const MAX_ADDRESS_CLASSES: usize = 1024;

/// `clusters` with the representatives of the address space outside the pods (cut at the
/// ipBlock boundaries of all of them) added as externals, and a note when capped.
pub fn with_address_space(clusters: &[&Cluster]) -> (Vec<Cluster>, Option<String>) {
    let mut reps = palisade_core::segments::address_representatives(clusters);
    let note = (reps.len() > MAX_ADDRESS_CLASSES).then(|| {
        format!(
            "the address space outside the pods falls into {} classes; only the first {MAX_ADDRESS_CLASSES} were compared",
            reps.len()
        )
    });
    reps.truncate(MAX_ADDRESS_CLASSES);
    let out = clusters
        .iter()
        .map(|c| {
            let mut c = (*c).clone();
            for r in &reps {
                if !c.externals.iter().any(|e| e.name == r.name) {
                    c.externals.push(r.clone());
                }
            }
            c
        })
        .collect();
    (out, note)
}

use palisade_core::ranges::subtract;

/// Policies deciding an explained connection (see [`FlowChange::policies`]).
pub fn deciding_policies(cluster: &Cluster, e: &Explanation) -> Vec<String> {
    let mut out = Vec::new();
    for d in [&e.egress, &e.ingress] {
        // Denied: only the directions that deny count.
        if !e.allowed && d.allowed {
            continue;
        }
        if let DecidedBy::ClusterPolicy(tier, ci, _, _) = d.decided_by {
            // A tier decided first: the NetworkPolicies of this side had no say.
            out.push(format!(
                "{} ClusterNetworkPolicy {}",
                tier.as_str(),
                cluster.cluster_policies[ci].name
            ));
            continue;
        }
        for t in &d.policies {
            if t.allows() == e.allowed {
                out.push(cluster.policies[t.policy].key());
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

fn group_name(r: &Report, i: usize) -> String {
    let ep = &r.endpoints[i];
    match &ep.namespace {
        Some(ns) => format!("{ns}/{}", ep.group),
        None => ep.group.clone(),
    }
}

type Key = (String, String, Vec<(u16, u16)>);
/// Protocols, pod pairs in the group, and the first pod pair (new report indices).
type Group = (Vec<Protocol>, usize, (usize, usize));

/// What makes endpoints alike for a diff: both sides' classes and node ties, being a pod,
/// the display group, and both sides' scope. Every pair of two such sets of endpoints
/// compares alike (but a pod with itself, which is always allowed on both sides).
type Likeness = (
    usize,
    usize,
    Option<NodeTie>,
    Option<NodeTie>,
    bool,
    String,
    [bool; 4],
);

/// A group while the sets are compared: source and destination names by number.
type NumKey = (u32, u32, Vec<(u16, u16)>);

/// The changed groups, opened then closed: the endpoints present on both sides (`pods`,
/// new and old report indices) are folded into sets of alike endpoints, and each pair of
/// sets is compared once, so the work grows with the sets, not with pods squared.
fn changed_groups(rn: &Report, ro: &Report, pods: &[(usize, usize)]) -> [BTreeMap<Key, Group>; 2] {
    let mut index: HashMap<Likeness, usize> = HashMap::new();
    let mut sets: Vec<Vec<(usize, usize)>> = Vec::new();
    // Each set's display group, by number.
    let mut names: Vec<String> = Vec::new();
    let mut name_ids: HashMap<String, u32> = HashMap::new();
    let mut set_name: Vec<u32> = Vec::new();
    for &(a, oa) in pods {
        let (e, o) = (&rn.endpoints[a], &ro.endpoints[oa]);
        let scope = [
            rn.is_source(a),
            rn.is_destination(a),
            ro.is_source(oa),
            ro.is_destination(oa),
        ];
        let name = group_name(rn, a);
        let key = (e.class, o.class, e.node, o.node, e.is_pod, name.clone(), scope);
        let j = *index.entry(key).or_insert_with(|| {
            sets.push(Vec::new());
            let id = *name_ids.entry(name.clone()).or_insert_with(|| {
                names.push(name);
                (names.len() - 1) as u32
            });
            set_name.push(id);
            sets.len() - 1
        });
        sets[j].push((a, oa));
    }
    // Rows of sets in parallel, each into its own groups, merged at the end.
    use rayon::prelude::*;
    let row = |i: usize| -> [HashMap<NumKey, Group>; 2] {
        let from = &sets[i];
        let mut groups: [HashMap<NumKey, Group>; 2] = Default::default();
        // The groups one pair of sets falls in, with the protocols: its pairs count once
        // per group.
        let mut touched: Vec<(usize, NumKey, Vec<Protocol>)> = Vec::new();
        for (j, to) in sets.iter().enumerate() {
            // A pod with itself is always allowed: the pairs are the others.
            let pairs = from.len() * to.len() - if i == j { from.len() } else { 0 };
            if pairs == 0 {
                continue;
            }
            let (a, oa) = from[0];
            let (b, ob) = if i == j { to[1] } else { to[0] };
            // Traffic between two external blocks never crosses the cluster.
            if !(rn.endpoints[a].is_pod || rn.endpoints[b].is_pod)
                || !rn.in_scope(a, b)
                || !ro.in_scope(oa, ob)
            {
                continue;
            }
            touched.clear();
            for proto in Protocol::ALL {
                let (now, before) = (rn.ranges(a, b, proto), ro.ranges(oa, ob, proto));
                if now == before {
                    continue;
                }
                for (k, r) in [(0, subtract(now, before)), (1, subtract(before, now))] {
                    if r.is_empty() {
                        continue;
                    }
                    let key = (set_name[i], set_name[j], r);
                    match touched.iter_mut().find(|t| t.0 == k && t.1 == key) {
                        Some(t) => t.2.push(proto),
                        None => touched.push((k, key, vec![proto])),
                    }
                }
            }
            for (k, key, protos) in touched.drain(..) {
                add(&mut groups[k], key, (protos, pairs, (a, b)));
            }
        }
        groups
    };
    let numbered = (0..sets.len())
        .into_par_iter()
        .map(row)
        .reduce(Default::default, |mut x, y| {
            for (k, m) in y.into_iter().enumerate() {
                for (key, g) in m {
                    add(&mut x[k], key, g);
                }
            }
            x
        });
    numbered.map(|m| {
        m.into_iter()
            .map(|((s, d, r), g)| ((names[s as usize].clone(), names[d as usize].clone(), r), g))
            .collect()
    })
}

/// Adds pod pairs on protocols to the group `key`, keeping its first pair.
fn add(groups: &mut HashMap<NumKey, Group>, key: NumKey, (protos, pairs, first): Group) {
    let g = groups.entry(key).or_insert((Vec::new(), 0, first));
    for p in protos {
        if !g.0.contains(&p) {
            g.0.push(p);
        }
    }
    g.0.sort_by_key(|p| p.index());
    g.1 += pairs;
    g.2 = g.2.min(first);
}

/// Compares the reachability of `old` and `new`: pods matched by namespace and name, and
/// external blocks (`--external`, and one address per class of the address space the
/// ipBlocks of either side cut) by name, in both directions between pods and blocks.
pub fn diff(old: &Cluster, new: &Cluster, options: &Options) -> anyhow::Result<Diff> {
    diff_scoped(old, new, options, &PairFilter::default())
}

/// [`diff`] of the pairs `filter` keeps (sources and destinations matched on each side
/// by the same names and labels).
pub fn diff_scoped(
    old: &Cluster,
    new: &Cluster,
    options: &Options,
    filter: &PairFilter,
) -> anyhow::Result<Diff> {
    diff_limited(old, new, options, filter, usize::MAX)
}

/// [`diff`] with only the first `shown` groups of each list (in their order), and a note
/// counting the others: each group listed costs an explanation, which at 10,000 policies
/// and tens of thousands of groups is most of the time.
pub fn diff_first(old: &Cluster, new: &Cluster, options: &Options, shown: usize) -> anyhow::Result<Diff> {
    diff_limited(old, new, options, &PairFilter::default(), shown)
}

fn diff_limited(
    old: &Cluster,
    new: &Cluster,
    options: &Options,
    filter: &PairFilter,
    shown: usize,
) -> anyhow::Result<Diff> {
    let (both, note) = with_address_space(&[old, new]);
    let (old, new) = (&both[0], &both[1]);
    let (co, cn) = (compile(old, options), compile(new, options));
    let (ro, rn) = (
        Report::build_scoped(old, &co, filter.scope(old))?,
        Report::build_scoped(new, &cn, filter.scope(new))?,
    );
    // Endpoints are matched by kind and name: pods by `ns/name`, externals by their name.
    let old_index: HashMap<(bool, &str), usize> = ro
        .endpoints
        .iter()
        .enumerate()
        .map(|(i, e)| ((e.is_pod, e.name.as_str()), i))
        .collect();
    let new_pods: Vec<Option<usize>> = rn
        .endpoints
        .iter()
        .map(|e| old_index.get(&(e.is_pod, e.name.as_str())).copied())
        .collect();
    let mut out = Diff {
        notes: note.into_iter().collect(),
        ..Diff::default()
    };
    for (i, e) in rn.endpoints.iter().enumerate() {
        if e.is_pod && new_pods[i].is_none() {
            out.pods_added.push(e.name.clone());
        }
    }
    let present: std::collections::HashSet<&str> = rn
        .endpoints
        .iter()
        .filter(|e| e.is_pod)
        .map(|e| e.name.as_str())
        .collect();
    out.pods_removed = ro
        .endpoints
        .iter()
        .filter(|e| e.is_pod && !present.contains(e.name.as_str()))
        .map(|e| e.name.clone())
        .collect();
    let pods: Vec<(usize, usize)> = new_pods
        .iter()
        .enumerate()
        .filter_map(|(i, o)| o.map(|o| (i, o)))
        .collect();
    let groups = changed_groups(&rn, &ro, &pods);
    let pod_index: HashMap<String, usize> = new.pods.iter().enumerate().map(|(i, p)| (p.key(), i)).collect();
    let endpoint = |i: usize| {
        let e = &rn.endpoints[i];
        if e.is_pod {
            Endpoint::Pod(pod_index[&e.name])
        } else {
            let x = new
                .externals
                .iter()
                .find(|x| x.name == e.name)
                .expect("an external of the new side");
            Endpoint::External(x.cidr.clone())
        }
    };
    for (k, g) in groups.into_iter().enumerate() {
        out.unlisted[k] = g.len().saturating_sub(shown);
        for ((from, to, ranges), (protos, pairs, (a, b))) in g.into_iter().take(shown) {
            let proto = protos[0];
            let (pa, pb) = (&rn.endpoints[a].name, &rn.endpoints[b].name);
            let e = explain(new, options, &endpoint(a), &endpoint(b), proto, ranges[0].0);
            let change = FlowChange {
                from,
                to,
                protocols: protos.iter().map(|p| p.to_string()).collect(),
                ports: ranges_text(&ranges),
                pairs,
                example: (pa.clone(), pb.clone()),
                policies: deciding_policies(new, &e),
            };
            if k == 0 {
                out.opened.push(change);
            } else {
                out.closed.push(change);
            }
        }
    }
    Ok(out)
}

impl Diff {
    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.opened.is_empty()
            && self.closed.is_empty()
            && self.pods_added.is_empty()
            && self.pods_removed.is_empty()
    }

    /// A table per direction: from, to, protocol/ports, pod pairs, policies.
    pub fn table(&self) -> String {
        let mut o = String::new();
        for (title, list) in [("opened", &self.opened), ("closed", &self.closed)] {
            if list.is_empty() {
                o.push_str(&format!("{title}: nothing\n"));
                continue;
            }
            match self.unlisted[(title == "closed") as usize] {
                0 => o.push_str(&format!("{title}: {} group(s)\n", list.len())),
                more => o.push_str(&format!(
                    "{title}: {} group(s), the first {} listed (palisade diff lists them all)\n",
                    list.len() + more,
                    list.len()
                )),
            }
            for c in list {
                o.push_str(&format!(
                    "  {} -> {}  {}/{}  ({} pod pair{}; e.g. {} -> {})  policies: {}\n",
                    c.from,
                    c.to,
                    c.protocols.join("+"),
                    c.ports,
                    c.pairs,
                    if c.pairs == 1 { "" } else { "s" },
                    c.example.0,
                    c.example.1,
                    if c.policies.is_empty() {
                        "none (not isolated)".to_string()
                    } else {
                        c.policies.join(", ")
                    }
                ));
            }
        }
        for (title, list) in [
            ("pods added", &self.pods_added),
            ("pods removed", &self.pods_removed),
            ("note", &self.notes),
        ] {
            if !list.is_empty() {
                o.push_str(&format!("{title}: {}\n", list.join(", ")));
            }
        }
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use palisade_synth::small::{self, XorShift};
    use std::collections::BTreeSet;

    /// The oracle: every pod pair compared one by one (what the diff did before folding
    /// alike endpoints), each pair counted once per group.
    /// Per group: the protocols (by index) and the pod pairs.
    type Seen = (BTreeSet<usize>, BTreeSet<(usize, usize)>);

    fn pair_by_pair(rn: &Report, ro: &Report, pods: &[(usize, usize)]) -> [BTreeMap<Key, Group>; 2] {
        let mut groups: [BTreeMap<Key, Seen>; 2] = Default::default();
        for &(a, oa) in pods {
            for &(b, ob) in pods {
                if a == b
                    || !(rn.endpoints[a].is_pod || rn.endpoints[b].is_pod)
                    || !rn.in_scope(a, b)
                    || !ro.in_scope(oa, ob)
                {
                    continue;
                }
                for proto in Protocol::ALL {
                    let (now, before) = (rn.ranges(a, b, proto), ro.ranges(oa, ob, proto));
                    for (k, r) in [(0, subtract(now, before)), (1, subtract(before, now))] {
                        if !r.is_empty() {
                            let g = groups[k]
                                .entry((group_name(rn, a), group_name(rn, b), r))
                                .or_default();
                            g.0.insert(proto.index());
                            g.1.insert((a, b));
                        }
                    }
                }
            }
        }
        groups.map(|m| {
            m.into_iter()
                .map(|(k, (protos, pairs))| {
                    let protos = Protocol::ALL
                        .into_iter()
                        .filter(|p| protos.contains(&p.index()))
                        .collect();
                    (k, (protos, pairs.len(), *pairs.first().unwrap()))
                })
                .collect()
        })
    }

    #[test]
    fn a_limited_diff_lists_the_first_groups_and_counts_the_others() {
        let options = Options::default();
        let mut checked = 0;
        for seed in 1..=60u64 {
            let old = small::cluster(&mut XorShift(seed));
            let mut new = old.clone();
            new.policies = small::cluster(&mut XorShift(seed.wrapping_mul(0x9E37_79B9) | 1)).policies;
            let full = diff(&old, &new, &options).unwrap();
            if full.opened.len() + full.closed.len() < 3 {
                continue;
            }
            let first = diff_first(&old, &new, &options, 1).unwrap();
            for (k, (all, listed)) in [(&full.opened, &first.opened), (&full.closed, &first.closed)]
                .into_iter()
                .enumerate()
            {
                assert_eq!(listed.as_slice(), &all[..all.len().min(1)], "seed {seed}");
                assert_eq!(first.unlisted[k], all.len().saturating_sub(1), "seed {seed}");
            }
            let table = first.table();
            if full.closed.len() > 1 {
                let want = format!("closed: {} group(s), the first 1 listed", full.closed.len());
                assert!(table.contains(&want), "seed {seed}: {table}");
            }
            checked += 1;
        }
        assert!(checked >= 10, "only {checked} seeds with changes");
    }

    #[test]
    fn folding_alike_endpoints_changes_nothing() {
        let options = Options::default();
        let mut compared = 0;
        for seed in 1..=150u64 {
            let old = small::cluster(&mut XorShift(seed));
            let mut new = old.clone();
            let other = small::cluster(&mut XorShift(seed.wrapping_mul(0x9E37_79B9) | 1));
            new.policies = other.policies;
            new.cluster_policies = other.cluster_policies;
            let (both, _) = with_address_space(&[&old, &new]);
            let (old, new) = (&both[0], &both[1]);
            let (co, cn) = (compile(old, &options), compile(new, &options));
            let (ro, rn) = (Report::build(old, &co).unwrap(), Report::build(new, &cn).unwrap());
            // Same endpoints on both sides, by index.
            let pods: Vec<(usize, usize)> = (0..rn.endpoints.len()).map(|i| (i, i)).collect();
            let want = pair_by_pair(&rn, &ro, &pods);
            compared += want[0].len() + want[1].len();
            assert_eq!(changed_groups(&rn, &ro, &pods), want, "seed {seed}");
        }
        assert!(compared > 100, "only {compared} changed groups compared");
    }
}
