//! The incremental path against the full one (the oracle): after every pod added, removed,
//! readdressed or relabelled, the table a `NodeTable` holds equals a fresh compile and
//! render of its cluster, and the element changes it reported turn the previous ruleset
//! into it. As root, the same changes sent over netlink leave the kernel's listing of the
//! table equal to the listing of a freshly applied one.

mod common;
use common::{list, sorted_blocks};

use std::collections::HashSet;
use std::net::IpAddr;

use palisade_core::ip::{ip_to_num, num_to_ip};
use palisade_core::{Cluster, CompiledCluster, IpBlockPods, Options as EngineOptions, PortMatch};
use palisade_nft::apply::run_script_in;
use palisade_nft::{render, Change, ElementOp, NftSocket, NodeTable, Options, Path, Ruleset};
use palisade_synth::{generate, to_json_list, Spec};

struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) % n as u64) as usize
    }
}

fn synthetic(seed: u64) -> Cluster {
    let spec = Spec {
        namespaces: 4,
        pods: 160,
        policies: 40,
        seed,
    };
    let text = to_json_list(generate(&spec));
    let mut cluster = palisade_load::load(
        &[palisade_load::Source::Text {
            name: "synth.json".into(),
            text,
        }],
        &Default::default(),
    )
    .unwrap()
    .cluster;
    // Two nodes, so that the node's table holds only some pods' verdict-map entries.
    for (i, p) in cluster.pods.iter_mut().enumerate() {
        p.node = Some(if i % 3 == 0 { "b" } else { "a" }.into());
    }
    cluster
}

/// The element changes, applied to a model of the kernel's sets and maps (each must make
/// sense: deleting what is there, adding what is not).
fn apply_model(rs: &mut Ruleset, ops: &[ElementOp]) {
    for op in ops {
        match op {
            ElementOp::DelRange { set, range, .. } => {
                let r = &mut rs.sets.get_mut(set).unwrap().ranges;
                let i = r
                    .iter()
                    .position(|x| x == range)
                    .unwrap_or_else(|| panic!("{set}: no {range:?}"));
                r.remove(i);
            }
            ElementOp::AddRange { set, range, .. } => {
                let r = &mut rs.sets.get_mut(set).unwrap().ranges;
                assert!(
                    r.iter().all(|x| x.1 < range.0 || x.0 > range.1),
                    "{set}: {range:?} overlaps"
                );
                r.push(*range);
                r.sort();
            }
            ElementOp::DelEntry { map, ip } => {
                let e = &mut rs.maps.get_mut(map).unwrap().entries;
                let i = e.iter().position(|x| x.0 == *ip).unwrap();
                e.remove(i);
            }
            ElementOp::AddEntry { map, ip, chain } => {
                let e = &mut rs.maps.get_mut(map).unwrap().entries;
                assert!(e.iter().all(|x| x.0 != *ip), "{map}: {ip} twice");
                e.push((*ip, chain.clone()));
                e.sort();
            }
        }
    }
}

/// Where two rulesets differ, briefly.
fn difference(got: &Ruleset, want: &Ruleset) -> String {
    let mut o = String::new();
    for (name, s) in &want.sets {
        if got.sets.get(name) != Some(s) {
            o += &format!(
                "set {name}: got {:?} want {:?}\n",
                got.sets.get(name).map(|s| &s.ranges),
                s.ranges
            );
        }
    }
    for name in got.sets.keys().filter(|n| !want.sets.contains_key(*n)) {
        o += &format!("extra set {name}\n");
    }
    for (name, m) in &want.maps {
        if got.maps[name] != *m {
            o += &format!("map {name} differs\n");
        }
    }
    if got.chains != want.chains {
        o += "chains differ\n";
    }
    o
}

/// A free address `d` steps from `ip` (often a twin's neighbour, sometimes far away).
fn free_near(ip: IpAddr, d: u128, used: &HashSet<IpAddr>) -> IpAddr {
    let (f, n) = ip_to_num(ip);
    let mut c = n + d;
    while used.contains(&num_to_ip(f, c)) {
        c += 1;
    }
    num_to_ip(f, c)
}

fn scenario(seed: u64, mode: IpBlockPods, kernel: Option<&'static str>) {
    scenario_of(synthetic(seed), seed, mode, kernel)
}

/// The synthetic cluster with ClusterNetworkPolicies of both tiers: an Admin egress Deny
/// to a `networks` block around the first pod's address (so pods move in and out of it),
/// an Admin Pass from the first namespace, and a Baseline Deny of ingress on a named port
/// and TCP 8000-9000 for the second pod's labels.
fn with_tiers(mut c: Cluster) -> Cluster {
    use palisade_core::{
        Action, ClusterPolicy, CnpPeer, CnpPort, CnpRule, CnpSubject, LabelSelector, Protocol, Tier,
    };
    let net: palisade_core::Cidr = format!("{}/27", c.pods[0].ips[0]).parse().unwrap();
    let ns = LabelSelector::from_labels([("kubernetes.io/metadata.name", c.pods[0].namespace.as_str())]);
    let labels: Vec<(String, String)> = c.pods[1]
        .labels
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let rule = |action, peers, protocols| CnpRule {
        name: None,
        action,
        peers,
        protocols,
    };
    c.cluster_policies = vec![
        ClusterPolicy {
            name: "admin".into(),
            tier: Tier::Admin,
            priority: 1,
            subject: CnpSubject::Namespaces(LabelSelector::everything()),
            ingress: vec![rule(Action::Pass, vec![CnpPeer::Namespaces(ns)], vec![])],
            egress: vec![rule(
                Action::Deny,
                vec![CnpPeer::Networks(vec![net])],
                vec![CnpPort::Ports(Protocol::Tcp, Some((80, 90)))],
            )],
        },
        ClusterPolicy {
            name: "baseline".into(),
            tier: Tier::Baseline,
            priority: 1,
            subject: CnpSubject::Pods {
                namespaces: LabelSelector::everything(),
                pods: LabelSelector::from_labels(labels.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
            },
            ingress: vec![rule(
                Action::Deny,
                vec![CnpPeer::Namespaces(LabelSelector::everything())],
                vec![
                    CnpPort::Named("http".into()),
                    CnpPort::Ports(Protocol::Tcp, Some((8000, 9000))),
                ],
            )],
            egress: vec![],
        },
    ];
    c
}

fn scenario_of(cluster: Cluster, seed: u64, mode: IpBlockPods, kernel: Option<&'static str>) {
    let engine = EngineOptions { ipblock_pods: mode };
    let opts = Options {
        node: Some("a".into()),
        ..Default::default()
    };
    let staged = cluster.has_shadow();
    let mut table = NodeTable::new(cluster, engine.clone(), opts.clone());
    let mut model = table.ruleset().clone();
    let _ns = kernel.map(common::Netns::new);
    let mut sock = kernel.map(|ns| {
        run_script_in(Some(ns), &model.replace_script()).unwrap();
        NftSocket::open_in(Some(ns)).unwrap()
    });
    let mut rng = Rng(seed);
    let mut twins = 0;
    let mut scripts = 0;
    for step in 0..80 {
        let pods = &table.cluster().pods;
        let used: HashSet<IpAddr> = pods.iter().flat_map(|p| p.ips.clone()).collect();
        let i = rng.below(pods.len());
        let kind = rng.below(7);
        let (change, path) = match kind {
            // A new replica next to the original, or far from it.
            0..=2 => {
                let mut p = pods[i].clone();
                p.name = format!("new-{step}");
                let d = if rng.below(4) == 0 {
                    1 << 20
                } else {
                    1 + rng.below(8) as u128
                };
                p.ips = p.ips.iter().map(|ip| free_near(*ip, d, &used)).collect();
                table.add_pod(p)
            }
            3 => {
                let (ns, name) = (pods[i].namespace.clone(), pods[i].name.clone());
                table.remove_pod(&ns, &name).unwrap()
            }
            // The same pod at a new address.
            4 => {
                let mut p = pods[i].clone();
                p.ips = p.ips.iter().map(|ip| free_near(*ip, 3, &used)).collect();
                table.add_pod(p)
            }
            // Relabelled: usually no twin, a full rebuild.
            5 => {
                let mut p = pods[i].clone();
                p.labels.insert("extra".into(), step.to_string());
                table.add_pod(p)
            }
            // A policy edited (ports moved), dropped, or copied under another name.
            _ => {
                let mut c = table.cluster().clone();
                let k = rng.below(c.policies.len());
                match rng.below(3) {
                    0 => {
                        let pol = &mut c.policies[k];
                        for r in pol.ingress.iter_mut().chain(pol.egress.iter_mut()) {
                            for port in r.ports.iter_mut() {
                                if let PortMatch::Range(lo, hi) = port.port {
                                    port.port = PortMatch::Range(lo.saturating_add(1), hi.saturating_add(1));
                                }
                            }
                        }
                    }
                    1 => {
                        c.policies.remove(k);
                    }
                    _ => {
                        let mut copy = c.policies[k].clone();
                        copy.name = format!("copy-{step}");
                        copy.ingress.truncate(1);
                        c.policies.push(copy);
                    }
                }
                (table.set_cluster(c), Path::Full)
            }
        };
        twins += (path == Path::Twin) as usize;
        let cluster = table.cluster();
        let full = render(&CompiledCluster::new(cluster, &engine), &opts);
        // Equal to a fresh render, up to the names of sets (kept from the installed table).
        let (got, want) = (table.ruleset().canonical(), full.canonical());
        assert!(
            got == want,
            "seed {seed} step {step} ({path:?}): {}",
            difference(&got, &want)
        );
        match &change {
            Change::Elements(d) => {
                apply_model(&mut model, &d.ops);
                // What log prefixes and marks mean lives in memory, not in the kernel.
                model.logs = table.ruleset().logs.clone();
                model.marks = table.ruleset().marks.clone();
            }
            Change::Script(_) | Change::Replace => model = table.ruleset().clone(),
        }
        assert!(
            &model == table.ruleset(),
            "seed {seed} step {step}: the reported changes: {}",
            difference(&model, table.ruleset())
        );
        if let (Some(ns), Some(sock)) = (kernel, sock.as_mut()) {
            match &change {
                Change::Elements(d) => d
                    .send(sock)
                    .unwrap_or_else(|e| panic!("step {step}: {e}\n{}", d.script())),
                Change::Script(s) => {
                    run_script_in(Some(ns), s).unwrap_or_else(|e| panic!("step {step}: {e}\n{s}"))
                }
                Change::Replace => run_script_in(Some(ns), &model.replace_script()).unwrap(),
            }
            if let Change::Script(script) = &change {
                scripts += 1;
                // After an in-place update the kernel holds exactly the new ruleset.
                let fresh = common::Netns::new("pal-incfresh");
                run_script_in(Some(fresh.0), &model.replace_script()).unwrap();
                let (got, want) = (sorted_blocks(&list(ns)), sorted_blocks(&list(fresh.0)));
                assert!(got == want, "step {step} (op {kind}) in-place update:\n{script}");
            }
        }
    }
    if staged {
        // By design: twins are alike under the enforced policies only.
        assert_eq!(twins, 0, "a twin was used while policies are staged");
    } else {
        assert!(twins >= 25, "the incremental path ran {twins} times of 80");
    }
    if kernel.is_some() {
        assert!(scripts >= 3, "only {scripts} in-place updates");
    }
    if let Some(ns) = kernel {
        let fresh = common::Netns::new("pal-incfresh");
        run_script_in(Some(fresh.0), &model.replace_script()).unwrap();
        let (got, want) = (sorted_blocks(&list(ns)), sorted_blocks(&list(fresh.0)));
        assert!(want.iter().any(|b| b.contains("elements")), "{want:?}");
        assert!(
            got.len() > 10 && got == want,
            "kernel after incremental updates vs fresh apply"
        );
    }
}

#[test]
fn incremental_equals_full_render_ipblock_matching_pods() {
    for seed in 1..=3 {
        scenario(seed, IpBlockPods::Match, None);
    }
}

#[test]
fn incremental_equals_full_render_with_cluster_network_policies() {
    for (seed, mode) in [(10, IpBlockPods::Match), (11, IpBlockPods::Ignore)] {
        let c = with_tiers(synthetic(seed));
        assert!(
            render(
                &CompiledCluster::new(&c, &Default::default()),
                &Default::default()
            )
            .chains
            .keys()
            .any(|k| k.ends_with('r')),
            "the tiers are rendered"
        );
        scenario_of(c, seed, mode, None);
    }
}

/// `c` with every third NetworkPolicy and its Baseline ClusterNetworkPolicy staged
/// (shadow mode): log rules whose sets hold pod addresses.
fn with_staged(c: Cluster) -> Cluster {
    let mut c = with_tiers(c);
    let (mut kept, mut staged) = (Vec::new(), Vec::new());
    for (i, p) in std::mem::take(&mut c.policies).into_iter().enumerate() {
        if i % 3 == 0 {
            staged.push(p);
        } else {
            kept.push(p);
        }
    }
    c.policies = kept;
    c.shadow_policies = staged;
    c.shadow_cluster_policies = c.cluster_policies.split_off(1);
    c
}

#[test]
fn incremental_equals_full_render_with_staged_policies() {
    for (seed, mode) in [(12, IpBlockPods::Match), (13, IpBlockPods::Ignore)] {
        let c = with_staged(synthetic(seed));
        assert!(!c.shadow_policies.is_empty() && !c.shadow_cluster_policies.is_empty());
        let rs = render(
            &CompiledCluster::new(&c, &Default::default()),
            &Default::default(),
        );
        assert!(
            rs.logs
                .values()
                .any(|m| matches!(m, palisade_nft::LogMeaning::Shadow(_))),
            "the staged policies change something"
        );
        scenario_of(c, seed, mode, None);
    }
}

#[test]
fn incremental_equals_full_render_ipblock_ignoring_pods() {
    for seed in 4..=6 {
        scenario(seed, IpBlockPods::Ignore, None);
    }
}

/// Root: the kernel follows the netlink element updates exactly.
#[test]
fn kernel_follows_element_updates() {
    if !common::root_or_skip("checks the kernel in a network namespace") {
        return;
    }
    scenario(7, IpBlockPods::Ignore, Some("pal-inctest"));
    scenario(8, IpBlockPods::Match, Some("pal-inctest"));
    scenario_of(
        with_staged(synthetic(9)),
        9,
        IpBlockPods::Match,
        Some("pal-inctest"),
    );
}

#[test]
fn families_are_kept_apart() {
    // An IPv6 replica of a dual-stack-less cluster has no twin: the full path.
    let mut table = NodeTable::new(synthetic(9), Default::default(), Default::default());
    let mut p = table.cluster().pods[0].clone();
    p.name = "v6".into();
    p.ips = vec!["fd00::99".parse().unwrap()];
    let (_, path) = table.add_pod(p);
    assert_eq!(path, Path::Full);
    let c = table.cluster();
    let full = render(&CompiledCluster::new(c, &Default::default()), &Default::default());
    assert!(table.ruleset().canonical() == full.canonical());
}
