//! Bad input: every problem is reported as `file:line:column: field path: message`,
//! all at once, with exit code 2 and no analysis on stdout.

use assert_cmd::Command;
use std::io::Write;

fn palisade() -> Command {
    Command::cargo_bin("palisade").unwrap()
}

/// Writes `text` to a temp file and runs `analyze` on it; returns (file path, stderr).
fn analyze_bad(text: &str) -> (String, String) {
    let mut f = tempfile::Builder::new().suffix(".yaml").tempfile().unwrap();
    f.write_all(text.as_bytes()).unwrap();
    let path = f.path().display().to_string();
    let out = palisade().args(["analyze", &path]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "exit code for bad input");
    assert!(
        out.stdout.is_empty(),
        "no analysis output: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    (path, String::from_utf8(out.stderr).unwrap())
}

fn policy(spec: &str) -> String {
    format!(
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: p\n  namespace: ns\nspec:\n{spec}"
    )
}

/// Asserts that stderr has a line `file:line:col: field: ...message...`.
fn expect(stderr: &str, file: &str, line: usize, col: usize, field: &str, message: &str) {
    let prefix = format!("{file}:{line}:{col}: {field}: ");
    assert!(
        stderr
            .lines()
            .any(|l| l.starts_with(&prefix) && l.contains(message)),
        "expected a line starting {prefix:?} containing {message:?}; got:\n{stderr}"
    );
}

#[test]
fn port_out_of_range() {
    let (f, e) = analyze_bad(&policy(
        "  podSelector: {}\n  ingress:\n  - ports:\n    - port: 0\n",
    ));
    expect(
        &e,
        &f,
        10,
        13,
        "spec.ingress[0].ports[0].port",
        "must be between 1 and 65535",
    );
    let (f, e) = analyze_bad(&policy(
        "  podSelector: {}\n  ingress:\n  - ports:\n    - port: 70000\n",
    ));
    expect(
        &e,
        &f,
        10,
        13,
        "spec.ingress[0].ports[0].port",
        "must be between 1 and 65535",
    );
}

#[test]
fn end_port_rules() {
    let (f, e) = analyze_bad(&policy(
        "  podSelector: {}\n  ingress:\n  - ports:\n    - port: 90\n      endPort: 80\n",
    ));
    expect(
        &e,
        &f,
        11,
        16,
        "spec.ingress[0].ports[0].endPort",
        "must be greater than or equal to `port`",
    );
    let (f, e) = analyze_bad(&policy(
        "  podSelector: {}\n  ingress:\n  - ports:\n    - port: http\n      endPort: 80\n",
    ));
    expect(
        &e,
        &f,
        11,
        16,
        "spec.ingress[0].ports[0].endPort",
        "may not be specified when `port` is non-numeric",
    );
    let (f, e) = analyze_bad(&policy(
        "  podSelector: {}\n  ingress:\n  - ports:\n    - endPort: 80\n",
    ));
    // `port` is missing: the closest existing field is pointed at.
    expect(
        &e,
        &f,
        10,
        7,
        "spec.ingress[0].ports[0].port",
        "must be specified when endPort is specified",
    );
}

#[test]
fn protocol_values() {
    let (f, e) = analyze_bad(&policy(
        "  podSelector: {}\n  egress:\n  - ports:\n    - protocol: ICMP\n",
    ));
    expect(
        &e,
        &f,
        10,
        17,
        "spec.egress[0].ports[0].protocol",
        "Unsupported value: \"ICMP\"",
    );
}

#[test]
fn named_port_syntax() {
    let (f, e) = analyze_bad(&policy(
        "  podSelector: {}\n  ingress:\n  - ports:\n    - port: \"8080\"\n",
    ));
    expect(
        &e,
        &f,
        10,
        13,
        "spec.ingress[0].ports[0].port",
        "must contain at least one letter",
    );
    let (f, e) = analyze_bad(&policy(
        "  podSelector: {}\n  ingress:\n  - ports:\n    - port: Web_Port\n",
    ));
    expect(
        &e,
        &f,
        10,
        13,
        "spec.ingress[0].ports[0].port",
        "must contain only alpha-numeric",
    );
}

#[test]
fn cidr_and_except() {
    let (f, e) = analyze_bad(&policy(
        "  podSelector: {}\n  egress:\n  - to:\n    - ipBlock:\n        cidr: 10.0.0.0/33\n",
    ));
    expect(
        &e,
        &f,
        11,
        15,
        "spec.egress[0].to[0].ipBlock.cidr",
        "must be a valid CIDR",
    );
    let (f, e) = analyze_bad(&policy(
        "  podSelector: {}\n  egress:\n  - to:\n    - ipBlock:\n        cidr: 10.0.0.0/16\n        except: [10.1.0.0/24, 10.0.0.0/16]\n",
    ));
    expect(
        &e,
        &f,
        12,
        18,
        "spec.egress[0].to[0].ipBlock.except[0]",
        "must be a strict subset of `cidr`",
    );
    expect(
        &e,
        &f,
        12,
        31,
        "spec.egress[0].to[0].ipBlock.except[1]",
        "must be a strict subset of `cidr`",
    );
}

#[test]
fn ipblock_never_with_selectors_and_empty_peer() {
    let (f, e) = analyze_bad(&policy(
        "  podSelector: {}\n  ingress:\n  - from:\n    - ipBlock:\n        cidr: 10.0.0.0/8\n      podSelector: {}\n    - {}\n",
    ));
    expect(
        &e,
        &f,
        10,
        7,
        "spec.ingress[0].from[0]",
        "may not specify more than 1 peer",
    );
    expect(&e, &f, 13, 7, "spec.ingress[0].from[1]", "must specify a peer");
}

#[test]
fn selector_operators_and_values() {
    let (f, e) = analyze_bad(&policy(
        "  podSelector:\n    matchExpressions:\n    - {key: app, operator: In}\n    - {key: app, operator: Exists, values: [a]}\n    - {key: app, operator: Equals, values: [a]}\n",
    ));
    // A missing field points at its parent item; a list value at its key.
    expect(
        &e,
        &f,
        9,
        7,
        "spec.podSelector.matchExpressions[0].values",
        "must be specified when `operator` is 'In' or 'NotIn'",
    );
    expect(
        &e,
        &f,
        10,
        36,
        "spec.podSelector.matchExpressions[1].values",
        "may not be specified when `operator` is 'Exists'",
    );
    expect(
        &e,
        &f,
        11,
        28,
        "spec.podSelector.matchExpressions[2].operator",
        "not a valid selector operator",
    );
}

#[test]
fn label_keys_and_values() {
    let (f, e) = analyze_bad(&policy(
        "  podSelector:\n    matchLabels:\n      -bad: x\n      app: \"not valid!\"\n",
    ));
    expect(
        &e,
        &f,
        9,
        13,
        "spec.podSelector.matchLabels.-bad",
        "name part must consist of alphanumeric",
    );
    expect(
        &e,
        &f,
        10,
        12,
        "spec.podSelector.matchLabels.app",
        "a valid label must be an empty string",
    );
}

#[test]
fn policy_types_values() {
    let (f, e) = analyze_bad(&policy("  podSelector: {}\n  policyTypes: [Ingress, Outbound]\n"));
    expect(
        &e,
        &f,
        8,
        26,
        "spec.policyTypes[1]",
        "Unsupported value: \"Outbound\"",
    );
}

#[test]
fn wrong_types_from_the_kubernetes_schema() {
    let (f, e) = analyze_bad(&policy("  podSelector:\n    matchLabels:\n      version: 2\n"));
    expect(
        &e,
        &f,
        9,
        16,
        "spec.podSelector.matchLabels.version",
        "invalid type: integer `2`, expected a string",
    );
}

#[test]
fn all_problems_at_once_across_documents() {
    let text = format!(
        "{}---\n{}",
        policy("  podSelector: {}\n  ingress:\n  - ports:\n    - port: 0\n"),
        policy("  podSelector: {}\n  policyTypes: [Sideways]\n")
    );
    let (f, e) = analyze_bad(&text);
    expect(
        &e,
        &f,
        10,
        13,
        "spec.ingress[0].ports[0].port",
        "between 1 and 65535",
    );
    expect(&e, &f, 19, 17, "spec.policyTypes[0]", "Unsupported value");
    assert!(e.contains("2 problem(s)"), "{e}");
}

#[test]
fn broken_yaml_names_the_line() {
    let (f, e) = analyze_bad("apiVersion: v1\nkind: Pod\nmetadata:\n  name: [unclosed\n");
    assert!(
        e.lines()
            .any(|l| l.starts_with(&format!("{f}:")) && l.contains("YAML syntax error")),
        "{e}"
    );
}

#[test]
fn missing_kind_and_bad_names() {
    let (f, e) = analyze_bad("apiVersion: v1\nmetadata:\n  name: x\n");
    expect(&e, &f, 1, 1, "kind", "Object 'Kind' is missing");
    let (f, e) = analyze_bad("apiVersion: v1\nkind: Pod\nmetadata:\n  name: Bad_Name\n  namespace: x\n");
    expect(&e, &f, 4, 9, "metadata.name", "RFC 1123 subdomain");
}

#[test]
fn pod_container_ports() {
    let (f, e) = analyze_bad(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n  - name: c\n    ports:\n    - {containerPort: 0, name: Http}\n",
    );
    expect(
        &e,
        &f,
        9,
        23,
        "spec.containers[0].ports[0].containerPort",
        "between 1 and 65535",
    );
    expect(
        &e,
        &f,
        9,
        32,
        "spec.containers[0].ports[0].name",
        "must contain only alpha-numeric",
    );
}

#[test]
fn unknown_file() {
    let out = palisade()
        .args(["analyze", "/nonexistent/policies.yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let e = String::from_utf8(out.stderr).unwrap();
    assert!(e.starts_with("/nonexistent/policies.yaml: "), "{e}");
    assert!(e.contains("No such file"), "{e}");
}

#[test]
fn json_input_errors_have_positions_too() {
    let mut f = tempfile::Builder::new().suffix(".json").tempfile().unwrap();
    f.write_all(
        br#"{"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
 "metadata": {"name": "p", "namespace": "ns"},
 "spec": {"podSelector": {}, "ingress": [{"ports": [{"port": 0}]}]}}
"#,
    )
    .unwrap();
    let path = f.path().display().to_string();
    let out = palisade().args(["analyze", &path]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let e = String::from_utf8(out.stderr).unwrap();
    expect(
        &e,
        &path,
        3,
        62,
        "spec.ingress[0].ports[0].port",
        "between 1 and 65535",
    );
}
