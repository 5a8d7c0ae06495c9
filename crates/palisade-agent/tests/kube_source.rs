//! The kube source against kube-rs's client on a mocked API server (tower-test): initial
//! lists, a watch event, the watch ending (re-watch), an outage (HTTP 503: not ready, then
//! back), 410 Gone (relist: a pod deleted meanwhile disappears), and pending pods left out;
//! the network-policy-api CRDs absent (404: enforcing without them) and installed later.

use std::collections::BTreeSet;
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

use http::{Request, Response, StatusCode};
use kube::client::Body;
use kube::Client;
use palisade_agent::source::Input;
use serde_json::{json, Value};

fn pod(name: &str, ip: Option<&str>, rv: &str) -> Value {
    let mut p = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "x", "uid": name, "resourceVersion": rv, "labels": {"app": name}},
        "spec": {"containers": [{"name": "c", "image": "i"}]},
        "status": {}
    });
    if let Some(ip) = ip {
        p["status"]["podIP"] = json!(ip);
    }
    p
}

fn list(kind: &str, rv: &str, items: Vec<Value>) -> Vec<u8> {
    serde_json::to_vec(
        &json!({"apiVersion": "v1", "kind": kind, "metadata": {"resourceVersion": rv}, "items": items}),
    )
    .unwrap()
}

fn events(evs: &[(&str, Value)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (t, o) in evs {
        out.extend(serde_json::to_vec(&json!({"type": t, "object": o})).unwrap());
        out.push(b'\n');
    }
    out
}

fn gone() -> Vec<u8> {
    events(&[(
        "ERROR",
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
               "message": "too old resource version", "reason": "Expired", "code": 410}),
    )])
}

/// What the API server answers for a kind it does not serve.
fn not_found() -> Response<Body> {
    Response::builder()
        .status(StatusCode::NOT_FOUND)
        .body(Body::from(
            b"{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\",\"message\":\"the server could not find the requested resource\",\"reason\":\"NotFound\",\"code\":404}".to_vec(),
        ))
        .unwrap()
}

fn ok(body: Vec<u8>) -> Response<Body> {
    Response::builder()
        .status(StatusCode::OK)
        .body(Body::from(body))
        .unwrap()
}

/// The pod names of the next state input, skipping readiness inputs (collected).
fn next_state(rx: &Receiver<Input>, synced: &mut Vec<bool>, deadline: Instant) -> Option<BTreeSet<String>> {
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(Input::State { cluster, .. }) => {
                return Some(cluster.pods.iter().map(|p| p.name.clone()).collect())
            }
            Ok(Input::Synced(ok, _)) => synced.push(ok),
            Ok(Input::Invalid { problems, .. }) => panic!("invalid: {problems:?}"),
            Err(_) => return None,
        }
    }
    None
}

#[test]
fn relists_rewatches_and_reports_outages() {
    let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let (tx, rx) = channel();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    std::thread::spawn(move || {
        rt.block_on(async move {
            let client = Client::new(service, "default");
            // The API server: answers by resource, list or watch, following a script.
            let server = async move {
                let (mut pod_lists, mut pod_watches) = (0, 0);
                let mut held = Vec::new();
                while let Some((req, send)) = handle.next_request().await {
                    let path = req.uri().path().to_string();
                    let watch = req.uri().query().unwrap_or("").contains("watch=true");
                    match (path.as_str(), watch) {
                        ("/api/v1/pods", false) => {
                            pod_lists += 1;
                            let body = if pod_lists == 1 {
                                // b is pending: no address yet.
                                list("PodList", "1", vec![pod("a", Some("10.0.0.1"), "1"), pod("b", None, "1")])
                            } else {
                                // After 410: a was deleted while the watch was down.
                                list("PodList", "9", vec![pod("b", Some("10.0.0.2"), "8"), pod("c", Some("10.0.0.3"), "9")])
                            };
                            send.send_response(ok(body));
                        }
                        ("/api/v1/pods", true) => {
                            pod_watches += 1;
                            match pod_watches {
                                // b gets its address; then the watch ends (re-watch).
                                1 => {
                                    tokio::time::sleep(Duration::from_millis(200)).await;
                                    send.send_response(ok(events(&[("MODIFIED", pod("b", Some("10.0.0.2"), "2"))])))
                                }
                                // The API server is away.
                                2 => {
                                    tokio::time::sleep(Duration::from_millis(300)).await;
                                    send.send_response(
                                        Response::builder()
                                            .status(StatusCode::SERVICE_UNAVAILABLE)
                                            .body(Body::from(b"{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\",\"message\":\"unavailable\",\"reason\":\"ServiceUnavailable\",\"code\":503}".to_vec()))
                                            .unwrap(),
                                    );
                                }
                                // Back, but our resource version is too old.
                                3 => send.send_response(ok(gone())),
                                _ => held.push(send),
                            }
                        }
                        ("/api/v1/namespaces", false) => send.send_response(ok(list(
                            "NamespaceList",
                            "1",
                            vec![json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x", "uid": "x", "resourceVersion": "1"}})],
                        ))),
                        ("/apis/networking.k8s.io/v1/networkpolicies", false) => {
                            send.send_response(ok(list("NetworkPolicyList", "1", vec![])))
                        }
                        // The network-policy-api CRDs are not installed.
                        (p, _) if p.starts_with("/apis/policy.networking.k8s.io/") => {
                            send.send_response(not_found())
                        }
                        // Namespace and policy watches stay open and quiet.
                        (_, true) => held.push(send),
                        (other, _) => panic!("unexpected request {other}"),
                    }
                }
            };
            tokio::spawn(server);
            palisade_agent::kube::run(client, Default::default(), tx).await;
        });
    });
    let mut synced = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    // First the lists (a; b pending so left out), then b's address arrives.
    let mut states = Vec::new();
    while let Some(s) = next_state(&rx, &mut synced, deadline) {
        let done = s == BTreeSet::from(["b".to_string(), "c".to_string()]);
        states.push(s);
        if done {
            break;
        }
    }
    let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<BTreeSet<String>>();
    assert_eq!(
        states.first(),
        Some(&names(&["a"])),
        "b is pending (no address): left out"
    );
    assert!(
        states.contains(&names(&["a", "b"])),
        "b joins once it has an address: {states:?}"
    );
    assert_eq!(
        states.last().unwrap(),
        &names(&["b", "c"]),
        "after the relist a is gone: {states:?}"
    );
    // Ready, then not ready during the outage, then ready again.
    let first_true = synced.iter().position(|s| *s);
    let first_false = synced.iter().position(|s| !*s);
    assert!(first_true.is_some() && first_false > first_true, "{synced:?}");
    // Recovery is announced after the relist's state.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !synced.last().copied().unwrap_or(false) {
        if next_state(&rx, &mut synced, deadline).is_none() && Instant::now() >= deadline {
            break;
        }
    }
    assert_eq!(synced.last(), Some(&true), "{synced:?}");
}

/// The ClusterNetworkPolicy CRD is absent at first (404): the source still sends states and
/// reports ready (NetworkPolicy keeps being enforced). Once installed, the watcher's retry
/// lists it and the next state holds its objects, converted like manifests. The v1alpha1
/// kinds stay absent throughout.
#[test]
fn cluster_network_policies_absent_then_installed() {
    let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let (tx, rx) = channel();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    std::thread::spawn(move || {
        rt.block_on(async move {
            let client = Client::new(service, "default");
            let server = async move {
                let mut cnp_lists = 0;
                let mut held = Vec::new();
                while let Some((req, send)) = handle.next_request().await {
                    let path = req.uri().path().to_string();
                    let watch = req.uri().query().unwrap_or("").contains("watch=true");
                    match (path.as_str(), watch) {
                        ("/apis/policy.networking.k8s.io/v1alpha2/clusternetworkpolicies", false) => {
                            cnp_lists += 1;
                            if cnp_lists == 1 {
                                send.send_response(not_found());
                            } else {
                                let cnp = json!({
                                    "apiVersion": "policy.networking.k8s.io/v1alpha2",
                                    "kind": "ClusterNetworkPolicy",
                                    "metadata": {"name": "lockdown", "uid": "u", "resourceVersion": "5"},
                                    "spec": {"tier": "Admin", "priority": 3, "subject": {"namespaces": {}},
                                             "ingress": [{"action": "Deny", "from": [{"namespaces": {}}]}]}
                                });
                                send.send_response(ok(list("ClusterNetworkPolicyList", "5", vec![cnp])));
                            }
                        }
                        (p, _) if p.starts_with("/apis/policy.networking.k8s.io/") => {
                            send.send_response(not_found())
                        }
                        ("/api/v1/pods", false) => send.send_response(ok(list(
                            "PodList",
                            "1",
                            vec![pod("a", Some("10.0.0.1"), "1")],
                        ))),
                        ("/api/v1/namespaces", false) => {
                            send.send_response(ok(list("NamespaceList", "1", vec![])))
                        }
                        ("/apis/networking.k8s.io/v1/networkpolicies", false) => {
                            send.send_response(ok(list("NetworkPolicyList", "1", vec![])))
                        }
                        (_, true) => held.push(send),
                        (other, _) => panic!("unexpected request {other}"),
                    }
                }
            };
            tokio::spawn(server);
            palisade_agent::kube::run(client, Default::default(), tx).await;
        });
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut synced = Vec::new();
    let mut tiers = Vec::new();
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(Input::State { cluster, .. }) => {
                assert_eq!(cluster.pods.len(), 1);
                let names: Vec<String> = cluster.cluster_policies.iter().map(|c| c.name.clone()).collect();
                let done = !names.is_empty();
                tiers.push(names);
                if done {
                    break;
                }
            }
            Ok(Input::Synced(ok, _)) => synced.push(ok),
            Ok(Input::Invalid { problems, .. }) => panic!("invalid: {problems:?}"),
            Err(_) => break,
        }
    }
    assert_eq!(
        tiers.first(),
        Some(&Vec::<String>::new()),
        "first without the CRD: {tiers:?}"
    );
    assert_eq!(synced.first(), Some(&true), "ready without the CRDs: {synced:?}");
    assert_eq!(tiers.last(), Some(&vec!["lockdown".to_string()]), "{tiers:?}");
    // The absent kinds' retries (404 again) change nothing and send nothing: one state
    // without the ClusterNetworkPolicy, then one with it.
    assert_eq!(tiers.len(), 2, "{tiers:?}");
}
