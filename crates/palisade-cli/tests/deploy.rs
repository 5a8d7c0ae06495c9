//! deploy/: the DaemonSet, ServiceAccount and least-privilege RBAC, read with Palisade's own
//! loader (which validates them as the API server would) and linted; the order they are
//! applied in, Pod Security admission, the metrics port, and the image build.

mod common;
use common::*;

use palisade_load::{load, yaml, Source};
use serde_json::Value;

fn deploy() -> String {
    format!("{}/../../deploy", env!("CARGO_MANIFEST_DIR"))
}

fn docs() -> Vec<Value> {
    let mut out = Vec::new();
    for f in [
        "00-namespace.yaml",
        "10-rbac.yaml",
        "20-daemonset.yaml",
        "30-metrics-service.yaml",
    ] {
        let text = std::fs::read_to_string(format!("{}/{f}", deploy())).unwrap();
        let (d, err) = yaml::parse_documents(&text);
        assert!(err.is_none(), "{f}: {err:?}");
        out.extend(d.into_iter().map(|d| d.value));
    }
    out
}

fn kind<'a>(docs: &'a [Value], k: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == k)
        .unwrap_or_else(|| panic!("no {k}"))
}

#[test]
fn the_loader_accepts_the_manifests() {
    // servicemonitor.yaml needs the Prometheus Operator's CRD: not part of the load.
    let files: Vec<Source> = [
        "00-namespace.yaml",
        "10-rbac.yaml",
        "20-daemonset.yaml",
        "30-metrics-service.yaml",
    ]
    .iter()
    .map(|f| Source::Path(format!("{}/{f}", deploy()).into()))
    .collect();
    let loaded = load(&files, &Default::default()).unwrap_or_else(|e| {
        panic!(
            "{}",
            e.0.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("\n")
        )
    });
    // The DaemonSet becomes one representative pod on the host network.
    let pods = &loaded.cluster.pods;
    assert_eq!(pods.len(), 1);
    assert_eq!(pods[0].key(), "palisade-system/palisade-agent");
    assert!(pods[0].host_network);
    for k in [
        "ServiceAccount (v1)",
        "ClusterRole (rbac.authorization.k8s.io/v1)",
        "ClusterRoleBinding (rbac.authorization.k8s.io/v1)",
    ] {
        assert_eq!(loaded.skipped.get(k), Some(&1), "{:?}", loaded.skipped);
    }
    let out = palisade()
        .arg("lint")
        .args(files.iter().map(|f| match f {
            Source::Path(p) => p.display().to_string(),
            _ => unreachable!(),
        }))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
}

#[test]
fn rbac_is_read_only_on_the_watched_resources() {
    let d = docs();
    let role = kind(&d, "ClusterRole");
    let mut resources = Vec::new();
    for rule in role["rules"].as_array().unwrap() {
        let verbs: Vec<&str> = rule["verbs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(verbs, ["get", "list", "watch"], "{rule}");
        resources.extend(
            rule["resources"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r.as_str().unwrap().to_string()),
        );
    }
    resources.sort();
    // What the agent's kube source watches (crates/palisade-agent/src/kube.rs, crd.rs).
    assert_eq!(
        resources,
        [
            "adminnetworkpolicies",
            "baselineadminnetworkpolicies",
            "clusternetworkpolicies",
            "namespaces",
            "networkpolicies",
            "pods"
        ]
    );
    let binding = kind(&d, "ClusterRoleBinding");
    assert_eq!(binding["subjects"][0]["name"], "palisade-agent");
    assert_eq!(binding["roleRef"]["name"], "palisade-agent");
}

#[test]
fn daemonset_has_host_network_and_net_admin_only() {
    let d = docs();
    let ds = kind(&d, "DaemonSet");
    let spec = &ds["spec"]["template"]["spec"];
    assert_eq!(spec["hostNetwork"], true);
    assert_eq!(spec["serviceAccountName"], "palisade-agent");
    let c = &spec["containers"][0];
    let sc = &c["securityContext"];
    assert_eq!(sc["capabilities"]["add"], serde_json::json!(["NET_ADMIN"]));
    assert_eq!(sc["capabilities"]["drop"], serde_json::json!(["ALL"]));
    assert!(sc["privileged"].is_null() || sc["privileged"] == false);
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    let args: Vec<&str> = c["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert!(
        args.contains(&"--source=kube") && args.contains(&"--node=$(NODE_NAME)"),
        "{args:?}"
    );
    assert_eq!(c["env"][0]["valueFrom"]["fieldRef"]["fieldPath"], "spec.nodeName");
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
    let containerfile = std::fs::read_to_string(format!("{}/Containerfile", deploy())).unwrap();
    assert!(containerfile.contains("nftables") && containerfile.contains("-p palisade-cli"));
}

#[test]
fn namespace_comes_first_and_admits_the_daemonset() {
    let kustomization = std::fs::read_to_string(format!("{}/kustomization.yaml", deploy())).unwrap();
    let (d, err) = yaml::parse_documents(&kustomization);
    assert!(err.is_none());
    let resources: Vec<&str> = d[0].value["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert_eq!(resources[0], "00-namespace.yaml");
    // `kubectl apply -f deploy/` reads files in name order: the same order.
    let mut sorted = resources.clone();
    sorted.sort();
    assert_eq!(sorted, resources);
    for r in &resources {
        assert!(std::path::Path::new(&format!("{}/{r}", deploy())).exists(), "{r}");
    }
    let d = docs();
    let ns = kind(&d, "Namespace");
    // hostNetwork and NET_ADMIN are beyond the baseline level: the namespace must enforce
    // privileged for the DaemonSet to be admitted where baseline is the default.
    assert_eq!(
        ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"],
        "privileged"
    );
}

#[test]
fn metrics_port_is_one_number_everywhere_and_not_opentelemetrys() {
    let d = docs();
    let c = &kind(&d, "DaemonSet")["spec"]["template"]["spec"]["containers"][0];
    let port = c["ports"][0]["containerPort"].as_u64().unwrap();
    assert_ne!(port, 9464, "the OpenTelemetry Prometheus exporter's default");
    let args = c["args"].to_string();
    assert!(args.contains(&format!("--metrics-addr=0.0.0.0:{port}")), "{args}");
    let annotations = &kind(&d, "DaemonSet")["spec"]["template"]["metadata"]["annotations"];
    assert_eq!(annotations["prometheus.io/port"], port.to_string());
    let svc = kind(&d, "Service");
    assert_eq!(svc["spec"]["ports"][0]["port"].as_u64(), Some(port));
    assert_eq!(svc["spec"]["selector"]["app.kubernetes.io/name"], "palisade");
    // The agent's own default (`palisade agent --help`) is the same port.
    let help = palisade().args(["agent", "--help"]).output().unwrap();
    assert!(String::from_utf8_lossy(&help.stdout).contains(&format!("127.0.0.1:{port}")));
}

#[test]
fn image_builds_in_two_stages_without_target() {
    let containerfile = std::fs::read_to_string(format!("{}/Containerfile", deploy())).unwrap();
    assert_eq!(
        containerfile.matches("\nFROM ").count(),
        2,
        "a build stage and a runtime stage"
    );
    assert!(containerfile.contains("--locked"));
    for ignore in [".dockerignore", ".containerignore"] {
        let text = std::fs::read_to_string(format!("{}/../{ignore}", deploy())).unwrap();
        assert!(text.lines().any(|l| l.trim() == "target/"), "{ignore}");
    }
}
