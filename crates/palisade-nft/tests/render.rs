//! The rendered ruleset: hand-checked expectations, a snapshot of the bundled example
//! (checked rule by rule against examples/shop/policies.yaml), and the shape properties.

use palisade_core::{CompiledCluster, IpBlockPods, Options as EngineOptions};
use palisade_load::{load, LoadOptions, Source};
use palisade_nft::{render, ElementDelta, Expr, LogMeaning, LogTag, Options, Ruleset};

fn ruleset_of(yaml: &str, engine: EngineOptions, opts: &Options) -> (palisade_core::Cluster, Ruleset) {
    let loaded = load(
        &[Source::Text {
            name: "t.yaml".into(),
            text: yaml.into(),
        }],
        &LoadOptions::default(),
    )
    .unwrap();
    let rs = render(&CompiledCluster::new(&loaded.cluster, &engine), opts);
    (loaded.cluster, rs)
}

fn shop() -> (palisade_core::Cluster, Ruleset) {
    let dir = format!("{}/../../examples/shop", env!("CARGO_MANIFEST_DIR"));
    let loaded = load(&[Source::Path(dir.into())], &LoadOptions::default()).unwrap();
    let rs = render(
        &CompiledCluster::new(&loaded.cluster, &EngineOptions::default()),
        &Options::default(),
    );
    (loaded.cluster, rs)
}

fn ip_of(c: &palisade_core::Cluster, key: &str) -> String {
    c.pods.iter().find(|p| p.key() == key).unwrap().ips[0].to_string()
}

#[test]
fn shop_matches_snapshot() {
    let (_, rs) = shop();
    let want = include_str!("snapshots/shop.nft");
    assert_eq!(
        rs.table_text(),
        want,
        "rendered table changed; re-check it by hand before updating the snapshot"
    );
}

/// What a chain's accept rules allow, read from the rules' expressions: one
/// `"ADDRESSES PROTO PORT"` per port (`any` when the rule has no address match).
fn tuples(rs: &Ruleset, chain: &str) -> Vec<String> {
    let mut out = Vec::new();
    for rule in &rs.chains[chain] {
        if rule.verdict() != Some(&Expr::Accept) {
            continue;
        }
        let (proto, ports) = rule
            .0
            .iter()
            .find_map(|e| match e {
                Expr::L4 { protocol, ports } => Some((protocol.as_str(), ports.clone().unwrap())),
                _ => None,
            })
            .unwrap();
        let addr = match rule.sets().next() {
            Some(name) => {
                let set = &rs.sets[name];
                let r: Vec<String> = set
                    .ranges
                    .iter()
                    .map(|r| palisade_nft::ruleset::range_text(set.family, *r))
                    .collect();
                r.join(",")
            }
            None => "any".to_string(),
        };
        for (lo, hi) in ports {
            out.push(format!(
                "{addr} {proto} {}",
                palisade_core::port_range_text(lo, hi)
            ));
        }
    }
    out.sort();
    out.dedup();
    out
}

fn chain_name(rs: &Ruleset, map: &str, ip: &str) -> String {
    rs.maps[map]
        .entries
        .iter()
        .find(|(a, _)| a.to_string() == ip)
        .unwrap()
        .1
        .clone()
}

#[test]
fn shop_chains_say_what_the_policies_say() {
    let (c, rs) = shop();
    let (fe, be, db, prom, dns) = (
        ip_of(&c, "shop/frontend"),
        ip_of(&c, "shop/backend"),
        ip_of(&c, "shop/database"),
        ip_of(&c, "monitoring/prometheus"),
        ip_of(&c, "kube-system/coredns"),
    );
    // Only the three shop pods are isolated, both ways; monitoring and kube-system are open.
    assert_eq!(rs.maps["ingress4"].entries.len(), 3);
    assert_eq!(rs.maps["egress4"].entries.len(), 3);
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    // Frontend ingress: http (8080) from anyone, metrics (9090) from Prometheus.
    let fi = chain_name(&rs, "ingress4", &fe);
    assert_eq!(
        tuples(&rs, &fi),
        sorted(vec!["any TCP 8080".to_string(), format!("{prom} TCP 9090")])
    );
    assert_eq!(
        rs.chains[&fi].len(),
        4,
        "IPv4 and IPv6 anyone on 8080, Prometheus on 9090, log and drop"
    );
    assert_eq!(rs.chains[&fi].last().unwrap().verdict(), Some(&Expr::Drop));
    // Database ingress: 5432 from the backend, its own metrics port 9187 from Prometheus.
    let di = chain_name(&rs, "ingress4", &db);
    assert_eq!(
        tuples(&rs, &di),
        sorted(vec![format!("{be} TCP 5432"), format!("{prom} TCP 9187")])
    );
    // Backend ingress: 8080 from the frontend, 9090 from Prometheus.
    let bi = chain_name(&rs, "ingress4", &be);
    assert_eq!(
        tuples(&rs, &bi),
        sorted(vec![format!("{fe} TCP 8080"), format!("{prom} TCP 9090")])
    );
    // Egress: everyone DNS over TCP and UDP; the frontend 8080 to the backend; the backend
    // 5432 to the database; the database nothing else.
    let dns2 = |mut v: Vec<String>| {
        v.extend([format!("{dns} TCP 53"), format!("{dns} UDP 53")]);
        sorted(v)
    };
    assert_eq!(tuples(&rs, &chain_name(&rs, "egress4", &db)), dns2(vec![]));
    assert_eq!(
        tuples(&rs, &chain_name(&rs, "egress4", &fe)),
        dns2(vec![format!("{be} TCP 8080")])
    );
    assert_eq!(
        tuples(&rs, &chain_name(&rs, "egress4", &be)),
        dns2(vec![format!("{db} TCP 5432")])
    );
    // Connection tracking first in both base chains.
    for hook in [&rs.egress_hook, &rs.ingress_hook] {
        assert_eq!(hook[0].0, [Expr::Established, Expr::Accept]);
        assert_eq!(hook[1].0, [Expr::Invalid, Expr::Drop]);
    }
    let jumps_by = |hook: &[palisade_nft::Rule], name: &str| {
        hook.iter().any(|r| {
            r.0.iter()
                .any(|e| matches!(e, Expr::Vmap { map, .. } if map == name))
        })
    };
    assert!(jumps_by(&rs.egress_hook, "egress4"));
    assert!(jumps_by(&rs.ingress_hook, "ingress4"));
}

const TWO_PODS: &str = "
apiVersion: v1
kind: Pod
metadata: {name: a, namespace: x, labels: {app: a}}
status: {podIP: 10.1.0.5}
---
apiVersion: v1
kind: Pod
metadata: {name: b, namespace: x, labels: {app: b}}
status: {podIP: 10.1.0.9}
";

#[test]
fn sctp_rules_by_inspection() {
    let yaml = format!(
        "{TWO_PODS}---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: p, namespace: x}}\nspec:\n  podSelector: {{matchLabels: {{app: a}}}}\n  ingress:\n  - ports:\n    - {{protocol: SCTP, port: 9999}}\n    - {{protocol: SCTP, port: 3868, endPort: 3870}}\n"
    );
    let (_, rs) = ruleset_of(&yaml, EngineOptions::default(), &Options::default());
    let text = rs.table_text();
    // SCTP rules are checked here by inspection (this kernel cannot open SCTP sockets).
    assert!(
        text.contains("meta l4proto sctp th dport { 3868-3870, 9999 } counter accept"),
        "{text}"
    );
    let logged = Options {
        log_allowed: true,
        ..Default::default()
    };
    let (_, logged) = ruleset_of(&yaml, EngineOptions::default(), &logged);
    let text = logged.table_text();
    assert!(
        text.contains("meta l4proto sctp th dport { 3868-3870, 9999 } counter log prefix"),
        "{text}"
    );
}

#[test]
fn ipblock_sets_in_both_modes() {
    let yaml = format!(
        "{TWO_PODS}---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: p, namespace: x}}\nspec:\n  podSelector: {{matchLabels: {{app: a}}}}\n  ingress:\n  - from:\n    - ipBlock: {{cidr: 10.1.0.0/24, except: [10.1.0.128/25]}}\n"
    );
    let set_of = |mode| {
        let (_, rs) = ruleset_of(&yaml, EngineOptions { ipblock_pods: mode }, &Options::default());
        let s = rs.sets.values().next().unwrap().clone();
        s.ranges
            .iter()
            .map(|r| palisade_nft::ruleset::range_text(s.family, *r))
            .collect::<Vec<_>>()
    };
    // Match: the block minus the except (b's 10.1.0.9 is inside and matches).
    assert_eq!(set_of(IpBlockPods::Match), ["10.1.0.0-10.1.0.127"]);
    // Ignore: pod addresses are holes in the block.
    assert_eq!(
        set_of(IpBlockPods::Ignore),
        ["10.1.0.0-10.1.0.4", "10.1.0.6-10.1.0.8", "10.1.0.10-10.1.0.127"]
    );
}

#[test]
fn audit_annotation_turns_drops_into_logs() {
    let yaml = format!(
        "---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: x\n  annotations: {{palisade.dev/audit: \"true\"}}\n---\n{TWO_PODS}---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: p, namespace: x}}\nspec:\n  podSelector: {{}}\n  policyTypes: [Ingress, Egress]\n"
    );
    let (_, rs) = ruleset_of(&yaml, EngineOptions::default(), &Options::default());
    for (name, rules) in &rs.chains {
        let last = rules.last().unwrap();
        assert!(
            matches!(last.log_tag(), Some(LogTag::Denied { audit: true, .. }))
                && last.verdict() == Some(&Expr::Accept),
            "{name}: {last}"
        );
    }
    let audited = rs
        .logs
        .values()
        .filter(|m| matches!(m, LogMeaning::Deny { audit: true, .. }))
        .count();
    assert_eq!(audited, 2, "one ingress and one egress profile, both audited");
}

#[test]
fn rule_count_follows_policy_shapes_not_pods() {
    // The same apps and policies, with every pod replicated `k` times (new names and
    // addresses, same labels and ports).
    let objects = palisade_synth::generate(&palisade_synth::Spec {
        namespaces: 20,
        pods: 1000,
        policies: 200,
        seed: 3,
    });
    let count = |k: usize| {
        let mut all = Vec::new();
        for o in &objects {
            all.push(o.clone());
            if o["kind"] == "Pod" {
                for r in 1..k {
                    let mut c = o.clone();
                    let name = format!("{}-r{r}", c["metadata"]["name"].as_str().unwrap());
                    c["metadata"]["name"] = name.into();
                    let ip =
                        c["status"]["podIP"]
                            .as_str()
                            .unwrap()
                            .replacen("10.", &format!("{}.", 10 + r), 1);
                    c["status"]["podIP"] = ip.into();
                    all.push(c);
                }
            }
        }
        let (_, rs) = ruleset_of(
            &palisade_synth::to_json_list(all),
            EngineOptions::default(),
            &Options::default(),
        );
        (
            rs.rule_count(),
            rs.maps.values().map(|m| m.entries.len()).sum::<usize>(),
        )
    };
    let (rules1, keys1) = count(1);
    let (rules4, keys4) = count(4);
    // Four times the pods: four times the verdict-map keys, the same rules.
    assert_eq!(keys4, 4 * keys1);
    assert_eq!(rules4, rules1, "rules must not grow with pods");
    assert!(rules1 < 10 * 200, "{rules1} rules for 200 policies");
}

#[test]
fn pod_changes_update_elements_only() {
    let policy = "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: x}\nspec:\n  podSelector: {matchLabels: {app: a}}\n  ingress:\n  - from:\n    - podSelector: {matchLabels: {app: b}}\n";
    let before = format!("{TWO_PODS}{policy}");
    let (_, old) = ruleset_of(&before, EngineOptions::default(), &Options::default());
    // Another app=b pod, and a's address changes.
    let after = format!(
        "{}---\napiVersion: v1\nkind: Pod\nmetadata: {{name: b2, namespace: x, labels: {{app: b}}}}\nstatus: {{podIP: 10.1.0.77}}\n{policy}",
        TWO_PODS.replace("10.1.0.5", "10.1.0.6")
    );
    let (_, new) = ruleset_of(&after, EngineOptions::default(), &Options::default());
    let script = ElementDelta::between(&old, &new)
        .expect("same chains: element update")
        .script();
    assert!(
        script.contains("10.1.0.77") && script.contains("10.1.0.6 : jump"),
        "{script}"
    );
    assert!(
        !script.contains("chain") && !script.contains("delete table"),
        "{script}"
    );
    // A policy change that changes rules needs the whole table.
    let changed = before.replace(
        "    - podSelector: {matchLabels: {app: b}}\n",
        "    - podSelector: {matchLabels: {app: b}}\n    ports: [{port: 80}]\n",
    );
    assert_ne!(changed, before);
    let (_, other) = ruleset_of(&changed, EngineOptions::default(), &Options::default());
    assert!(ElementDelta::between(&old, &other).is_none());
}
