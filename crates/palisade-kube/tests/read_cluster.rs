//! Reading a live cluster through kube-rs against the mocked API server, with a kubeconfig
//! file as a user has one: pages and continue tokens, the optional CRDs absent, a 403 on
//! one kind, an unreachable server, contexts, and pods without an address left out.
//! Expected values follow from the objects served, written here by hand.

use palisade_kube::mock::{ApiObjects, MockApi};
use palisade_kube::{read_cluster, ReadError, Target};
use serde_json::{json, Value};

fn namespace(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": {"team": name}}})
}

fn pod(i: usize) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": format!("p{i}"), "namespace": format!("ns{}", i % 3), "labels": {"app": format!("a{}", i % 7)},
                        "managedFields": [{"manager": "kubelet"}]},
           "spec": {"containers": [{"name": "c", "image": "busybox", "ports": [{"name": "http", "containerPort": 8080}]}]},
           "status": {"phase": "Running", "podIP": format!("10.1.{}.{}", i / 250, i % 250 + 1)}})
}

fn objects(pods: usize) -> ApiObjects {
    ApiObjects::default()
        .with(
            "namespaces",
            vec![namespace("ns0"), namespace("ns1"), namespace("ns2")],
        )
        .with(
            "nodes",
            vec![
                json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"},
                        "status": {"addresses": [{"type": "InternalIP", "address": "192.168.0.10"}]}}),
            ],
        )
        .generated("pods", pods, pod)
        .with(
            "networkpolicies",
            vec![
                json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                        "metadata": {"name": "deny", "namespace": "ns1"}, "spec": {"podSelector": {}}}),
            ],
        )
}

fn target(api: &MockApi, dir: &tempfile::TempDir, context: Option<&str>) -> Target {
    Target {
        kubeconfig: Some(api.kubeconfig(dir.path())),
        context: context.map(String::from),
    }
}

fn read(t: &Target) -> Result<palisade_kube::ClusterRead, ReadError> {
    read_cluster(t, &mut |_, _| {})
}

#[test]
fn reads_every_kind_page_by_page() {
    // 1,203 pods: pages of 500, 500 and 203 (PAGE is 500).
    let api = MockApi::start(objects(1203));
    let dir = tempfile::tempdir().unwrap();
    let mut pages = Vec::new();
    let read = read_cluster(&target(&api, &dir, None), &mut |kind, n| {
        pages.push((kind.to_string(), n))
    })
    .unwrap();
    let pod_pages: Vec<usize> = pages
        .iter()
        .filter(|(k, _)| k == "pods")
        .map(|(_, n)| *n)
        .collect();
    assert_eq!(pod_pages, vec![500, 1000, 1203]);
    let requests = api.requests();
    let pod_requests: Vec<&String> = requests.iter().filter(|r| r.contains("/api/v1/pods")).collect();
    assert_eq!(pod_requests.len(), 3, "{requests:?}");
    assert!(pod_requests[0].contains("limit=500") && !pod_requests[0].contains("continue"));
    assert!(pod_requests[1].contains("continue=500"));
    assert!(pod_requests[2].contains("continue=1000"));
    // The three network-policy-api kinds are not served: notes, not errors.
    assert_eq!(read.notes.len(), 3, "{:?}", read.notes);
    assert!(read.notes[0].contains("clusternetworkpolicies.policy.networking.k8s.io/v1alpha2"));

    let loaded = palisade_load::from_objects(read.objects, &Default::default())
        .ok()
        .unwrap();
    let c = &loaded.cluster;
    assert_eq!(c.pods.len(), 1203);
    assert_eq!(c.namespaces.len(), 3);
    assert_eq!(c.namespace("ns1").unwrap().labels["team"], "ns1");
    assert_eq!(c.nodes.len(), 1);
    assert_eq!(c.policies.len(), 1);
    let p7 = c.pods.iter().find(|p| p.name == "p7").unwrap();
    assert_eq!((p7.namespace.as_str(), p7.labels["app"].as_str()), ("ns1", "a0"));
    assert_eq!(p7.ips[0].to_string(), "10.1.0.8");
    assert_eq!(p7.ports[0].port, 8080);
}

#[test]
fn a_forbidden_kind_names_the_missing_verb() {
    let api = MockApi::start(objects(3).failing("networkpolicies", 403));
    let dir = tempfile::tempdir().unwrap();
    let e = read(&target(&api, &dir, None)).err().unwrap();
    assert!(
        matches!(&e, ReadError::Forbidden { resource, group, .. } if resource == "networkpolicies" && group == "networking.k8s.io")
    );
    let text = e.to_string();
    assert!(text.contains("RBAC verb `list` on `networkpolicies`"), "{text}");
    assert!(
        text.contains("cannot list resource"),
        "the server's own words: {text}"
    );
}

#[test]
fn an_unreachable_server_is_named() {
    let api = MockApi::start(objects(3));
    let dir = tempfile::tempdir().unwrap();
    // The kubeconfig's second context points at a port nothing listens on.
    let e = read(&target(&api, &dir, Some("elsewhere"))).err().unwrap();
    assert!(matches!(e, ReadError::Unreachable { .. }), "{e}");
    assert!(e.to_string().contains("http://127.0.0.1:9/"), "{e}");
    assert!(api.requests().is_empty());
}

#[test]
fn an_unknown_context_is_a_configuration_error() {
    let api = MockApi::start(objects(3));
    let dir = tempfile::tempdir().unwrap();
    let e = read(&target(&api, &dir, Some("nope"))).err().unwrap();
    assert!(matches!(e, ReadError::Config(_)), "{e}");
    assert!(e.to_string().contains("nope"), "{e}");
}

#[test]
fn pods_without_an_address_are_left_out_with_a_note() {
    let pending = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "wait", "namespace": "ns0"},
                         "spec": {"containers": [{"name": "c"}]}, "status": {"phase": "Pending"}});
    let done = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "job", "namespace": "ns0"},
                      "spec": {"containers": [{"name": "c"}]}, "status": {"phase": "Succeeded", "podIP": "10.9.9.9"}});
    let api = MockApi::start(objects(0).with("pods", vec![pod(1), pending, done]));
    let dir = tempfile::tempdir().unwrap();
    let read = read(&target(&api, &dir, Some("mock"))).unwrap();
    assert!(
        read.notes
            .iter()
            .any(|n| n.starts_with("2 pod(s) without an address")),
        "{:?}",
        read.notes
    );
    let loaded = palisade_load::from_objects(read.objects, &Default::default())
        .ok()
        .unwrap();
    let names: Vec<&str> = loaded.cluster.pods.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["p1"]);
}
