//! ClusterNetworkPolicy (policy.networking.k8s.io/v1alpha2) through the command line:
//! read and validated by the loader, applied by `explain` and the commands built on the
//! compiled matrix, and named as not yet applied by the dataplane. Expectations are derived by hand from the
//! bundled shop (examples/shop/policies.yaml: backend reaches database on 5432 through
//! `backend-to-database` and `database-ingress`) and the API text quoted beside them.

mod common;

use common::palisade;
use serde_json::Value;

fn run(args: &[&str]) -> (i32, String, String) {
    let out = palisade().args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `palisade explain PATH --from FROM --to shop/database --port PORT EXTRA…`.
fn explain_to_database(path: &str, from: &str, port: &str, extra: &[&str]) -> (i32, String, String) {
    let mut args = vec![
        "explain",
        path,
        "--from",
        from,
        "--to",
        "shop/database",
        "--port",
        port,
    ];
    args.extend_from_slice(extra);
    run(&args)
}

/// The shop plus one file of ClusterNetworkPolicies, in a temporary directory.
fn shop_with(cnps: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = env!("CARGO_MANIFEST_DIR");
    for f in ["namespaces.yaml", "policies.yaml", "workloads.yaml"] {
        std::fs::copy(format!("{root}/../../examples/shop/{f}"), dir.path().join(f)).unwrap();
    }
    std::fs::write(dir.path().join("cnp.yaml"), cnps).unwrap();
    dir
}

/// An Admin Deny of backend -> database, which the shop's NetworkPolicies allow.
const ADMIN_DENY: &str = r#"
apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: freeze-database}
spec:
  tier: Admin
  priority: 5
  subject:
    pods:
      namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: shop}}
      podSelector: {matchLabels: {app: database}}
  ingress:
  - name: nobody
    action: Deny
    from: [{namespaces: {}}]
"#;

/// "If Admin tier has made a final decision (Accept or Deny) on a connection, then no
/// further evaluation is done."
#[test]
fn explain_applies_an_admin_deny_over_networkpolicy() {
    let dir = shop_with(ADMIN_DENY);
    let path = dir.path().to_str().unwrap();
    // Without the ClusterNetworkPolicy the shop allows it (the seeds tests check that too).
    let shop = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/shop");
    let (code, out, err) = explain_to_database(shop, "shop/backend", "5432", &[]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with("shop/backend -> shop/database on 5432/TCP: ALLOWED"),
        "{out}"
    );
    let (code, out, err) = explain_to_database(path, "shop/backend", "5432", &[]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with("shop/backend -> shop/database on 5432/TCP: DENIED"),
        "{out}"
    );
    assert!(
        out.contains("decided by Admin ClusterNetworkPolicy freeze-database rule 0 (nobody): Deny"),
        "{out}"
    );
    assert!(!err.contains("not applied"), "explain applies them: {err}");
    let (code, out, _) = explain_to_database(path, "shop/backend", "5432", &["-o", "json"]);
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["allowed"], false);
    assert_eq!(
        v["egress"]["allowed"], true,
        "the subject is the database: egress of backend is NetworkPolicy's"
    );
    assert_eq!(
        v["ingress"]["decided_by"],
        serde_json::json!({"action": "Deny", "policy": "freeze-database", "rule": 0, "tier": "Admin"})
    );
}

/// "v1.NetworkPolicy always makes a final decision for selected pods." A Baseline Accept
/// does not open the database (isolated by the shop's NetworkPolicies) to the frontend.
#[test]
fn a_baseline_accept_does_not_undo_networkpolicy() {
    let dir = shop_with(
        r#"
apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {name: open-all}
spec:
  tier: Baseline
  priority: 0
  subject: {namespaces: {}}
  ingress:
  - action: Accept
    from: [{namespaces: {}}]
"#,
    );
    let (code, out, err) = explain_to_database(dir.path().to_str().unwrap(), "shop/frontend", "5432", &[]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with("shop/frontend -> shop/database on 5432/TCP: DENIED"),
        "{out}"
    );
    assert!(
        !out.contains("Baseline tier"),
        "never read for an isolated pod: {out}"
    );
}

/// The TCP ports `analyze -o json` lists from `from` to `to` (none when the pair is absent).
fn tcp_ports(connections: &Value, from: &str, to: &str) -> Vec<String> {
    connections["connections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["from"] == from && c["to"] == to)
        .map(|c| {
            c["TCP"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p.as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// `analyze` reads the compiled form, which applies the tiers: the Admin Deny of every
/// namespace's pods towards the database takes away what the shop's NetworkPolicies allow
/// it (backend on 5432, prometheus on 9187) and nothing else (frontend -> backend on 8080).
#[test]
fn analyze_applies_an_admin_deny_over_networkpolicy() {
    let dir = shop_with(ADMIN_DENY);
    let shop = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/shop");
    let (_, before, _) = run(&["analyze", shop, "-o", "json"]);
    let before: Value = serde_json::from_str(&before).unwrap();
    assert_eq!(tcp_ports(&before, "shop/backend", "shop/database"), ["5432"]);
    assert_eq!(
        tcp_ports(&before, "monitoring/prometheus", "shop/database"),
        ["9187"]
    );
    let (code, out, err) = run(&["analyze", dir.path().to_str().unwrap(), "-o", "json"]);
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("not applied"), "{err}");
    let after: Value = serde_json::from_str(&out).unwrap();
    assert!(tcp_ports(&after, "shop/backend", "shop/database").is_empty());
    assert!(tcp_ports(&after, "monitoring/prometheus", "shop/database").is_empty());
    assert_eq!(tcp_ports(&after, "shop/frontend", "shop/backend"), ["8080"]);
    // The summary counts the tiers: one Admin policy selecting the one database pod.
    let (_, out, _) = run(&["analyze", dir.path().to_str().unwrap(), "-o", "summary"]);
    let s: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        s["cluster_policies"],
        serde_json::json!({"admin": {"policies": 1, "pods_selected": 1}, "baseline": {"policies": 0, "pods_selected": 0}})
    );
    let (_, out, _) = run(&["analyze", shop, "-o", "summary"]);
    let s: Value = serde_json::from_str(&out).unwrap();
    assert!(s.get("cluster_policies").is_none(), "absent without any: {s}");
}

/// The dataplane renders the Admin tier before the database's NetworkPolicy chain: its
/// Deny rule drops and logs with the rule's own tag; a `domainNames` peer, which nftables
/// cannot enforce, is named on stderr.
#[test]
fn the_dataplane_renders_the_tiers_and_names_what_it_cannot_enforce() {
    let dir = shop_with(&format!(
        "{ADMIN_DENY}---\napiVersion: policy.networking.k8s.io/v1alpha2\nkind: ClusterNetworkPolicy\nmetadata: {{name: no-example}}\nspec:\n  tier: Baseline\n  priority: 1\n  subject: {{namespaces: {{}}}}\n  egress:\n  - action: Deny\n    to: [{{domainNames: [example.com]}}]\n"
    ));
    let path = dir.path().to_str().unwrap();
    let (code, out, err) = run(&["dataplane", "render", path]);
    assert_eq!(code, 0, "{err}");
    let admin = out
        .lines()
        .find(|l| l.contains("comment \"Admin freeze-database ingress 0\""))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        admin.contains("log prefix \"D:c:i:") && admin.contains(" drop "),
        "{admin}"
    );
    assert!(
        err.contains("ClusterNetworkPolicy no-example egress rule 0: domainNames are not enforced"),
        "{err}"
    );
    assert!(!err.contains("not applied"), "{err}");
    // analyze marks them as not modelled.
    let (code, _, err) = run(&["analyze", path]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("ClusterNetworkPolicy no-example egress rule 0: domainNames are not modelled"),
        "{err}"
    );
}

/// Invalid input is reported as the CRD would refuse it, placed in the file, exit 2.
#[test]
fn an_invalid_cluster_network_policy_is_refused_with_its_place() {
    let dir = shop_with(
        "apiVersion: policy.networking.k8s.io/v1alpha2\nkind: ClusterNetworkPolicy\nmetadata: {name: bad}\nspec:\n  tier: Admin\n  priority: 2000\n  subject: {namespaces: {}}\n",
    );
    let (code, _, err) = run(&["analyze", dir.path().to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("cnp.yaml:6:13: spec.priority: Invalid value: 2000: must be between 0 and 1000 (ClusterNetworkPolicy bad)"),
        "{err}"
    );
}

/// The v1alpha1 kinds are read into the same tiers: an AdminNetworkPolicy's Allow is an
/// Admin Accept (it decides before the NetworkPolicy that would deny it).
#[test]
fn a_v1alpha1_admin_network_policy_is_an_admin_tier_policy() {
    let dir = shop_with(
        r#"
apiVersion: policy.networking.k8s.io/v1alpha1
kind: AdminNetworkPolicy
metadata: {name: frontend-may-reach-db}
spec:
  priority: 1
  subject: {pods: {namespaceSelector: {}, podSelector: {matchLabels: {app: database}}}}
  ingress:
  - action: Allow
    from: [{pods: {namespaceSelector: {}, podSelector: {matchLabels: {app: frontend}}}}]
    ports: [{portNumber: {protocol: TCP, port: 5432}}]
"#,
    );
    let path = dir.path().to_str().unwrap();
    let (code, out, err) = explain_to_database(path, "shop/frontend", "5432", &[]);
    assert_eq!(code, 0, "{err}");
    // Ingress is accepted by the Admin tier; the frontend's egress is still its
    // NetworkPolicies' (frontend-to-backend admits only the backend): denied there.
    assert!(
        out.contains("decided by Admin ClusterNetworkPolicy frontend-may-reach-db rule 0: Accept"),
        "{out}"
    );
    assert!(out.contains("Ingress to shop/database: ALLOWED"), "{out}");
    assert!(out.contains("Egress from shop/frontend: DENIED"), "{out}");
    // Another port is not matched: the NetworkPolicies decide and deny.
    let (_, out, _) = explain_to_database(path, "shop/frontend", "5433", &[]);
    assert!(out.contains("Ingress to shop/database: DENIED"), "{out}");
}

/// `diff` names the tier and object that now decides: adding ADMIN_DENY closes exactly
/// what the shop allowed towards the database (backend on 5432, prometheus on 9187),
/// both decided by the Admin ClusterNetworkPolicy; `test` fails the shop's own assertion
/// "backend reaches the database" and its explanation names the deciding rule.
#[test]
fn diff_and_test_name_the_deciding_tier() {
    let dir = shop_with(ADMIN_DENY);
    let shop = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/shop");
    let (code, out, err) = run(&["diff", shop, dir.path().to_str().unwrap(), "-o", "json"]);
    assert_eq!(code, 1, "something closed: {err}");
    let d: Value = serde_json::from_str(&out).unwrap();
    assert!(d["opened"].as_array().unwrap().is_empty());
    let mut closed: Vec<(String, String, String)> = d["closed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            assert_eq!(
                c["policies"],
                serde_json::json!(["Admin ClusterNetworkPolicy freeze-database"]),
                "{c}"
            );
            (
                c["from"].as_str().unwrap().to_string(),
                c["to"].as_str().unwrap().to_string(),
                c["ports"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    closed.sort();
    assert_eq!(
        closed,
        [
            (
                "monitoring/prometheus".to_string(),
                "shop/database".to_string(),
                "9187".to_string()
            ),
            (
                "shop/backend".to_string(),
                "shop/database".to_string(),
                "5432".to_string()
            ),
        ]
    );
    let spec = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/shop.test.yaml");
    let (code, out, _) = run(&["test", spec, dir.path().to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("decided by Admin ClusterNetworkPolicy freeze-database rule 0 (nobody): Deny"),
        "{out}"
    );
}

/// `scaffold zero-trust --cluster-wide` writes ClusterNetworkPolicies that read back
/// (validated like any input) and do what its documentation says, checked on the shop by
/// `analyze` with the scaffold added: prometheus (monitoring has no NetworkPolicy) reaches
/// cluster DNS on 53/UDP by the Admin DNS Accept but nothing else there (Baseline default
/// deny), and still scrapes backend's `metrics` port by the Admin scrape Accept.
#[test]
fn scaffold_cluster_wide_writes_the_tiers() {
    let shop = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/shop");
    let out = tempfile::tempdir().unwrap();
    let (code, report, err) = run(&[
        "scaffold",
        "zero-trust",
        shop,
        "--cluster-wide",
        "--monitoring",
        "monitoring",
        "--out",
        out.path().to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(report.contains("scaffold zero-trust: cluster-wide"), "{report}");
    let file = out.path().join("cluster-wide.yaml");
    let yaml = std::fs::read_to_string(&file).unwrap();
    for name in [
        "palisade-allow-dns",
        "palisade-allow-metrics-scraping",
        "palisade-allow-metrics-egress",
        "palisade-same-namespace-shop",
        "palisade-same-namespace-monitoring",
        "palisade-default-deny",
    ] {
        assert!(yaml.contains(&format!("name: {name}\n")), "{name}: {yaml}");
    }
    let both = [shop, file.to_str().unwrap()];
    let verdict = |port: &str, from: &str, to: &str| {
        let (code, out, err) = run(&["analyze", both[0], both[1], "--port", port, "-o", "json"]);
        assert_eq!(code, 0, "{err}");
        let v: Value = serde_json::from_str(&out).unwrap();
        v["matrix"][from][to].as_bool().unwrap()
    };
    assert!(verdict("53/UDP", "monitoring/prometheus", "kube-system/coredns"));
    assert!(!verdict("80", "monitoring/prometheus", "kube-system/coredns"));
    assert!(verdict("9090", "monitoring/prometheus", "shop/backend"));
}

/// A ClusterNetworkPolicy staged with `palisade.dev/mode: shadow`: no answer counts it
/// until `--with-shadow`; the dataplane enforces nothing of it and logs what it would
/// deny (by hand: backend -> database on 5432, which the shop allows, is the Admin Deny's
/// to log). (The UI's listing of it: tests/ui.rs.)
#[test]
fn a_staged_cluster_network_policy_is_logged_not_enforced() {
    let staged = ADMIN_DENY.replace(
        "metadata: {name: freeze-database}",
        "metadata:\n  name: freeze-database\n  annotations: {palisade.dev/mode: shadow}",
    );
    let dir = shop_with(&staged);
    let path = dir.path().to_str().unwrap();
    let explain = |extra: &[&str]| {
        let mut a = vec!["--exit-code"];
        a.extend_from_slice(extra);
        explain_to_database(path, "shop/backend", "5432", &a)
    };
    let (code, out, _) = explain(&[]);
    assert_eq!(code, 0, "staged: not counted\n{out}");
    let (code, out, _) = explain(&["--with-shadow"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("decided by Admin ClusterNetworkPolicy freeze-database rule 0 (nobody): Deny"),
        "{out}"
    );
    // The dataplane: no Admin chain (nothing enforced), a log-only rule naming it.
    let (code, out, err) = run(&["dataplane", "render", path]);
    assert_eq!(code, 0, "{err}");
    assert!(!out.contains("comment \"Admin freeze-database"), "{out}");
    let line = out
        .lines()
        .find(|l| l.contains("comment \"shadow-denied freeze-database\""))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(line.contains("log prefix \"S:") && !line.contains(" drop") && !line.contains(" accept"));
    // A mode that is neither is refused at the annotation.
    let dir = shop_with(&staged.replace("mode: shadow", "mode: later"));
    let (code, _, err) = run(&["analyze", dir.path().to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("cnp.yaml:")
            && err.contains(": metadata.annotations[palisade.dev/mode]: Invalid value: \"later\""),
        "{err}"
    );
}
