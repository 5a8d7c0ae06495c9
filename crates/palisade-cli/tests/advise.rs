//! `palisade advise`: least-privilege policies from observed flows. Expectations are
//! derived by hand from examples/shop (policies.yaml, workloads.yaml) and the flows written
//! here; every advice is also checked by the command itself (replay through the engine)
//! and here by `palisade test` on the spec it writes and by `palisade explain`.

mod common;
use common::*;

fn shop() -> String {
    format!("{}/../../examples/shop", env!("CARGO_MANIFEST_DIR"))
}

fn flow(src: &str, dst: &str, dst_ip: &str, port: u16, verdict: &str) -> String {
    format!(
        "{{\"time\":1714557600.0,\"src\":\"{src}\",\"dst\":\"{dst}\",\"src_ip\":\"10.244.1.10\",\"dst_ip\":\"{dst_ip}\",\"protocol\":\"TCP\",\"port\":{port},\"verdict\":\"{verdict}\"}}\n"
    )
}

/// frontend -> backend 8080, backend -> database 5432, frontend -> 93.184.216.34 443, all
/// let through; prometheus -> backend 9090 from Hubble's log; frontend -> database 5432
/// only denied.
fn shop_flows(dir: &std::path::Path) -> String {
    let hubble = r#"{"flow":{"time":"2024-05-01T10:00:00Z","verdict":"FORWARDED","IP":{"source":"10.244.2.5","destination":"10.244.1.11"},"l4":{"TCP":{"source_port":40000,"destination_port":9090}},"source":{"namespace":"monitoring","pod_name":"prometheus"},"destination":{"namespace":"shop","pod_name":"backend"},"is_reply":false}}"#;
    let text = [
        flow("shop/frontend", "shop/backend", "10.244.1.11", 8080, "allowed"),
        flow("shop/backend", "shop/database", "10.244.1.12", 5432, "allowed"),
        flow("shop/frontend", "93.184.216.34", "93.184.216.34", 443, "audit"),
        flow("shop/frontend", "shop/database", "10.244.1.12", 5432, "denied"),
        format!("{hubble}\n"),
    ]
    .concat();
    let path = dir.join("flows.jsonl");
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

/// The NetworkPolicies and then the ClusterNetworkPolicies of a YAML text as JSON values
/// (read back by the loader, which keeps each object's document).
fn objects(yaml: &str) -> (Vec<serde_json::Value>, Vec<serde_json::Value>) {
    let source = palisade_load::Source::Text {
        name: "advised.yaml".into(),
        text: yaml.to_string(),
    };
    let loaded = palisade_load::load(&[source], &Default::default()).unwrap_or_else(|e| panic!("{:?}", e.0));
    let c = &loaded.cluster;
    let values = |refs: Vec<palisade_core::ObjectRef>| -> Vec<serde_json::Value> {
        loaded
            .object_values(&refs.iter().collect::<Vec<_>>())
            .into_iter()
            .map(|v| v.unwrap())
            .collect()
    };
    (
        values(c.policies.iter().map(|p| p.object_ref()).collect()),
        values(c.cluster_policies.iter().map(|p| p.object_ref()).collect()),
    )
}

/// The NetworkPolicies of a YAML text.
fn docs(yaml: &str) -> Vec<serde_json::Value> {
    objects(yaml).0
}

/// `palisade advise ARGS…`, which must succeed: its standard output and error.
fn advise(args: &[&str]) -> (String, String) {
    let r = palisade().arg("advise").args(args).output().unwrap();
    let (out, err) = (
        String::from_utf8(r.stdout).unwrap(),
        String::from_utf8(r.stderr).unwrap(),
    );
    assert!(r.status.success(), "{out}{err}");
    (out, err)
}

#[test]
fn advice_allows_exactly_what_was_seen_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let flows = shop_flows(dir.path());
    let out = dir.path().join("advised");
    let (report, _) = advise(&["--flows", &flows, &shop(), "--out", out.to_str().unwrap()]);
    // Five connections, four let through (audit counts: it went through), one only denied.
    assert!(report.contains("5 flow record(s), 5 connection(s); advised for 4 that went through (1 only denied, not advised; 0 left out)"), "{report}");
    assert!(
        report.contains("Every connection that went through is allowed by the advice"),
        "{report}"
    );
    // At /32 and with every pod of the shop distinct, nothing more is allowed.
    assert!(
        report.contains("Beyond what was seen it allows nothing more."),
        "{report}"
    );
    let shop_yaml = std::fs::read_to_string(out.join("shop.yaml")).unwrap();
    let mut names: Vec<String> = docs(&shop_yaml)
        .iter()
        .map(|d| d["metadata"]["name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "allow-dns",
            "backend-egress",
            "backend-ingress",
            "database-ingress",
            "default-deny",
            "frontend-egress"
        ]
    );
    let policy = |name: &str| {
        docs(&shop_yaml)
            .into_iter()
            .find(|d| d["metadata"]["name"] == name)
            .unwrap()
    };
    // backend admits the frontend on http (backend's own name for 8080) and prometheus on
    // metrics (9090), selected by workload labels and, across namespaces, by the
    // namespace's name.
    let b = policy("backend-ingress");
    assert_eq!(
        b["spec"]["podSelector"],
        serde_json::json!({"matchLabels": {"app": "backend", "tier": "api"}})
    );
    assert_eq!(
        b["spec"]["ingress"],
        serde_json::json!([
            {"from": [{"podSelector": {"matchLabels": {"app": "frontend", "tier": "web"}}}],
             "ports": [{"port": "http", "protocol": "TCP"}]},
            {"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}},
                       "podSelector": {"matchLabels": {"app": "prometheus"}}}],
             "ports": [{"port": "metrics", "protocol": "TCP"}]},
        ])
    );
    // The frontend may reach the one address it was seen reaching, on 443.
    let f = policy("frontend-egress");
    assert!(
        f["spec"]["egress"]
            .to_string()
            .contains("\"cidr\":\"93.184.216.34/32\""),
        "{f}"
    );
    // The database was never reached from the frontend: not admitted.
    let d = policy("database-ingress");
    assert!(!d.to_string().contains("frontend"), "{d}");
    // The spec of the observed connections passes against the shop with the advice.
    let spec = out.join("observed.test.yaml");
    let t = palisade()
        .args(["test", spec.to_str().unwrap(), &shop(), out.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(t.status.success(), "{}", String::from_utf8_lossy(&t.stdout));
    assert!(String::from_utf8_lossy(&t.stdout).contains("4 passed, 0 failed"));
}

#[test]
fn blocks_generalise_and_strict_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let flows = shop_flows(dir.path());
    let (yaml, stderr) = advise(&["--flows", &flows, &shop(), "--cidr-prefix", "24"]);
    assert!(yaml.contains("cidr: 93.184.216.0/24"), "{yaml}");
    // A /24 holds 256 addresses; one was seen.
    assert!(
        stderr.contains(
            "shop/frontend-egress also allows 255 other address(es) of 93.184.216.0/24, which were not seen"
        ),
        "{stderr}"
    );
    let (yaml, _) = advise(&["--flows", &flows, &shop(), "--cidr-prefix", "24", "--strict"]);
    assert!(yaml.contains("cidr: 93.184.216.34/32"), "{yaml}");
    // --no-check: no diff nor lint, the replay still.
    let (_, stderr) = advise(&["--flows", &flows, &shop(), "--no-check"]);
    assert!(
        stderr.contains("Every connection that went through is allowed by the advice"),
        "{stderr}"
    );
    assert!(
        stderr.contains("Not compared with the current policies nor linted (--no-check)"),
        "{stderr}"
    );
    assert!(!stderr.contains("palisade diff"), "{stderr}");
}

#[test]
fn pods_alike_but_unseen_are_named() {
    let dir = tempfile::tempdir().unwrap();
    // Two pods with the same labels; only a1 was seen calling db. The advice selects by
    // labels, so it admits a2 too, and says so.
    let manifests = [
        namespace("app", "{}"),
        pod("app", "a1", "{app: api}", "10.0.0.1"),
        pod("app", "a2", "{app: api}", "10.0.0.2"),
        pod("app", "db", "{app: db}", "10.0.0.3"),
    ]
    .concat();
    std::fs::write(dir.path().join("app.yaml"), manifests).unwrap();
    std::fs::write(
        dir.path().join("flows.jsonl"),
        flow("app/a1", "app/db", "10.0.0.3", 5432, "allowed").replace("10.244.1.10", "10.0.0.1"),
    )
    .unwrap();
    let (_, stderr) = advise(&[
        "--flows",
        dir.path().join("flows.jsonl").to_str().unwrap(),
        dir.path().join("app.yaml").to_str().unwrap(),
    ]);
    assert!(
        stderr.contains(
            "app/db-ingress also allows 1 other pod(s) of app=api in app, which were not seen: app/a2"
        ),
        "{stderr}"
    );
    // a1's egress names db alone, which was seen: nothing more there.
    assert!(!stderr.contains("a1-egress also allows"), "{stderr}");
}

/// `--cluster-wide`, on the shop without its NetworkPolicies (namespaces and workloads
/// only). By hand from the same flows: DNS in the Admin tier; in the Baseline tier one
/// Accept per workload and direction seen (backend's and database's ingress, frontend's,
/// backend's and prometheus's egress), then the default deny of the advised namespaces.
#[test]
fn cluster_wide_advice_is_cluster_network_policies() {
    let dir = tempfile::tempdir().unwrap();
    let flows = shop_flows(dir.path());
    let bare = dir.path().join("bare");
    std::fs::create_dir(&bare).unwrap();
    for f in ["namespaces.yaml", "workloads.yaml"] {
        std::fs::copy(format!("{}/{f}", shop()), bare.join(f)).unwrap();
    }
    let bare = bare.to_str().unwrap().to_string();
    let out = dir.path().join("advised");
    let (report, _) = advise(&[
        "--flows",
        &flows,
        &bare,
        "--cluster-wide",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(
        report.contains("Every connection that went through is allowed by the advice"),
        "{report}"
    );
    let text = std::fs::read_to_string(out.join("cluster-wide.yaml")).unwrap();
    let objects = objects(&text).1;
    let mut seen: Vec<(String, String, u64)> = objects
        .iter()
        .map(|o| {
            assert_eq!(o["kind"].as_str(), Some("ClusterNetworkPolicy"));
            (
                o["metadata"]["name"].as_str().unwrap().to_string(),
                o["spec"]["tier"].as_str().unwrap().to_string(),
                o["spec"]["priority"].as_u64().unwrap(),
            )
        })
        .collect();
    seen.sort();
    let want: Vec<(String, String, u64)> = [
        ("advise-allow-dns", "Admin", 10),
        ("advise-default-deny", "Baseline", 1000),
        ("advise-monitoring-prometheus-egress", "Baseline", 100),
        ("advise-shop-backend-egress", "Baseline", 100),
        ("advise-shop-backend-ingress", "Baseline", 100),
        ("advise-shop-database-ingress", "Baseline", 100),
        ("advise-shop-frontend-egress", "Baseline", 100),
    ]
    .iter()
    .map(|(n, t, p)| (n.to_string(), t.to_string(), *p))
    .collect();
    assert_eq!(seen, want);
    // The engine on the bare shop with the advice: what was seen passes, the rest is
    // denied by the Baseline default deny, DNS stays.
    let advised = out.join("cluster-wide.yaml");
    let explain = |from: &str, to: &str, port: &str| {
        let r = palisade()
            .args([
                "explain",
                &bare,
                advised.to_str().unwrap(),
                "--from",
                from,
                "--to",
                to,
                "--port",
                port,
                "--exit-code",
            ])
            .output()
            .unwrap();
        (r.status.code().unwrap(), String::from_utf8(r.stdout).unwrap())
    };
    assert_eq!(explain("shop/frontend", "shop/backend", "8080").0, 0);
    assert_eq!(explain("monitoring/prometheus", "shop/backend", "9090").0, 0);
    assert_eq!(explain("shop/frontend", "kube-system/coredns", "53/UDP").0, 0);
    let (code, text) = explain("shop/frontend", "shop/database", "5432");
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("Baseline ClusterNetworkPolicy advise-default-deny"),
        "{text}"
    );
    assert_eq!(explain("monitoring/prometheus", "shop/database", "9187").0, 1);
    // The observed spec passes.
    let t = palisade()
        .args([
            "test",
            out.join("observed.test.yaml").to_str().unwrap(),
            &bare,
            advised.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(t.status.success(), "{}", String::from_utf8_lossy(&t.stdout));
    // Ingress from an address outside the pods cannot be a ClusterNetworkPolicy peer: left
    // open and said so; the replay still finds it allowed (the default deny names pods).
    let external = dir.path().join("external.jsonl");
    std::fs::write(
        &external,
        flow("203.0.113.9", "shop/frontend", "10.244.1.13", 8080, "allowed")
            .replace("10.244.1.10", "203.0.113.9"),
    )
    .unwrap();
    let (_, report) = advise(&[
        "--flows",
        external.to_str().unwrap(),
        &bare,
        "--cluster-wide",
        "--no-check",
    ]);
    assert!(
        report.contains("left out: ingress from 203.0.113.9/32 to shop/app=frontend,tier=web on 8080/TCP: a ClusterNetworkPolicy selects pods only as ingress peers (left open)")
            && report.contains("Every connection that went through is allowed by the advice"),
        "{report}"
    );
    // On the shop with its NetworkPolicies, the frontend's egress to the address is denied
    // by them (Baseline sits below): said, not counted as a fault.
    let (_, report) = advise(&["--flows", &flows, &shop(), "--cluster-wide", "--no-check"]);
    assert!(
        report
            .contains("Denied by the namespaces' NetworkPolicies, which decide before the Baseline tier (1)")
            && report.contains("shop/frontend -> 93.184.216.34 443/TCP"),
        "{report}"
    );
}
