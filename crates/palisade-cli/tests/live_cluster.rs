//! `--cluster`: the CLI reading a live cluster through kube-rs, against the mocked API
//! server (palisade-kube's `mock`) with a kubeconfig file written by the test. Every
//! expectation is derived by hand from the objects served and the files applied (comments
//! say how); exit codes as README states them.

mod common;

use common::palisade;
use palisade_kube::mock::{ApiObjects, MockApi};
use serde_json::{json, Value};

fn pod(name: &str, ip: &str, port: Option<u16>) -> Value {
    let mut c = json!({"name": "c", "image": "app"});
    if let Some(p) = port {
        c["ports"] = json!([{"containerPort": p}]);
    }
    json!({"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": name, "namespace": "shop", "labels": {"app": name},
                        "managedFields": [{"manager": "kubelet"}]},
           "spec": {"containers": [c]},
           "status": {"phase": "Running", "podIP": ip}})
}

fn policy(name: &str, spec: Value) -> Value {
    json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
           "metadata": {"name": name, "namespace": "shop"}, "spec": spec})
}

/// shop: frontend, backend (8080), database (5432); the cluster's policies deny all
/// ingress in shop and allow frontend -> backend on 8080.
fn shop() -> ApiObjects {
    ApiObjects::default()
        .with(
            "namespaces",
            vec![json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}})],
        )
        .with("nodes", vec![])
        .with(
            "pods",
            vec![
                pod("frontend", "10.0.0.1", None),
                pod("backend", "10.0.0.2", Some(8080)),
                pod("database", "10.0.0.3", Some(5432)),
            ],
        )
        .with(
            "networkpolicies",
            vec![
                policy(
                    "default-deny",
                    json!({"podSelector": {}, "policyTypes": ["Ingress"]}),
                ),
                policy(
                    "allow-backend",
                    json!({"podSelector": {"matchLabels": {"app": "backend"}},
                           "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "frontend"}}}],
                                        "ports": [{"port": 8080}]}]}),
                ),
            ],
        )
}

/// The files a user would apply: backend may reach the database on 5432.
const ALLOW_DATABASE: &str = "apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-database, namespace: shop}
spec:
  podSelector: {matchLabels: {app: database}}
  ingress:
  - from: [{podSelector: {matchLabels: {app: backend}}}]
    ports: [{port: 5432}]
";

struct Setup {
    api: MockApi,
    dir: tempfile::TempDir,
    kubeconfig: String,
}

fn setup(objects: ApiObjects) -> Setup {
    let api = MockApi::start(objects);
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = api.kubeconfig(dir.path()).display().to_string();
    std::fs::create_dir(dir.path().join("policies")).unwrap();
    std::fs::write(dir.path().join("policies/allow-database.yaml"), ALLOW_DATABASE).unwrap();
    Setup { api, dir, kubeconfig }
}

fn json_of(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// The (from, to, protocols ports) of the pod-to-pod groups of a diff list (groups are
/// named by the pods' `app` label: these pods have no workload).
fn pod_groups(list: &Value) -> Vec<(String, String, String)> {
    list.as_array()
        .unwrap()
        .iter()
        .filter(|c| {
            c["from"].as_str().unwrap().starts_with("shop/") && c["to"].as_str().unwrap().starts_with("shop/")
        })
        .map(|c| {
            (
                c["from"].as_str().unwrap().to_string(),
                c["to"].as_str().unwrap().to_string(),
                format!(
                    "{} {}",
                    c["protocols"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|p| p.as_str().unwrap())
                        .collect::<Vec<_>>()
                        .join("+"),
                    c["ports"].as_str().unwrap()
                ),
            )
        })
        .collect()
}

#[test]
fn analyze_reads_the_cluster_of_the_kubeconfig() {
    let s = setup(shop());
    let out = palisade()
        .args([
            "analyze",
            "--cluster",
            "--kubeconfig",
            &s.kubeconfig,
            "--port",
            "8080",
            "-o",
            "json",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // On 8080 in shop (all ingress denied but frontend -> backend): exactly that pair.
    assert_eq!(
        common::allowed_pairs(&json_of(&out)),
        [("shop/frontend".to_string(), "shop/backend".to_string())]
            .into_iter()
            .collect()
    );
    // The network-policy-api kinds are not served: notes on stderr, not errors.
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("note: the API does not serve clusternetworkpolicies"),
        "{err}"
    );
    assert!(s
        .api
        .requests()
        .iter()
        .any(|r| r.contains("/api/v1/pods?") && r.contains("limit=500")));
}

#[test]
fn diff_cluster_says_what_applying_the_files_opens() {
    let s = setup(shop());
    let out = palisade()
        .current_dir(s.dir.path())
        .args([
            "diff",
            "--cluster",
            "--kubeconfig",
            &s.kubeconfig,
            "policies/",
            "-o",
            "json",
        ])
        .output()
        .unwrap();
    // Adding allow-database opens backend -> database on 5432 and closes nothing: exit 1
    // (a difference).
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = json_of(&out);
    assert_eq!(
        pod_groups(&v["opened"]),
        [(
            "shop/app=backend".into(),
            "shop/app=database".into(),
            "TCP 5432".into()
        )]
    );
    assert_eq!(v["closed"].as_array().unwrap().len(), 0);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("0 object(s) replaced, 1 added, 0 policies pruned"),
        "{err}"
    );
}

#[test]
fn diff_cluster_with_prune_removes_the_policies_the_files_lack() {
    let s = setup(shop());
    let out = palisade()
        .current_dir(s.dir.path())
        .args([
            "diff",
            "--cluster",
            "--kubeconfig",
            &s.kubeconfig,
            "--prune",
            "policies/",
            "-o",
            "json",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("2 policies pruned"), "{err}");
    // With only allow-database left in shop: frontend and backend are no longer isolated,
    // so everything into them opens (frontend -> backend except 8080, allowed before);
    // backend -> database on 5432 opens; frontend -> database stays denied.
    let opened = pod_groups(&json_of(&out)["opened"]);
    let has = |f: &str, t: &str, ports: &str| {
        opened.contains(&(
            format!("shop/app={f}"),
            format!("shop/app={t}"),
            ports.to_string(),
        ))
    };
    assert!(has("backend", "database", "TCP 5432"), "{opened:?}");
    assert!(has("backend", "frontend", "TCP+UDP+SCTP all"), "{opened:?}");
    assert!(has("frontend", "backend", "TCP 1-8079,8081-65535"), "{opened:?}");
    assert!(has("frontend", "backend", "UDP+SCTP all"), "{opened:?}");
    assert!(has("database", "backend", "TCP+UDP+SCTP all"), "{opened:?}");
    // Six groups in all: database stays isolated (only backend on 5432).
    assert_eq!(opened.len(), 6, "{opened:?}");
    assert!(!opened
        .iter()
        .any(|(f, t, _)| f.ends_with("frontend") && t.ends_with("database")));
}

#[test]
fn explain_exit_code_follows_the_verdict_on_the_cluster() {
    let s = setup(shop());
    let explain = |from: &str, to: &str, port: &str| {
        palisade()
            .args([
                "explain",
                "--cluster",
                "--kubeconfig",
                &s.kubeconfig,
                "--exit-code",
            ])
            .args(["--from", from, "--to", to, "--port", port])
            .output()
            .unwrap()
    };
    let allowed = explain("shop/frontend", "shop/backend", "8080");
    assert_eq!(allowed.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&allowed.stdout).contains("ALLOWED"));
    let denied = explain("shop/frontend", "shop/database", "5432");
    assert_eq!(denied.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&denied.stdout).contains("DENIED"));
    // Without --exit-code a denial is still exit 0.
    let plain = palisade()
        .args(["explain", "--cluster", "--kubeconfig", &s.kubeconfig])
        .args([
            "--from",
            "shop/frontend",
            "--to",
            "shop/database",
            "--port",
            "5432",
        ])
        .output()
        .unwrap();
    assert_eq!(plain.status.code(), Some(0));
}

#[test]
fn a_forbidden_kind_is_exit_2_naming_the_rbac_verb() {
    let s = setup(shop().failing("pods", 403));
    let out = palisade()
        .args(["lint", "--cluster", "--kubeconfig", &s.kubeconfig])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("refused to list pods (403 Forbidden)"), "{err}");
    assert!(err.contains("RBAC verb `list` on `pods`"), "{err}");
}

#[test]
fn an_unreachable_server_is_exit_2_naming_it() {
    let s = setup(shop());
    let out = palisade()
        .args([
            "analyze",
            "--cluster",
            "--kubeconfig",
            &s.kubeconfig,
            "--context",
            "elsewhere",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot reach the Kubernetes API server at http://127.0.0.1:9/"),
        "{err}"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn cluster_options_need_cluster_and_diff_cluster_needs_files() {
    // --context without --cluster: a usage error (clap), exit 2.
    let out = palisade()
        .args(["analyze", "--context", "x", "f.yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--cluster"));
    let s = setup(shop());
    let out = palisade()
        .args(["diff", "--cluster", "--kubeconfig", &s.kubeconfig])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("diff --cluster takes the files to apply"));
    assert!(s.api.requests().is_empty(), "a usage error reads nothing");
}

#[test]
fn scaffold_reads_the_cluster_once_and_scaffolds_its_namespaces() {
    let s = setup(shop());
    let out = palisade()
        .args([
            "scaffold",
            "zero-trust",
            "--cluster",
            "--kubeconfig",
            &s.kubeconfig,
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    // shop is the only namespace with pods: its default deny and DNS egress are written.
    assert!(text.contains("namespace: shop"), "{text}");
    assert!(text.contains("kind: NetworkPolicy"), "{text}");
    let pod_lists = s
        .api
        .requests()
        .iter()
        .filter(|r| r.contains("/api/v1/pods"))
        .count();
    assert_eq!(pod_lists, 1, "{:?}", s.api.requests());
}

#[test]
fn the_ui_follows_the_cluster_as_it_changes() {
    use common::ui_server::{json, start, wait_for_within};
    let s = setup(shop());
    let ui = start(&["--cluster", "--kubeconfig", &s.kubeconfig]);
    // As served: shop isolates ingress; frontend -> backend on 8080 is the one edge among
    // the shop's pods (pods without a workload are drawn by their app label).
    let edges = |m: &Value| -> Vec<String> {
        let name = |i: &Value| {
            m["units"][i.as_u64().unwrap() as usize]["name"]
                .as_str()
                .unwrap()
                .to_string()
        };
        let mut v: Vec<String> = m["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                format!(
                    "{} -> {}: {}",
                    name(&e["from"]),
                    name(&e["to"]),
                    e["tcp"].as_str().unwrap()
                )
            })
            .collect();
        v.sort();
        v
    };
    assert_eq!(
        edges(&json(&ui, "/api/map")),
        ["shop/app=frontend -> shop/app=backend: 8080"]
    );
    assert_eq!(json(&ui, "/api/overview")["input"], "the live cluster");
    // The reflectors are up once the watches are open; then a policy appears in the
    // cluster: backend may reach the database on 5432.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !s
        .api
        .requests()
        .iter()
        .any(|r| r.contains("networkpolicies") && r.contains("watch=true"))
    {
        assert!(
            std::time::Instant::now() < deadline,
            "no watch: {:?}",
            s.api.requests()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    s.api.add(
        "networkpolicies",
        policy(
            "allow-database",
            json!({"podSelector": {"matchLabels": {"app": "database"}},
                   "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "backend"}}}],
                                "ports": [{"port": 5432}]}]}),
        ),
    );
    // Picked up within about a second (the settling of a burst). It took 9 s to over a
    // minute while the watchers of the kinds the mock does not serve (404) sent a whole
    // state on each retry, so a burst never settled; and the mock listed a watch before it
    // was open, so an object added at once could miss it.
    wait_for_within(&ui, 15, |o| o["policies"] == 3);
    assert_eq!(
        edges(&json(&ui, "/api/map")),
        [
            "shop/app=backend -> shop/app=database: 5432",
            "shop/app=frontend -> shop/app=backend: 8080"
        ]
    );
}
