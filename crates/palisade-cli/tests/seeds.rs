//! The seed articles' scenarios (examples/seeds), with the flows they discuss derived by hand.

mod common;
use common::*;
use serde_json::Value;

fn seed(name: &str) -> String {
    format!("{}/../../examples/seeds/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn port_json_file(file: &str, port: &str, args: &[&str]) -> Value {
    let out = palisade()
        .args(["analyze", file, "--port", port, "-o", "json"])
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn has(v: &Value, from: &str, to: &str) -> bool {
    allowed_pairs(v).contains(&(from.to_string(), to.to_string()))
}

#[test]
fn seed_000_namespace_isolation() {
    let f = seed("000-namespace-isolation.yaml");
    let ext = [
        "--external",
        "internet=8.8.8.8",
        "--external",
        "cloudsql=10.123.182.3",
        "--external",
        "internal=10.50.0.1",
        "--external",
        "node=10.20.5.5",
    ];
    for mode in ["match", "ignore"] {
        let v = port_json_file(&f, "443/TCP", &[&ext[..], &["--ipblock-pods", mode]].concat());
        // Own namespace both ways.
        assert!(has(&v, "team-a/web", "team-a/worker"), "{mode}");
        // Egress to other namespaces is closed: podSelector {} is team-a only, and the
        // 0.0.0.0/0 block excepts 10.0.0.0/8, which holds the pod addresses.
        assert!(!has(&v, "team-a/web", "team-b/client"), "{mode}");
        let e = &v["externals"];
        // Internet and the Cloud SQL address yes, the rest of 10.0.0.0/8 no.
        assert_eq!(e["internet"]["to"]["team-a/web"], true);
        assert_eq!(e["cloudsql"]["to"]["team-a/web"], true);
        assert_eq!(e["internal"]["to"]["team-a/web"], false);
        // Ingress admits all non-pod traffic (0.0.0.0/0).
        assert_eq!(e["internal"]["from"]["team-a/web"], true);
        // team-b blocks the local network except the node range 10.20.0.0/17.
        assert_eq!(e["internet"]["from"]["team-b/client"], true);
        assert_eq!(e["internal"]["from"]["team-b/client"], false);
        assert_eq!(e["node"]["from"]["team-b/client"], true);
    }
    // The article's question: does ingress 0.0.0.0/0 admit pods of other namespaces?
    // Yes where ipBlock matches pod IPs (upstream, Calico), no on Cilium / GKE DPv2.
    let m = port_json_file(&f, "443/TCP", &["--ipblock-pods", "match"]);
    let i = port_json_file(&f, "443/TCP", &["--ipblock-pods", "ignore"]);
    assert!(has(&m, "team-b/client", "team-a/web"));
    assert!(!has(&i, "team-b/client", "team-a/web"));
    // team-b's 0.0.0.0/0 except 10.0.0.0/8 never admits team-a's 10.244.x pods.
    assert!(!has(&m, "team-a/worker", "team-b/client"));
}

#[test]
fn seed_001_guide() {
    let f = seed("001-guide.yaml");
    let v = port_json_file(&f, "8080/TCP", &[]);
    let fe = "your-namespace/frontend";
    let be = "your-namespace/backend";
    assert!(has(&v, fe, be), "frontend may reach backend on 8080");
    assert!(
        has(&v, "monitoring/grafana", be),
        "allow-from-monitoring admits every monitoring pod (OR of policies)"
    );
    assert!(has(&v, "monitoring/prometheus", be));
    assert!(
        !has(&v, "monitoring/prometheus", fe),
        "frontend is only under default deny"
    );
    assert!(!has(&v, be, fe), "default deny ingress");
    assert!(
        !has(&v, fe, "monitoring/prometheus"),
        "frontend egress is limited"
    );
    assert!(
        has(&v, be, "monitoring/prometheus"),
        "backend egress is not isolated"
    );
    let dns = port_json_file(&f, "53/UDP", &[]);
    assert!(has(&dns, fe, "kube-system/coredns"));
    assert!(
        !has(&port_json_file(&f, "9999/TCP", &[]), fe, be),
        "frontend egress only allows 8080 to backend"
    );
}

#[test]
fn seed_002_zero_trust() {
    let f = seed("002-zero-trust.yaml");
    let dns = port_json_file(&f, "53/UDP", &[]);
    assert!(has(&dns, "target-namespace/app", "kube-system/coredns"));
    let web = port_json_file(&f, "80/TCP", &[]);
    assert!(
        !has(&web, "target-namespace/app", "kube-system/coredns"),
        "DNS egress is port 53 only"
    );
    assert!(!has(&web, "target-namespace/app", "my-app/web"));
    assert!(has(&web, "my-app/web", "my-app/cache"), "same namespace");
    assert!(
        !has(&web, "kube-system/coredns", "my-app/web"),
        "other namespaces may not enter my-app"
    );
    assert!(
        !has(&web, "my-app/web", "target-namespace/app"),
        "target-namespace denies all ingress"
    );
}

#[test]
fn seed_003_invisible_dns_failure() {
    let f = seed("003-incidents.yaml");
    let dns = port_json_file(&f, "53/UDP", &[]);
    // `name: kube-system` is a label no namespace carries: DNS is silently denied.
    assert!(!has(&dns, "production/api-server", "kube-system/coredns"));
    let out = palisade()
        .args([
            "explain",
            "--from",
            "production/api-server",
            "--to",
            "kube-system/coredns",
            "--port",
            "53/UDP",
            &f,
        ])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("DENIED"), "{text}");
    assert!(
        text.contains("namespaceSelector requires name=kube-system; namespace kube-system does not have it"),
        "{text}"
    );
    // Half-open: api-server may open 5432 to postgres, but postgres's ingress denies it.
    let out = palisade()
        .args([
            "explain",
            "--from",
            "production/api-server",
            "--to",
            "production/postgres",
            "--port",
            "5432",
            "-o",
            "json",
            &f,
        ])
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["allowed"], false);
    assert_eq!(v["egress"]["allowed"], true);
    assert_eq!(v["ingress"]["allowed"], false);
    assert_eq!(v["ingress"]["subject"], "isolated");
}

/// Narrowing on seed 000 (derived from the same reading as `seed_000_namespace_isolation`):
/// team-b's client reaches team-a's pods on 443 only where ipBlock 0.0.0.0/0 matches pod
/// IPs; the internet reaches team-b (0.0.0.0/0 except 10.0.0.0/8).
#[test]
fn seed_000_narrowed_to_the_cross_namespace_question() {
    let f = seed("000-namespace-isolation.yaml");
    for (mode, expected) in [("match", true), ("ignore", false)] {
        let v = port_json_file(
            &f,
            "443/TCP",
            &["--ipblock-pods", mode, "--from", "team-b", "--to", "team-a"],
        );
        let m = v["matrix"].as_object().unwrap();
        assert_eq!(
            m.keys().collect::<Vec<_>>(),
            ["team-b/client"],
            "{mode}: one source row"
        );
        let row = m["team-b/client"].as_object().unwrap();
        assert_eq!(row.len(), 2, "{mode}: team-a's two pods as columns");
        assert_eq!(row["team-a/web"], expected, "{mode}");
        assert_eq!(row["team-a/worker"], expected, "{mode}");
    }
    let v = port_json_file(
        &f,
        "443/TCP",
        &[
            "--external",
            "internet=8.8.8.8",
            "--from",
            "internet",
            "--to-labels",
            "app=client",
        ],
    );
    assert_eq!(v["matrix"].as_object().unwrap().len(), 0, "no pod is a source");
    let internet = &v["externals"]["internet"];
    assert_eq!(internet["from"].as_object().unwrap().len(), 1);
    assert_eq!(internet["from"]["team-b/client"], true);
    assert_eq!(
        internet["to"].as_object().unwrap().len(),
        0,
        "internet is no destination here"
    );
}
