//! Input as people really have it, read as kubectl reads it: raw API lists whose items
//! carry no kind, strict field validation with did-you-mean, near-miss kinds, removed
//! apiVersions, directories that hold other tools' files, addresses as Go parses them,
//! and options that used to lose data without a word. Every expectation is derived by
//! hand from the fixture next to it.

mod common;

use std::path::Path;

use common::{allowed_pairs, pairs, palisade};
use serde_json::Value;

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

/// Runs palisade with `args`; returns (exit code, stdout, stderr).
fn run(args: &[&str]) -> (i32, String, String) {
    let out = palisade().args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn port_matrix(args: &[&str]) -> Value {
    let (code, out, err) = run(&[&["analyze", "--port", "80", "-o", "json"], args].concat());
    assert_eq!(code, 0, "{err}");
    serde_json::from_str(&out).unwrap()
}

/// Pods a and b in namespace x (10.1.0.1, 10.1.0.2) as a raw API PodList (no item kinds),
/// and a NetworkPolicyList whose one item denies all ingress to b.
const POD_LIST: &str = r#"{"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": "7"}, "items": [
 {"metadata": {"name": "a", "namespace": "x", "labels": {"app": "a"}}, "spec": {"containers": [{"name": "c"}]}, "status": {"podIP": "10.1.0.1"}},
 {"metadata": {"name": "b", "namespace": "x", "labels": {"app": "b"}}, "spec": {"containers": [{"name": "c"}]}, "status": {"podIP": "10.1.0.2"}}]}"#;

const POLICY_LIST_YAML: &str = "kind: NetworkPolicyList\napiVersion: networking.k8s.io/v1\nitems:\n- metadata: {name: deny-b, namespace: x}\n  spec:\n    podSelector: {matchLabels: {app: b}}\n    policyTypes: [Ingress]\n";

#[test]
fn raw_api_lists_take_their_items_kind_from_the_list() {
    let dir = tempfile::tempdir().unwrap();
    let pods = write(dir.path(), "pods.json", POD_LIST);
    let pols = write(dir.path(), "policies.yaml", POLICY_LIST_YAML);
    let m = port_matrix(&[&pods, &pols]);
    assert_eq!(m["pods"], serde_json::json!(["x/a", "x/b"]));
    // b is isolated for ingress with no rule: only b -> a remains.
    assert_eq!(allowed_pairs(&m), pairs(&[("x/b", "x/a")]));
    // The same pods as a YAML PodList.
    let yaml = "kind: PodList\napiVersion: v1\nitems:\n- metadata: {name: a, namespace: x}\n  spec: {containers: [{name: c}]}\n";
    let p = write(dir.path(), "pods.yaml", yaml);
    let m = port_matrix(&[&p]);
    assert_eq!(m["pods"], serde_json::json!(["x/a"]));
    // A generic List still needs kinds on its items.
    let generic = "kind: List\napiVersion: v1\nitems:\n- metadata: {name: a, namespace: x}\n";
    let g = write(dir.path(), "generic.yaml", generic);
    let (code, _, err) = run(&["analyze", &g]);
    assert_eq!(code, 2);
    assert!(
        err.contains(&format!("{g}:4:3: items[0].kind: Required value")),
        "{err}"
    );
}

#[test]
fn unknown_fields_follow_kubectl_validate() {
    let dir = tempfile::tempdir().unwrap();
    let text = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: db, namespace: shop}\nspec:\n  podSelector: {matchLabels: {app: db}}\n  ingress:\n  - form:\n    - podSelector: {matchLabels: {app: api}}\n  ingres: []\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: db, namespace: shop, labels: {app: db}}\nspec:\n  containers:\n  - name: c\n    ports:\n    - containerport: 3535\n";
    let f = write(dir.path(), "typos.yaml", text);
    let (code, out, err) = run(&["analyze", &f]);
    assert_eq!(code, 2, "{err}");
    assert!(out.is_empty());
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(
        lines[..3],
        [
            format!("{f}:7:5: spec.ingress[0].form: unknown field \"form\" (did you mean \"from\"?) (NetworkPolicy shop/db)"),
            format!("{f}:9:3: spec.ingres: unknown field \"ingres\" (did you mean \"ingress\"?) (NetworkPolicy shop/db)"),
            format!("{f}:18:22: spec.containers[0].ports[0].containerport: unknown field \"containerport\" (did you mean \"containerPort\"?) (Pod shop/db)"),
        ]
    );
    // The value the user never wrote is not reported in strict mode.
    assert!(!err.contains("Invalid value: 0"), "{err}");
    // warn: the fields are ignored with a warning (here the port then is 0, an error,
    // and the warning that explains it is printed too).
    let (code, _, err) = run(&["analyze", "--validate=warn", &f]);
    assert_eq!(code, 2);
    assert!(err.contains("Invalid value: 0"), "{err}");
    assert!(
        err.contains("warning: ") && err.contains("unknown field \"containerport\""),
        "{err}"
    );
    // Without the port, warn analyses: `form` dropped means the rule allows every source.
    let no_port = text.replace("    ports:\n    - containerport: 3535\n", "");
    let f2 = write(dir.path(), "typos2.yaml", &no_port);
    let (code, _, err) = run(&["analyze", "--validate=warn", &f2]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("warning: ") && err.contains("unknown field \"form\""),
        "{err}"
    );
    let (code, _, err) = run(&["analyze", "--validate=ignore", &f2]);
    assert_eq!(code, 0);
    assert!(!err.contains("unknown field"), "{err}");
    // JSON reads the same way (its fast path falls back to name the field).
    let json = r#"{"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "p", "namespace": "n"}, "spec": {"podSelector": {}, "polcyTypes": ["Ingress"]}}"#;
    let j = write(dir.path(), "p.json", json);
    let (code, _, err) = run(&["analyze", &j]);
    assert_eq!(code, 2);
    assert!(
        err.contains(&format!("{j}:1:138: spec.polcyTypes: unknown field \"polcyTypes\" (did you mean \"policyTypes\"?) (NetworkPolicy n/p)")),
        "{err}"
    );
}

#[test]
fn lint_reports_unknown_fields_as_invalid_manifests() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        "p.yaml",
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: n}\nspec:\n  podSelector: {}\n  ingres: []\n",
    );
    let (code, out, _) = run(&["lint", "-o", "json", &f]);
    assert_eq!(code, 1);
    let v: Value = serde_json::from_str(&out).unwrap();
    let findings = v["findings"].as_array().expect("findings");
    assert!(
        findings.iter().any(|x| x["rule"] == "PAL000"
            && x["message"]
                .as_str()
                .unwrap()
                .contains("unknown field \"ingres\"")),
        "{out}"
    );
}

#[test]
fn near_miss_kinds_and_missing_api_versions_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        "k.yaml",
        "apiVersion: networking.k8s.io/v1\nkind: Networkpolicy\nmetadata: {name: a, namespace: n}\n---\nkind: NetworkPolicy\nmetadata: {name: b, namespace: n}\n---\napiVersion: v1\nkind: NetworkPolicy\nmetadata: {name: c, namespace: n}\n",
    );
    let (code, _, err) = run(&["analyze", &f]);
    assert_eq!(code, 2);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(
        lines[..3],
        [
            format!("{f}:2:7: kind: Invalid value: \"Networkpolicy\": no kind \"Networkpolicy\" is registered (did you mean \"NetworkPolicy\"?) (Networkpolicy n/a)"),
            format!("{f}:5:1: apiVersion: Required value: every object needs an apiVersion (did you mean \"apiVersion: networking.k8s.io/v1\"?) (NetworkPolicy n/b)"),
            format!("{f}:8:13: apiVersion: Invalid value: \"v1\": no kind \"NetworkPolicy\" is served in version \"v1\" (did you mean \"networking.k8s.io/v1\"?) (NetworkPolicy n/c)"),
        ]
    );
}

#[test]
fn other_kinds_are_listed_and_removed_versions_read_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        "k.yaml",
        "apiVersion: crd.projectcalico.org/v1\nkind: NetworkPolicy\nmetadata: {name: calico, namespace: n}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: s, namespace: n}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: t, namespace: n}\n---\napiVersion: batch/v1beta1\nkind: CronJob\nmetadata: {name: cj, namespace: n}\nspec:\n  schedule: '* * * * *'\n  jobTemplate: {spec: {template: {spec: {containers: [{name: c}]}}}}\n---\napiVersion: extensions/v1beta1\nkind: Deployment\nmetadata: {name: d, namespace: n}\nspec: {template: {spec: {containers: [{name: c}]}}}\n",
    );
    let m = port_matrix(&[&f]);
    // Both removed-version workloads became pods; nothing isolates them.
    assert_eq!(m["pods"], serde_json::json!(["n/cj", "n/d"]));
    let (_, _, err) = run(&["analyze", "-o", "summary", &f]);
    assert!(
        err.contains("not read (Palisade reads Namespaces, Nodes, Pods, NetworkPolicies, ClusterNetworkPolicies (and v1alpha1 AdminNetworkPolicies) and workloads): NetworkPolicy (crd.projectcalico.org/v1), Service (v1) x2"),
        "{err}"
    );
    assert!(
        err.contains("apiVersion: CronJob batch/v1beta1 was removed in Kubernetes 1.25; use batch/v1"),
        "{err}"
    );
    assert!(
        err.contains("Deployment extensions/v1beta1 was removed in Kubernetes 1.16; use apps/v1"),
        "{err}"
    );
}

#[test]
fn json_duplicate_keys_are_errors_as_in_yaml() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        "d.json",
        "{\"apiVersion\": \"v1\", \"kind\": \"Pod\",\n \"metadata\": {\"name\": \"a\", \"name\": \"b\"}}\n",
    );
    let (code, _, err) = run(&["analyze", &f]);
    assert_eq!(code, 2);
    // Placed at the repeated key's value.
    assert!(
        err.contains(&format!("{f}:2:36: ")) && err.contains("\"name\" already defined"),
        "{err}"
    );
}

#[test]
fn directories_skip_files_that_are_not_manifests() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "pods.json", POD_LIST);
    let pkg = write(
        d,
        "package.json",
        "{\"name\": \"tool\", \"version\": \"1.0.0\"}\n",
    );
    let values = write(d, "values.yaml", "replicaCount: 2\nimage: {tag: v1}\n");
    write(
        d,
        "kustomization.yaml",
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [pods.json]\n",
    );
    let dir_arg = d.display().to_string();
    let (code, out, err) = run(&["analyze", "-o", "summary", &dir_arg]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains(&format!("warning: {pkg}: skipped: not a Kubernetes manifest")),
        "{err}"
    );
    assert!(
        err.contains(&format!("warning: {values}: skipped: not a Kubernetes manifest")),
        "{err}"
    );
    assert!(
        err.contains("Kustomization (kustomize.config.k8s.io/v1beta1)"),
        "{err}"
    );
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["pods"], 2);
    assert_eq!(v["skipped"]["(files that are not Kubernetes manifests)"], 2);
    assert_eq!(v["skipped"]["Kustomization (kustomize.config.k8s.io/v1beta1)"], 1);
    // Named explicitly, the same file is an error.
    let (code, _, err) = run(&["analyze", &values]);
    assert_eq!(code, 2);
    assert!(
        err.contains(&format!("{values}:1:1: kind: Required value")),
        "{err}"
    );
}

#[test]
fn options_that_used_to_lose_data() {
    let dir = tempfile::tempdir().unwrap();
    // Four pods without addresses.
    let mut text = String::new();
    for n in ["a", "b", "c", "d"] {
        text.push_str(&format!(
            "---\napiVersion: v1\nkind: Pod\nmetadata: {{name: {n}, namespace: x}}\nspec: {{containers: [{{name: c}}]}}\n"
        ));
    }
    let f = write(dir.path(), "pods.yaml", &text);
    // A /31 has no room for four pods.
    let (code, _, err) = run(&["analyze", "--pod-cidr", "10.0.0.0/31", &f]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("10.0.0.0/31 has room for 1 pod addresses"), "{err}");
    // ::/0 is large enough (its size does not fit 128 bits).
    let (code, out, err) = run(&["analyze", "--pod-cidr", "::/0", "-o", "json", &f]);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    for p in v["pods"].as_array().unwrap() {
        assert!(p["ips"][0].as_str().unwrap().contains(':'), "{p}");
    }
    // --external takes one value: the path after it stays a path.
    let d = dir.path().display().to_string();
    let (code, out, err) = run(&["analyze", "-o", "json", "--external", "w=1.2.3.4/32", &d]);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["externals"].as_array().unwrap().len(), 1, "{out}");
    assert_eq!(v["pods"].as_array().unwrap().len(), 4);
    // -n is checked as a namespace name.
    let (code, _, err) = run(&["analyze", "-n", "Not_A_Namespace", &f]);
    assert_eq!(code, 2);
    assert!(err.contains("not a valid namespace name"), "{err}");
}

#[test]
fn addresses_as_the_api_server_reads_them() {
    let dir = tempfile::tempdir().unwrap();
    // One pod whose egress allows only ::ffff:10.0.0.0/104 (that is 10.0.0.0/8) and
    // 011.0.0.0/8 (that is 11.0.0.0/8).
    let text = "apiVersion: v1\nkind: Pod\nmetadata: {name: a, namespace: x}\nspec: {containers: [{name: c}]}\nstatus: {podIP: 192.168.0.1}\n---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: out, namespace: x}\nspec:\n  podSelector: {}\n  policyTypes: [Egress]\n  egress:\n  - to:\n    - ipBlock: {cidr: \"::ffff:10.0.0.0/104\"}\n    - ipBlock: {cidr: 011.0.0.0/8}\n";
    let f = write(dir.path(), "p.yaml", text);
    let (code, out, err) = run(&[
        "analyze",
        "--port",
        "80",
        "-o",
        "json",
        "--external",
        "ten=10.9.9.9",
        "--external",
        "eleven=11.1.1.1",
        "--external",
        "twelve=12.0.0.1",
        &f,
    ]);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    // `to`: from each pod to the block.
    let ext = &v["externals"];
    assert_eq!(ext["ten"]["to"]["x/a"], true, "{out}");
    assert_eq!(ext["eleven"]["to"]["x/a"], true, "{out}");
    assert_eq!(ext["twelve"]["to"]["x/a"], false, "{out}");
    assert!(
        err.contains("spec.egress[0].to[1].ipBlock.cidr: \"011.0.0.0/8\": IPv4 parts with leading zeros are read as decimal"),
        "{err}"
    );
}

#[test]
fn non_utf8_and_type_errors_are_placed() {
    let out = palisade()
        .args(["analyze", "-"])
        .write_stdin(b"apiVersion: v1\nkind: Pod\nmetadata: {name: \xff}\n".to_vec())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("<stdin>:3:18: not UTF-8"), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        "t.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: ns}\nspec: 5\n",
    );
    let (code, _, err) = run(&["analyze", &f]);
    assert_eq!(code, 2);
    assert!(
        err.contains(&format!("{f}:4:7: spec: invalid type: integer `5`")),
        "{err}"
    );
    assert!(err.contains("(Pod ns/p)"), "{err}");
}

#[test]
fn yaml_that_the_go_parser_accepts() {
    // A tab between the items of a flow sequence (seen in real manifests).
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        "tab.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: a, namespace: x}\nspec:\n  containers:\n  - name: c\n    args: [ \"a\",\t\"b\" ]\n",
    );
    let m = port_matrix(&[&f]);
    assert_eq!(m["pods"], serde_json::json!(["x/a"]));
}

/// `kubectl get nodes -o json` output is read: a NodeList's addresses; a hostNetwork pod
/// without an address takes its node's InternalIP; an InternalIP that is no address is an
/// error at its place; Hostname entries are names, not addresses.
#[test]
fn node_lists_are_read_and_checked() {
    let dir = tempfile::tempdir().unwrap();
    let nodes = write(
        dir.path(),
        "nodes.json",
        r#"{"kind": "NodeList", "apiVersion": "v1", "items": [
 {"metadata": {"name": "n1"}, "status": {"addresses": [{"type": "Hostname", "address": "n1"}, {"type": "InternalIP", "address": "10.9.0.1"}]}}]}"#,
    );
    let pods = write(
        dir.path(),
        "pods.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: h, namespace: x}\nspec: {nodeName: n1, hostNetwork: true, containers: [{name: c}]}\n",
    );
    let (code, out, err) = run(&["analyze", &nodes, &pods, "-o", "json"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        !err.contains("Node"),
        "Nodes are read, not listed as skipped: {err}"
    );
    let v: Value = serde_json::from_str(&out).unwrap();
    assert!(
        v.to_string().contains("10.9.0.1"),
        "host-network pod takes its node's address: {v}"
    );
    let bad = write(
        dir.path(),
        "bad.yaml",
        "apiVersion: v1\nkind: Node\nmetadata: {name: n2}\nstatus:\n  addresses:\n  - {type: InternalIP, address: 10.9.0.300}\n",
    );
    let (code, _, err) = run(&["analyze", &bad]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("bad.yaml:6:"), "{err}");
    assert!(err.contains("status.addresses[0].address"), "{err}");
    assert!(err.contains("Node n2"), "{err}");
}
