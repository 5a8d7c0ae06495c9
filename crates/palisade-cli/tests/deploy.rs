//! deploy/: the DaemonSet, ServiceAccount and least-privilege RBAC, read with Palisade's own
//! loader (which validates them as the API server would) and linted.

mod common;
use common::*;

use palisade_load::{load, yaml, Source};
use serde_json::Value;

fn deploy() -> String {
    format!("{}/../../deploy", env!("CARGO_MANIFEST_DIR"))
}

fn docs() -> Vec<Value> {
    let mut out = Vec::new();
    for f in ["namespace.yaml", "rbac.yaml", "daemonset.yaml"] {
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
    let loaded = load(&[Source::Path(deploy().into())], &Default::default()).unwrap_or_else(|e| {
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
    let out = palisade().args(["lint", &deploy()]).output().unwrap();
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
