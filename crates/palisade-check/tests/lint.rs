//! Every lint rule with a case that must trigger it and a neighbouring case that must not.
//! The fixtures are small and the expectations are read off the YAML by hand.

use palisade_check::lint::{lint, Finding, LintOptions};
use palisade_core::Cluster;
use palisade_load::{load, Source};

/// Namespaces app, monitoring and kube-system; pods web and api in app (web declares
/// `http` 8080 and `metrics` 9090), prometheus in monitoring, coredns in kube-system.
const BASE: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: app}
---
apiVersion: v1
kind: Namespace
metadata: {name: monitoring, labels: {purpose: monitoring}}
---
apiVersion: v1
kind: Namespace
metadata: {name: kube-system}
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: app, labels: {app: web}}
spec: {containers: [{name: c, image: x, ports: [{name: http, containerPort: 8080}, {name: metrics, containerPort: 9090}]}]}
---
apiVersion: v1
kind: Pod
metadata: {name: api, namespace: app, labels: {app: api}}
spec: {containers: [{name: c, image: x, ports: [{name: http, containerPort: 8080}]}]}
---
apiVersion: v1
kind: Pod
metadata: {name: prometheus, namespace: monitoring, labels: {app: prometheus}}
spec: {containers: [{name: c, image: x}]}
---
apiVersion: v1
kind: Pod
metadata: {name: coredns, namespace: kube-system, labels: {k8s-app: kube-dns}}
spec: {containers: [{name: c, image: x, ports: [{name: dns, containerPort: 53, protocol: UDP}, {name: dns-tcp, containerPort: 53}]}]}
"#;

/// Zero trust for app and monitoring: default deny both ways, DNS, web -> api on http,
/// prometheus scrapes metrics, prometheus may go anywhere in the cluster on 9090.
const ZERO_TRUST: &str = r#"
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: default-deny, namespace: app}
spec: {podSelector: {}, policyTypes: [Ingress, Egress]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: default-deny, namespace: monitoring}
spec: {podSelector: {}, policyTypes: [Ingress, Egress]}
"#;

const DNS: &str = r#"
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-dns, namespace: NS}
spec:
  podSelector: {}
  policyTypes: [Egress]
  egress:
  - to:
    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: kube-system}}
      podSelector: {matchLabels: {k8s-app: kube-dns}}
    ports: [{protocol: UDP, port: 53}, {protocol: TCP, port: 53}]
"#;

const WEB_TO_API: &str = r#"
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-egress, namespace: app}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Egress]
  egress:
  - to: [{podSelector: {matchLabels: {app: api}}}]
    ports: [{port: http}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: api-ingress, namespace: app}
spec:
  podSelector: {matchLabels: {app: api}}
  ingress:
  - from: [{podSelector: {matchLabels: {app: web}}}]
    ports: [{port: http}]
"#;

const SCRAPE: &str = r#"
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-scrape, namespace: app}
spec:
  podSelector: {}
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: monitoring}}
      podSelector: {matchLabels: {app: prometheus}}
    ports: [{port: metrics}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: prometheus-egress, namespace: monitoring}
spec:
  podSelector: {matchLabels: {app: prometheus}}
  policyTypes: [Egress]
  egress:
  - to:
    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: app}}
    ports: [{port: 9090}]
"#;

fn cluster(yaml: &str) -> Cluster {
    load(
        &[Source::Text {
            name: "t.yaml".into(),
            text: yaml.into(),
        }],
        &Default::default(),
    )
    .unwrap_or_else(|e| panic!("{:?}", e.0))
    .cluster
}

fn findings_with(yaml: &str, opts: &LintOptions) -> Vec<Finding> {
    lint(&cluster(yaml), opts).findings
}

fn findings(yaml: &str) -> Vec<Finding> {
    findings_with(yaml, &LintOptions::default())
}

/// A correct zero-trust setup of BASE.
fn good() -> String {
    format!(
        "{BASE}{ZERO_TRUST}{}{}{WEB_TO_API}{SCRAPE}",
        DNS.replace("NS", "app"),
        DNS.replace("NS", "monitoring")
    )
}

fn with(rule: &str, f: &[Finding]) -> Vec<Finding> {
    f.iter().filter(|x| x.rule == rule).cloned().collect()
}

#[track_caller]
fn fires(rule: &str, yaml: &str) -> Vec<Finding> {
    let f = findings(yaml);
    let hits = with(rule, &f);
    assert!(!hits.is_empty(), "{rule} expected; got {f:#?}");
    hits
}

#[track_caller]
fn silent(rule: &str, yaml: &str) {
    let f = findings(yaml);
    assert!(with(rule, &f).is_empty(), "{rule} not expected; got {f:#?}");
}

fn policy(name: &str, ns: &str, spec: &str) -> String {
    format!("\n---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: {name}, namespace: {ns}}}\nspec:\n{spec}")
}

#[test]
fn a_correct_zero_trust_setup_has_no_findings() {
    let f = findings(&good());
    assert!(f.is_empty(), "{f:#?}");
}

#[test]
fn pal001_pal002_default_deny_per_direction() {
    let hits = fires("PAL001", BASE);
    assert!(hits.iter().any(|h| h.object_text() == "Namespace app"));
    assert!(
        hits.iter().all(|h| h.object_text() != "Namespace kube-system"),
        "system namespaces are skipped"
    );
    fires("PAL002", BASE);
    let ingress_only = format!(
        "{BASE}{}",
        policy("d", "app", "  podSelector: {}\n  policyTypes: [Ingress]\n")
    );
    assert!(with("PAL001", &findings(&ingress_only))
        .iter()
        .all(|h| h.object_text() != "Namespace app"));
    assert!(with("PAL002", &findings(&ingress_only))
        .iter()
        .any(|h| h.object_text() == "Namespace app"));
    silent("PAL001", &good());
    silent("PAL002", &good());
}

#[test]
fn pal003_pal004_dns() {
    let no_dns = format!("{BASE}{ZERO_TRUST}");
    let hits = fires("PAL003", &no_dns);
    assert!(
        hits[0].message.contains("app/api") && hits[0].message.contains("UDP 53"),
        "{hits:#?}"
    );
    let udp_only = format!(
        "{no_dns}{}{}",
        DNS.replace("NS", "app")
            .replace(", {protocol: TCP, port: 53}", ""),
        DNS.replace("NS", "monitoring")
    );
    silent("PAL003", &udp_only);
    let tcp = fires("PAL004", &udp_only);
    assert_eq!(tcp.len(), 1, "only app lacks TCP 53: {tcp:#?}");
    silent("PAL003", &good());
    silent("PAL004", &good());
}

#[test]
fn pal005_namespace_label_nobody_has() {
    let bad = good().replace("{kubernetes.io/metadata.name: monitoring}", "{name: monitoring}");
    let hits = fires("PAL005", &bad);
    assert_eq!(
        hits[0].field.to_string(),
        "spec.ingress[0].from[0].namespaceSelector"
    );
    assert!(hits[0]
        .fix
        .as_deref()
        .unwrap()
        .contains("kubernetes.io/metadata.name: monitoring"));
    // A label that a namespace does carry is fine.
    silent(
        "PAL005",
        &good().replace(
            "{kubernetes.io/metadata.name: monitoring}",
            "{purpose: monitoring}",
        ),
    );
}

#[test]
fn pal006_peer_selecting_nothing() {
    let bad = good().replace(
        "to: [{podSelector: {matchLabels: {app: api}}}]",
        "to: [{podSelector: {matchLabels: {app: apii}}}]",
    );
    let hits = fires("PAL006", &bad);
    assert_eq!(hits[0].object_text(), "NetworkPolicy app/web-egress");
    assert_eq!(hits[0].field.to_string(), "spec.egress[0].to[0]");
    silent("PAL006", &good());
}

#[test]
fn pal007_policy_selecting_nothing() {
    let bad = good().replace(
        "podSelector: {matchLabels: {app: api}}\n  ingress",
        "podSelector: {matchLabels: {app: apii}}\n  ingress",
    );
    assert_ne!(bad, good());
    let hits = fires("PAL007", &bad);
    assert_eq!(hits[0].object_text(), "NetworkPolicy app/api-ingress");
    silent("PAL007", &good());
}

#[test]
fn pal008_and_or() {
    let split = good().replace(
        "    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: monitoring}}\n      podSelector: {matchLabels: {app: prometheus}}",
        "    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: monitoring}}\n    - podSelector: {matchLabels: {app: prometheus}}",
    );
    assert_ne!(split, good());
    // With prometheus alone in monitoring both readings admit one pod: nothing to say.
    silent("PAL008", &split);
    // A second monitoring pod: as written it is admitted too (2 pods), ANDed it is not (1).
    let grafana = "\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: grafana, namespace: monitoring, labels: {app: grafana}}\nspec: {containers: [{name: c, image: x}]}\n";
    let hits = fires("PAL008", &format!("{split}{grafana}"));
    assert_eq!(hits[0].object_text(), "NetworkPolicy app/allow-scrape");
    assert!(
        hits[0].message.contains("admits 2 pod(s)") && hits[0].message.contains("admit 1 pod(s)"),
        "{hits:#?}"
    );
    silent("PAL008", &format!("{}{grafana}", good()));
}

#[test]
fn pal009_ipblock_over_pods() {
    let bad = good().replace(
        "  - from: [{podSelector: {matchLabels: {app: web}}}]",
        "  - from: [{ipBlock: {cidr: 10.244.0.0/16}}]",
    );
    assert_ne!(bad, good());
    fires("PAL009", &bad);
    silent("PAL009", &bad.replace("10.244.0.0/16", "192.0.2.0/24"));
}

#[test]
fn pal010_world_egress() {
    let world = policy(
        "internet",
        "app",
        "  podSelector: {matchLabels: {app: web}}\n  policyTypes: [Egress]\n  egress:\n  - to: [{ipBlock: {cidr: 0.0.0.0/0}}]\n    ports: [{port: 443}]\n",
    );
    let hits = fires("PAL010", &format!("{}{world}", good()));
    assert!(hits[0].message.contains("10.0.0.0/8"));
    let excepted = world.replace(
        "{cidr: 0.0.0.0/0}",
        "{cidr: 0.0.0.0/0, except: [10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16]}",
    );
    silent("PAL010", &format!("{}{excepted}", good()));
}

#[test]
fn pal011_named_port_nobody_declares() {
    let bad = good().replace("ports: [{port: metrics}]", "ports: [{port: metricz}]");
    let hits = fires("PAL011", &bad);
    assert_eq!(hits[0].field.to_string(), "spec.ingress[0].ports[0]");
    silent("PAL011", &good());
}

#[test]
fn pal013_sctp() {
    let sctp = good().replace(
        "ports: [{port: 9090}]",
        "ports: [{port: 9090}, {protocol: SCTP, port: 9999}]",
    );
    fires("PAL013", &sctp);
    silent("PAL013", &good());
}

#[test]
fn pal014_pal015_redundancy() {
    // A second rule equal to the first: each is redundant given the other.
    let twice = good().replace(
        "  - from: [{podSelector: {matchLabels: {app: web}}}]\n    ports: [{port: http}]\n",
        "  - from: [{podSelector: {matchLabels: {app: web}}}]\n    ports: [{port: http}]\n  - from: [{podSelector: {matchLabels: {app: web}}}]\n    ports: [{port: 8080}]\n",
    );
    assert_ne!(twice, good());
    let hits = fires("PAL014", &twice);
    assert!(
        hits.iter()
            .all(|h| h.object_text() == "NetworkPolicy app/api-ingress"),
        "{hits:#?}"
    );
    // A policy that copies another one changes nothing.
    let copy = policy(
        "api-ingress-copy",
        "app",
        "  podSelector: {matchLabels: {app: api}}\n  ingress:\n  - from: [{podSelector: {matchLabels: {app: web}}}]\n    ports: [{port: 8080}]\n",
    );
    let hits = fires("PAL015", &format!("{}{copy}", good()));
    assert!(hits
        .iter()
        .any(|h| h.object_text() == "NetworkPolicy app/api-ingress-copy"));
    // Admitting prometheus (whose egress reaches app on 9090) adds a connection.
    let more = copy.replace(
        "  - from: [{podSelector: {matchLabels: {app: web}}}]\n    ports: [{port: 8080}]\n",
        "  - from: [{namespaceSelector: {matchLabels: {purpose: monitoring}}}]\n    ports: [{port: 9090}]\n",
    );
    assert_ne!(more, copy);
    silent("PAL015", &format!("{}{more}", good()));
    silent("PAL014", &good());
}

#[test]
fn redundancy_stops_at_its_budget_with_a_note() {
    // The copy is found redundant with the default budget (see above); with a budget
    // smaller than one check nothing is checked, and a note says so.
    let copy = policy(
        "api-ingress-copy",
        "app",
        "  podSelector: {matchLabels: {app: api}}\n  ingress:\n  - from: [{podSelector: {matchLabels: {app: web}}}]\n    ports: [{port: 8080}]\n",
    );
    let c = cluster(&format!("{}{copy}", good()));
    let full = lint(&c, &LintOptions::default());
    assert!(
        full.notes.iter().all(|n| !n.contains("redundancy checked")),
        "{:?}",
        full.notes
    );
    let opts = LintOptions {
        redundancy_budget: 1.0,
        ..LintOptions::default()
    };
    let cut = lint(&c, &opts);
    assert!(
        cut.notes
            .iter()
            .any(|n| n.contains("redundancy checked for the first")),
        "{:?}",
        cut.notes
    );
    let redundant =
        |r: &palisade_check::lint::LintReport| r.findings.iter().filter(|f| f.rule == "PAL015").count();
    assert!(redundant(&full) >= 1);
    assert_eq!(redundant(&cut), 0);
}

#[test]
fn pal016_pal017_labels() {
    let unlabelled = good().replace(
        "metadata: {name: api, namespace: app, labels: {app: api}}",
        "metadata: {name: api, namespace: app}",
    );
    assert_ne!(unlabelled, good());
    let hits = fires("PAL016", &unlabelled);
    assert_eq!(hits[0].object_text(), "Pod app/api");
    let other_key = good().replace("labels: {app: api}}", "labels: {tier: api}}");
    let hits = fires("PAL017", &other_key);
    assert!(hits[0].message.contains("app"), "{hits:#?}");
    silent("PAL016", &good());
    silent("PAL017", &good());
}

#[test]
fn pal018_half_open() {
    // web may send to api, but api's ingress no longer admits web.
    let bad = good().replace(
        "  - from: [{podSelector: {matchLabels: {app: web}}}]\n    ports: [{port: http}]\n",
        "  - from: [{podSelector: {matchLabels: {app: web}}}]\n    ports: [{port: 9999}]\n",
    );
    assert_ne!(bad, good());
    let hits = fires("PAL018", &bad);
    // Egress allows 8080 that ingress denies; ingress allows 9999 that egress denies.
    assert!(
        hits.iter()
            .any(|h| h.object_text() == "NetworkPolicy app/web-egress" && h.message.contains("TCP/8080")),
        "{hits:#?}"
    );
    assert!(
        hits.iter()
            .any(|h| h.object_text() == "NetworkPolicy app/api-ingress" && h.message.contains("TCP/9999")),
        "{hits:#?}"
    );
    silent("PAL018", &good());
}

#[test]
fn pal019_monitoring_blind_against_a_baseline() {
    let opts = LintOptions {
        baseline: Some(cluster(BASE)),
        ..Default::default()
    };
    // Zero trust without the scrape policy: prometheus reached web's metrics port before.
    let blind = format!(
        "{BASE}{ZERO_TRUST}{}{}{WEB_TO_API}",
        DNS.replace("NS", "app"),
        DNS.replace("NS", "monitoring")
    );
    let f = findings_with(&blind, &opts);
    let hits = with("PAL019", &f);
    assert_eq!(hits.len(), 1, "{f:#?}");
    assert_eq!(hits[0].object_text(), "Pod app/web");
    assert!(hits[0].message.contains("9090"));
    assert!(with("PAL019", &findings_with(&good(), &opts)).is_empty());
    // No baseline, no comparison.
    assert!(with("PAL019", &findings(&blind)).is_empty());
}

fn cnp(name: &str, tier: &str, priority: u16, spec: &str) -> String {
    format!("\n---\napiVersion: policy.networking.k8s.io/v1alpha2\nkind: ClusterNetworkPolicy\nmetadata: {{name: {name}}}\nspec:\n  tier: {tier}\n  priority: {priority}\n{spec}")
}

/// The subject of the app namespace.
const APP: &str = "  subject: {namespaces: {matchLabels: {kubernetes.io/metadata.name: app}}}\n";

fn tier_findings(yaml: &str, rule: &str) -> Vec<String> {
    with(rule, &findings(yaml))
        .iter()
        .map(|f| format!("{} {}", f.object_text(), f.field))
        .collect()
}

/// A Deny of everyone after an Accept from monitoring still decides the rest; a second Deny
/// of monitoring after the Accept of monitoring decides nothing ("the first matching rule
/// decides").
#[test]
fn pal020_cluster_policy_rule_shadowed() {
    let spec = format!(
        "{APP}  ingress:\n  - action: Accept\n    from: [{{namespaces: {{matchLabels: {{purpose: monitoring}}}}}}]\n  - action: Deny\n    from: [{{namespaces: {{}}}}]\n  - action: Deny\n    from: [{{namespaces: {{matchLabels: {{purpose: monitoring}}}}}}]\n"
    );
    let yaml = format!("{BASE}{}", cnp("guard", "Admin", 1, &spec));
    assert_eq!(
        tier_findings(&yaml, "PAL020"),
        ["ClusterNetworkPolicy guard spec.ingress[2]"]
    );
}

/// Same tier and priority, overlapping subjects, an Accept and a Deny of the same sources:
/// a tie; a different priority (or the same action) is not.
#[test]
fn pal021_tied_priorities_that_disagree() {
    let from = "    from: [{namespaces: {matchLabels: {purpose: monitoring}}}]\n";
    let tie = format!(
        "{BASE}{}{}",
        cnp(
            "a-allow",
            "Admin",
            5,
            &format!("{APP}  ingress:\n  - action: Accept\n{from}")
        ),
        cnp(
            "b-deny",
            "Admin",
            5,
            &format!("{APP}  ingress:\n  - action: Deny\n{from}")
        )
    );
    assert_eq!(
        tier_findings(&tie, "PAL021"),
        ["ClusterNetworkPolicy b-deny spec.priority"]
    );
    let ordered = tie.replacen("priority: 5", "priority: 4", 1);
    assert!(tier_findings(&ordered, "PAL021").is_empty());
    let agree = tie.replace("action: Deny", "action: Accept");
    assert!(tier_findings(&agree, "PAL021").is_empty());
}

/// An Admin Deny of everyone towards app decides every connection the api-ingress rule
/// allows; with a Pass for app's own pods first, the rule takes effect again.
#[test]
fn pal022_networkpolicy_rule_overridden_by_admin() {
    let deny = cnp(
        "lockdown",
        "Admin",
        1,
        &format!("{APP}  ingress:\n  - action: Deny\n    from: [{{namespaces: {{}}}}]\n"),
    );
    let yaml = format!("{}{deny}", good());
    let hits = tier_findings(&yaml, "PAL022");
    assert!(
        hits.contains(&"NetworkPolicy app/api-ingress spec.ingress[0]".to_string()),
        "{hits:?}"
    );
    let pass = cnp(
        "lockdown",
        "Admin",
        1,
        &format!("{APP}  ingress:\n  - action: Pass\n    from: [{{namespaces: {{matchLabels: {{kubernetes.io/metadata.name: app}}}}}}]\n  - action: Deny\n    from: [{{namespaces: {{}}}}]\n"),
    );
    let hits = tier_findings(&format!("{}{pass}", good()), "PAL022");
    assert!(
        !hits.contains(&"NetworkPolicy app/api-ingress spec.ingress[0]".to_string()),
        "{hits:?}"
    );
}

/// "v1.NetworkPolicy always makes a final decision for selected pods": a Baseline ingress
/// rule for app, where default-deny isolates every pod, is never read; for kube-system
/// (no NetworkPolicy) it is.
#[test]
fn pal023_baseline_never_reached() {
    let rule = "  ingress:\n  - action: Deny\n    from: [{namespaces: {}}]\n";
    let yaml = format!(
        "{}{}",
        good(),
        cnp("base", "Baseline", 1, &format!("{APP}{rule}"))
    );
    assert_eq!(
        tier_findings(&yaml, "PAL023"),
        ["ClusterNetworkPolicy base spec.subject"]
    );
    let system = "  subject: {namespaces: {matchLabels: {kubernetes.io/metadata.name: kube-system}}}\n";
    let yaml = format!(
        "{}{}",
        good(),
        cnp("base", "Baseline", 1, &format!("{system}{rule}"))
    );
    assert!(tier_findings(&yaml, "PAL023").is_empty());
}

/// An Admin Pass for kube-system's ingress (no NetworkPolicy, no Baseline): an Accept in
/// effect. For app (isolated by default-deny) the Pass hands over to NetworkPolicy.
#[test]
fn pal024_pass_to_nothing() {
    let rule = "  ingress:\n  - action: Pass\n    from: [{namespaces: {}}]\n";
    let system = "  subject: {namespaces: {matchLabels: {kubernetes.io/metadata.name: kube-system}}}\n";
    let yaml = format!("{}{}", good(), cnp("p", "Admin", 1, &format!("{system}{rule}")));
    assert_eq!(
        tier_findings(&yaml, "PAL024"),
        ["ClusterNetworkPolicy p spec.ingress[0].action"]
    );
    let yaml = format!("{}{}", good(), cnp("p", "Admin", 1, &format!("{APP}{rule}")));
    assert!(tier_findings(&yaml, "PAL024").is_empty());
}

/// domainNames cannot be checked; networks can.
#[test]
fn pal025_domain_names() {
    let yaml = format!(
        "{BASE}{}",
        cnp(
            "out",
            "Admin",
            1,
            &format!("{APP}  egress:\n  - action: Deny\n    to: [{{domainNames: [example.com]}}]\n")
        )
    );
    assert_eq!(
        tier_findings(&yaml, "PAL025"),
        ["ClusterNetworkPolicy out spec.egress[0].to"]
    );
    let yaml = format!(
        "{BASE}{}",
        cnp(
            "out",
            "Admin",
            1,
            &format!("{APP}  egress:\n  - action: Deny\n    to: [{{networks: [192.0.2.0/24]}}]\n")
        )
    );
    assert!(tier_findings(&yaml, "PAL025").is_empty());
}

/// A subject naming a namespace nobody has selects nothing; app's does.
#[test]
fn pal026_cluster_policy_selects_nothing() {
    let rule = "  ingress:\n  - action: Deny\n    from: [{namespaces: {}}]\n";
    let nowhere = "  subject: {namespaces: {matchLabels: {kubernetes.io/metadata.name: nope}}}\n";
    let yaml = format!("{BASE}{}", cnp("c", "Admin", 1, &format!("{nowhere}{rule}")));
    assert_eq!(
        tier_findings(&yaml, "PAL026"),
        ["ClusterNetworkPolicy c spec.subject"]
    );
    let yaml = format!("{BASE}{}", cnp("c", "Admin", 1, &format!("{APP}{rule}")));
    assert!(tier_findings(&yaml, "PAL026").is_empty());
}

/// A Baseline ClusterNetworkPolicy denying every pod both ways is a default deny for the
/// coverage rules ("cluster-wide guardrails"); one limited to a port is not.
#[test]
fn pal001_pal002_accept_a_cluster_wide_default_deny() {
    let deny = cnp(
        "palisade-default-deny",
        "Baseline",
        1000,
        &format!("{APP}  ingress:\n  - action: Deny\n    from: [{{namespaces: {{}}}}]\n  - action: Deny\n    from: [{{namespaces: {{}}}}]\n  egress:\n  - action: Deny\n    to: [{{namespaces: {{}}}}, {{networks: [0.0.0.0/0]}}]\n"),
    );
    let yaml = format!("{BASE}{deny}");
    for rule in ["PAL001", "PAL002"] {
        let hits = with(rule, &findings(&yaml));
        assert!(
            hits.iter().all(|h| h.object_text() != "Namespace app"),
            "{rule}: {hits:?}"
        );
    }
    let port_only = yaml.replacen(
        "    from: [{namespaces: {}}]\n",
        "    from: [{namespaces: {}}]\n    protocols: [{tcp: {destinationPort: {number: 80}}}]\n",
        2,
    );
    assert!(with("PAL001", &findings(&port_only))
        .iter()
        .any(|h| h.object_text() == "Namespace app"));
}
