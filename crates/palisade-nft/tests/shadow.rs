//! Staged (shadow-mode) policies in the rendered table: log-only rules for exactly the
//! connections whose verdict they would change, with expectations derived by hand.

use palisade_core::{CompiledCluster, Options as EngineOptions, Protocol};
use palisade_load::{load, LoadOptions, Source};
use palisade_nft::{render, Decoder, Expr, LogMeaning, LogTag, Options, Packet, Ruleset, Verdict};

/// x/a (10.0.0.1, app=a), x/b (10.0.0.2, app=b) and y/c (10.0.1.1, app=c).
/// Enforced: x/b-ingress lets app=a reach app=b on TCP 80.
/// Staged: y/c-lock isolates c for ingress, allowing x's app=a on TCP 8080;
/// x/b-more lets app=c (any namespace) reach app=b on TCP 9000.
const CLUSTER: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: a, namespace: x, labels: {app: a}}
spec: {nodeName: n1}
status: {podIP: 10.0.0.1}
---
apiVersion: v1
kind: Pod
metadata: {name: b, namespace: x, labels: {app: b}}
spec: {nodeName: n1}
status: {podIP: 10.0.0.2}
---
apiVersion: v1
kind: Pod
metadata: {name: c, namespace: y, labels: {app: c}}
spec: {nodeName: n2}
status: {podIP: 10.0.1.1}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: b-ingress, namespace: x}
spec:
  podSelector: {matchLabels: {app: b}}
  ingress:
  - from: [{podSelector: {matchLabels: {app: a}}}]
    ports: [{port: 80}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: c-lock
  namespace: y
  annotations: {palisade.dev/mode: shadow}
spec:
  podSelector: {matchLabels: {app: c}}
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: x}}
      podSelector: {matchLabels: {app: a}}
    ports: [{port: 8080}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: b-more
  namespace: x
  annotations: {palisade.dev/mode: shadow}
spec:
  podSelector: {matchLabels: {app: b}}
  ingress:
  - from: [{namespaceSelector: {}, podSelector: {matchLabels: {app: c}}}]
    ports: [{port: 9000}]
"#;

fn loaded(yaml: &str) -> palisade_core::Cluster {
    let source = Source::Text {
        name: "t.yaml".into(),
        text: yaml.into(),
    };
    load(&[source], &LoadOptions::default()).unwrap().cluster
}

fn ruleset(cluster: &palisade_core::Cluster, opts: &Options) -> Ruleset {
    render(&CompiledCluster::new(cluster, &EngineOptions::default()), opts)
}

/// The shadow rules of the egress hook as `SRC -> DST PROTO PORTS VERDICT POLICY`, with
/// sets written out as their ranges.
fn shadow_rules(rs: &Ruleset) -> Vec<String> {
    let mut out = Vec::new();
    for rule in &rs.egress_hook {
        let Some(tag @ LogTag::Shadow { .. }) = rule.log_tag() else {
            continue;
        };
        let LogMeaning::Shadow(m) = &rs.logs[&tag] else {
            panic!("{tag} means {:?}", rs.logs[&tag]);
        };
        let mut ends = Vec::new();
        let mut ports = String::new();
        for e in &rule.0 {
            match e {
                Expr::InSet { family, set, .. } => {
                    let s = &rs.sets[set];
                    let r: Vec<String> = s
                        .ranges
                        .iter()
                        .map(|r| palisade_nft::ruleset::range_text(*family, *r))
                        .collect();
                    ends.push(r.join(","));
                }
                Expr::L4 { protocol, ports: p } => {
                    let p: Vec<String> = p
                        .as_ref()
                        .unwrap()
                        .iter()
                        .map(|(lo, hi)| {
                            if lo == hi {
                                format!("{lo}")
                            } else {
                                format!("{lo}-{hi}")
                            }
                        })
                        .collect();
                    ports = format!("{protocol} {}", p.join(","));
                }
                _ => {}
            }
        }
        out.push(format!(
            "{} -> {} {ports} {} {}{}",
            ends[0],
            ends[1],
            if m.allowed {
                "shadow-allowed"
            } else {
                "shadow-denied"
            },
            m.policy.key(),
            m.rule.map(|r| format!(" rule {r}")).unwrap_or_default()
        ));
    }
    out.sort();
    out
}

#[test]
fn staged_policies_log_exactly_the_connections_they_would_change() {
    let cluster = loaded(CLUSTER);
    assert_eq!(cluster.shadow_policies.len(), 2);
    let rs = ruleset(&cluster, &Options::default());
    // By hand. Promoted, c-lock isolates y/c: only x/a on TCP 8080 stays allowed, so
    // everything else to c would be denied: from x/a every other port, from x/b and from
    // any address outside the pods everything (the address space has no ipBlock cut: it
    // is 0.0.0.0/0 less the three pods). Sets hold merged ranges: x/a, x/b and the
    // outside together are every address but c's; x/b and the outside, every address but
    // a's and c's. b-more adds c -> b on TCP 9000, which the enforced b-ingress denies
    // today. The engine's ports run from 1.
    let all_but_c = "0.0.0.0-10.0.1.0,10.0.1.2-255.255.255.255";
    let all_but_a_c = "0.0.0.0-10.0.0.0,10.0.0.2-10.0.1.0,10.0.1.2-255.255.255.255";
    let want = vec![
        "10.0.0.1 -> 10.0.1.1 TCP 1-8079,8081-65535 shadow-denied y/c-lock".to_string(),
        format!("{all_but_c} -> 10.0.1.1 SCTP 1-65535 shadow-denied y/c-lock"),
        format!("{all_but_c} -> 10.0.1.1 UDP 1-65535 shadow-denied y/c-lock"),
        format!("{all_but_a_c} -> 10.0.1.1 TCP 1-65535 shadow-denied y/c-lock"),
        "10.0.1.1 -> 10.0.0.2 TCP 9000 shadow-allowed x/b-more rule 0".to_string(),
    ];
    let mut want = want;
    want.sort();
    assert_eq!(shadow_rules(&rs), want, "{}", rs.table_text());
    // They only log: no verdict, and they come before any (after connection tracking).
    for rule in &rs.egress_hook[2..2 + want.len()] {
        assert!(matches!(rule.log_tag(), Some(LogTag::Shadow { .. })), "{rule}");
        assert_eq!(rule.verdict(), None, "{rule}");
    }
    // Enforcement is the same as without the staged policies.
    let mut plain = cluster.clone();
    plain.shadow_policies.clear();
    let without = ruleset(&plain, &Options::default());
    assert_eq!(rs.chains, without.chains);
    assert_eq!(rs.maps, without.maps);
    assert_eq!(rs.ingress_hook, without.ingress_hook);
    let kept: Vec<_> = rs
        .egress_hook
        .iter()
        .filter(|r| !matches!(r.log_tag(), Some(LogTag::Shadow { .. })))
        .cloned()
        .collect();
    assert_eq!(kept, without.egress_hook);
}

#[test]
fn shadow_records_name_the_staged_policy_and_rule() {
    let cluster = loaded(CLUSTER);
    let rs = ruleset(&cluster, &Options::default());
    let decoder = Decoder::new(&cluster, &rs);
    let tag_of = |allowed: bool| {
        rs.logs
            .iter()
            .find(|(_, m)| matches!(m, LogMeaning::Shadow(s) if s.allowed == allowed))
            .map(|(t, _)| t.to_string())
            .unwrap()
    };
    let packet = |prefix: String, src: &str, dst: &str, port| Packet {
        prefix,
        mark: 0,
        src: src.parse().unwrap(),
        dst: dst.parse().unwrap(),
        protocol: Some(Protocol::Tcp),
        port: Some(port),
    };
    let r = decoder.decode(&packet(tag_of(true), "10.0.1.1", "10.0.0.2", 9000), 1.0);
    assert_eq!(r.verdict, Verdict::ShadowAllowed);
    assert_eq!(r.policy.as_deref(), Some("x/b-more"));
    assert_eq!(r.rule, Some(0));
    assert_eq!(r.src.to_string(), "y/c");
    // What the agent's metrics count it under: the staged policy.
    assert_eq!(
        (r.deciding_policy(), r.deciding_tier()),
        ("x/b-more", "NetworkPolicy")
    );
    let line = serde_json::to_string(&r).unwrap();
    assert!(line.contains(r#""verdict":"shadow-allowed""#), "{line}");
    assert!(line.contains(r#""direction":"ingress""#), "{line}");
    let r = decoder.decode(&packet(tag_of(false), "10.0.0.2", "10.0.1.1", 443), 1.0);
    assert_eq!(r.verdict, Verdict::ShadowDenied);
    assert_eq!(r.policy.as_deref(), Some("y/c-lock"));
    assert_eq!(r.rule, None);
    assert_eq!(r.isolated_by, Some(vec!["y/c-lock".to_string()]));
    // The record reads back as it was written.
    let back: palisade_nft::FlowRecord = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
    assert_eq!(back, r);
}

#[test]
fn each_connection_is_logged_on_one_node() {
    // x/a and x/b live on n1, y/c on n2. Differences towards c are logged on n2 only
    // (its destination's node); c -> b on n1 only. Outside addresses are no node's pods.
    let cluster = loaded(CLUSTER);
    let on = |node: &str| {
        let opts = Options {
            node: Some(node.into()),
            ..Options::default()
        };
        shadow_rules(&ruleset(&cluster, &opts))
    };
    let n1 = on("n1");
    assert_eq!(
        n1,
        vec!["10.0.1.1 -> 10.0.0.2 TCP 9000 shadow-allowed x/b-more rule 0"]
    );
    let n2 = on("n2");
    assert_eq!(n2.len(), 4, "{n2:?}");
    assert!(n2.iter().all(|r| r.contains("-> 10.0.1.1 ")), "{n2:?}");
}

#[test]
fn nothing_staged_adds_nothing() {
    let cluster = loaded(&CLUSTER.replace("palisade.dev/mode: shadow", "palisade.dev/mode: enforce"));
    assert!(cluster.shadow_policies.is_empty());
    let rs = ruleset(&cluster, &Options::default());
    assert!(shadow_rules(&rs).is_empty());
    assert!(!rs.logs.values().any(|m| matches!(m, LogMeaning::Shadow(_))));
}

#[test]
fn too_many_address_classes_are_not_compared_and_it_is_said() {
    // 1,100 distinct /32 ipBlocks cut the address space into more than 1,024 classes: the
    // comparison is refused (bounded), enforcement is as without the staged policies.
    let mut cluster = loaded(CLUSTER);
    let peers = (0..1100u32)
        .map(|i| {
            palisade_core::Peer::IpBlock(palisade_core::IpBlock {
                cidr: format!("192.0.{}.{}/32", i / 256, i % 256).parse().unwrap(),
                except: vec![],
            })
        })
        .collect();
    cluster.policies[0]
        .ingress
        .push(palisade_core::Rule { peers, ports: vec![] });
    let rs = ruleset(&cluster, &Options::default());
    assert!(shadow_rules(&rs).is_empty());
    let why = rs.shadow_unlogged.as_deref().unwrap_or("");
    assert!(why.contains("classes (at most 1024 are compared)"), "{why:?}");
    let mut plain = cluster.clone();
    plain.shadow_policies.clear();
    assert_eq!(rs.chains, ruleset(&plain, &Options::default()).chains);
}
