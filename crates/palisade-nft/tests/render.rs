//! The rendered ruleset: hand-checked expectations, a snapshot of the bundled example
//! (checked rule by rule against examples/shop/policies.yaml), and the shape properties.

use palisade_core::{compile, IpBlockPods, Options as EngineOptions};
use palisade_load::{load, LoadOptions, Source};
use palisade_nft::{render, Options, Ruleset};

fn ruleset_of(yaml: &str, engine: EngineOptions, opts: &Options) -> (palisade_core::Cluster, Ruleset) {
    let loaded = load(
        &[Source::Text {
            name: "t.yaml".into(),
            text: yaml.into(),
        }],
        &LoadOptions::default(),
    )
    .unwrap();
    let compiled = compile(&loaded.cluster, &engine);
    let rs = render(&loaded.cluster, &compiled, opts);
    (loaded.cluster, rs)
}

fn shop() -> (palisade_core::Cluster, Ruleset) {
    let dir = format!("{}/../../examples/shop", env!("CARGO_MANIFEST_DIR"));
    let loaded = load(&[Source::Path(dir.into())], &LoadOptions::default()).unwrap();
    let compiled = compile(&loaded.cluster, &EngineOptions::default());
    let rs = render(&loaded.cluster, &compiled, &Options::default());
    (loaded.cluster, rs)
}

fn ip_of(c: &palisade_core::Cluster, key: &str) -> String {
    c.pods.iter().find(|p| p.key() == key).unwrap().ips[0].to_string()
}

/// The chain a verdict map sends `ip` to.
fn chain_for<'a>(rs: &'a Ruleset, map: &str, ip: &str) -> &'a [String] {
    let name = &rs.maps[map]
        .entries
        .iter()
        .find(|(a, _)| a.to_string() == ip)
        .unwrap()
        .1;
    &rs.chains[name]
}

fn set_with<'a>(rs: &'a Ruleset, ip: &str) -> Vec<&'a str> {
    rs.sets
        .iter()
        .filter(|(_, s)| {
            s.ranges.len() == 1 && palisade_nft::ruleset::range_text(s.family, s.ranges[0]) == ip
        })
        .map(|(n, _)| n.as_str())
        .collect()
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
    assert!(!rs.maps["ingress4"]
        .entries
        .iter()
        .any(|(a, _)| a.to_string() == prom || a.to_string() == dns));
    let (prom_set, be_set, dns_set, fe_set) = (
        set_with(&rs, &prom)[0],
        set_with(&rs, &be)[0],
        set_with(&rs, &dns)[0],
        set_with(&rs, &fe)[0],
    );
    // Frontend ingress: http (8080) from anyone, metrics (9090) from Prometheus, then deny.
    let fi = chain_for(&rs, "ingress4", &fe);
    assert!(fi
        .iter()
        .any(|r| r.starts_with("meta l4proto tcp th dport { 8080 } counter accept")));
    assert!(fi.iter().any(|r| r.starts_with(&format!(
        "ip saddr @{prom_set} meta l4proto tcp th dport {{ 9090 }} counter accept"
    ))));
    assert!(fi.last().unwrap().ends_with("drop"));
    assert_eq!(fi.len(), 3);
    // Database ingress: 5432 from the backend, its own metrics port 9187 from Prometheus.
    let di = chain_for(&rs, "ingress4", &db);
    assert!(di.iter().any(|r| r.starts_with(&format!(
        "ip saddr @{be_set} meta l4proto tcp th dport {{ 5432 }}"
    ))));
    assert!(di.iter().any(|r| r.starts_with(&format!(
        "ip saddr @{prom_set} meta l4proto tcp th dport {{ 9187 }}"
    ))));
    // Database egress: DNS only, TCP and UDP 53 to coredns; returns so ingress still decides.
    let de = chain_for(&rs, "egress4", &db);
    assert_eq!(de.len(), 3);
    assert!(de.iter().any(|r| r.starts_with(&format!(
        "ip daddr @{dns_set} meta l4proto udp th dport {{ 53 }} counter return"
    ))));
    assert!(de.iter().any(|r| r.starts_with(&format!(
        "ip daddr @{dns_set} meta l4proto tcp th dport {{ 53 }} counter return"
    ))));
    // Backend ingress admits the frontend's set on 8080.
    let bi = chain_for(&rs, "ingress4", &be);
    assert!(bi.iter().any(|r| r.starts_with(&format!(
        "ip saddr @{fe_set} meta l4proto tcp th dport {{ 8080 }}"
    ))));
    // Connection tracking first, egress before ingress.
    assert_eq!(rs.forward[0], "ct state established,related accept");
    assert_eq!(rs.forward[1], "ct state invalid drop");
    let pos = |s: &str| rs.forward.iter().position(|r| r.contains(s)).unwrap();
    assert!(pos("@egress4") < pos("@ingress4"));
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
    assert!(
        text.contains("meta l4proto sctp th dport { 3868-3870, 9999 } counter accept"),
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
            last.contains("log prefix \"U:") && !last.ends_with("drop"),
            "{name}: {last}"
        );
    }
    assert_eq!(rs.audit_prefixes.len(), 2);
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
    let script = new.update_script(&old).expect("same chains: element update");
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
    assert!(other.update_script(&old).is_none());
}
