//! Command-line behaviour: input forms, output shapes and formats, semantics corners.

mod common;
use common::*;
use serde_json::Value;

fn shop() -> String {
    format!("{}/../../examples/shop", env!("CARGO_MANIFEST_DIR"))
}

fn run_ok(args: &[&str], stdin: Option<&str>) -> String {
    let mut cmd = palisade();
    cmd.args(args);
    if let Some(s) = stdin {
        cmd.write_stdin(s);
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn port_json_has_exactly_the_documented_shape() {
    let v: Value = serde_json::from_str(&run_ok(
        &["analyze", &shop(), "--port", "80/TCP", "-o", "json"],
        None,
    ))
    .unwrap();
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["matrix", "pods", "port", "protocol"]);
    assert_eq!(v["protocol"], "TCP");
    assert_eq!(v["port"], 80);
    let pods: Vec<&str> = v["pods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    assert_eq!(
        pods,
        [
            "kube-system/coredns",
            "monitoring/prometheus",
            "shop/backend",
            "shop/database",
            "shop/frontend"
        ]
    );
    allowed_pairs(&v); // every ordered pair present, self allowed
}

#[test]
fn summary_of_the_shop_example() {
    // Counted by hand from the policies (see README's demo table): TCP 11 pairs, UDP 5
    // (everyone to coredns, and coredns to prometheus), SCTP 2 (coredns <-> prometheus).
    let v: Value = serde_json::from_str(&run_ok(&["analyze", &shop(), "-o", "summary"], None)).unwrap();
    assert_eq!(v["pods"], 5);
    assert_eq!(v["namespaces"], 3);
    assert_eq!(v["policies"], 8);
    assert_eq!(v["allowed_pairs"]["TCP"], 11);
    assert_eq!(v["allowed_pairs"]["UDP"], 5);
    assert_eq!(v["allowed_pairs"]["SCTP"], 2);
    assert_eq!(v["isolated"]["ingress"], 3);
    assert_eq!(v["isolated"]["egress"], 3);
    assert_eq!(v["workloads"], 5);
    assert!(v["classes"].as_u64().unwrap() <= 5);
}

#[test]
fn stdin_lists_workloads_and_skipped_kinds() {
    let input = r#"
apiVersion: v1
kind: List
items:
- apiVersion: apps/v1
  kind: DaemonSet
  metadata: {name: agent, namespace: ops}
  spec:
    selector: {matchLabels: {app: agent}}
    template:
      metadata: {labels: {app: agent}}
      spec: {containers: [{name: c, image: x}]}
- apiVersion: batch/v1
  kind: CronJob
  metadata: {name: backup, namespace: ops}
  spec:
    schedule: "* * * * *"
    jobTemplate:
      spec:
        template:
          metadata: {labels: {app: backup}}
          spec: {containers: [{name: c, image: x}], restartPolicy: Never}
- apiVersion: v1
  kind: Service
  metadata: {name: svc, namespace: ops}
---
apiVersion: v1
kind: PodList
items:
- apiVersion: v1
  kind: Pod
  metadata: {name: p1, namespace: ops, labels: {app: agent}}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: cm}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicyList
items:
- apiVersion: networking.k8s.io/v1
  kind: NetworkPolicy
  metadata: {name: deny, namespace: ops}
  spec:
    podSelector: {matchLabels: {app: backup}}
    policyTypes: [Egress]
"#;
    let v: Value = serde_json::from_str(&run_ok(&["analyze", "-", "-o", "summary"], Some(input))).unwrap();
    assert_eq!(v["pods"], 3, "agent, backup (workloads) and p1");
    assert_eq!(v["workloads"], 2);
    assert_eq!(v["policies"], 1);
    assert_eq!(v["skipped"]["Service (v1)"], 1);
    assert_eq!(v["skipped"]["ConfigMap (v1)"], 1);
    // backup may not open connections; the others are open: 6 ordered pairs minus 2.
    assert_eq!(v["allowed_pairs"]["TCP"], 4);
    assert_eq!(v["isolated"]["egress"], 1);
}

#[test]
fn host_network_pods_are_node_traffic() {
    let y = [
        pod("x", "a", "{app: a}", "10.244.0.1"),
        "---\napiVersion: v1\nkind: Pod\nmetadata: {name: host, namespace: x, labels: {app: a}}\nspec: {hostNetwork: true, containers: [{name: c, image: x}]}\nstatus: {podIP: 192.168.1.10}\n".to_string(),
        // Every pod of x (by selector) may enter a; hostNetwork pods are not pods to selectors.
        "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: x}\nspec:\n  podSelector: {}\n  ingress:\n  - from:\n    - podSelector: {}\n".to_string(),
    ]
    .concat();
    let v = port_json(&y, "80/TCP", &[]);
    // host is never selected, so it is not isolated: a -> host allowed; host -> a denied.
    assert_eq!(allowed_pairs(&v), pairs(&[("x/a", "x/host")]));
    // An ipBlock for the node range admits it, in both modes.
    let with_block = y.replace(
        "    - podSelector: {}\n",
        "    - ipBlock: {cidr: 192.168.0.0/16}\n",
    );
    for mode in ["match", "ignore"] {
        let v = port_json(&with_block, "80/TCP", &["--ipblock-pods", mode]);
        assert!(
            allowed_pairs(&v).contains(&("x/host".into(), "x/a".into())),
            "{mode}"
        );
    }
}

fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn traffic_between_a_pod_and_its_own_node_is_always_allowed() {
    let file = fixture("node-local.yaml");
    // Expected by hand (see the fixture's comment).
    let out = run_ok(&["analyze", &file, "--port", "80/TCP", "-o", "json"], None);
    let v: Value = serde_json::from_str(&out).unwrap();
    let hosts = ["x/host-a", "x/host-b", "x/host-c"];
    let mut want = pairs(&[
        ("x/a", "x/host-a"),
        ("x/host-a", "x/a"),
        ("x/b", "x/host-b"),
        ("x/host-b", "x/b"),
        ("x/b", "x/host-c"),
        ("x/host-c", "x/b"),
    ]);
    for h in hosts {
        for k in hosts {
            if h != k {
                want.insert((h.to_string(), k.to_string()));
            }
        }
    }
    assert_eq!(allowed_pairs(&v), want);
    // explain says why, and the JSON names the node.
    let text = run_ok(
        &[
            "explain", &file, "--from", "x/host-a", "--to", "x/a", "--port", "80",
        ],
        None,
    );
    assert!(text.contains("its own node node-a"), "{text}");
    assert!(
        text.contains("Verdict: ALLOWED: node-local traffic (node node-a)"),
        "{text}"
    );
    let j: Value = serde_json::from_str(&run_ok(
        &[
            "explain", &file, "--from", "x/b", "--to", "x/host-c", "--port", "80", "-o", "json",
        ],
        None,
    ))
    .unwrap();
    assert_eq!(j["allowed"], true);
    assert_eq!(j["egress"]["node_local"], "node-b");
    let denied = run_ok(
        &[
            "explain", &file, "--from", "x/a", "--to", "x/host-b", "--port", "80",
        ],
        None,
    );
    assert!(denied.contains("Verdict: DENIED"), "{denied}");
    assert!(!denied.contains("its own node"), "{denied}");
    // The summary counts the same 12 ordered pairs for every protocol (node-local traffic
    // and hostNetwork pods are open on every port), and the other views agree.
    let sum: Value = serde_json::from_str(&run_ok(&["analyze", &file, "-o", "summary"], None)).unwrap();
    assert_eq!(
        sum["allowed_pairs"],
        serde_json::json!({"TCP": 12, "UDP": 12, "SCTP": 12})
    );
    let csv = run_ok(&["analyze", &file, "-o", "csv"], None);
    assert!(csv.contains("x/host-a,x/a,TCP,all\n"), "{csv}");
    assert!(!csv.contains("x/host-b,x/a,"), "{csv}");
    let table = run_ok(&["analyze", &file], None);
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("x/app=a ") && l.contains("[x/host-a]  all  all  all")),
        "{table}"
    );
    // A Node address no pod holds is the node too.
    for (from, verdict) in [("x/b", "ALLOWED"), ("x/a", "DENIED")] {
        let t = run_ok(
            &[
                "explain",
                &file,
                "--from",
                from,
                "--to",
                "192.0.2.2",
                "--port",
                "80",
            ],
            None,
        );
        assert!(t.contains(&format!("Verdict: {verdict}")), "{from}: {t}");
    }
    let t = run_ok(
        &[
            "explain",
            &file,
            "--from",
            "192.0.2.2",
            "--to",
            "x/b",
            "--port",
            "80",
        ],
        None,
    );
    assert!(
        t.contains("Verdict: ALLOWED: node-local traffic (node node-b)"),
        "{t}"
    );
}

#[test]
fn named_ports_resolve_per_destination() {
    let c = [
        "---\napiVersion: v1\nkind: Pod\nmetadata: {name: web1, namespace: x, labels: {app: web}}\nspec: {containers: [{name: c, image: x, ports: [{name: http, containerPort: 8080}]}]}\n".to_string(),
        "---\napiVersion: v1\nkind: Pod\nmetadata: {name: web2, namespace: x, labels: {app: web}}\nspec: {containers: [{name: c, image: x, ports: [{name: http, containerPort: 9000}, {name: dns, containerPort: 8080, protocol: UDP}]}]}\n".to_string(),
        pod("x", "client", "{app: client}", "10.244.0.9"),
        "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: x}\nspec:\n  podSelector: {matchLabels: {app: web}}\n  ingress:\n  - ports:\n    - port: http\n".to_string(),
        "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: q, namespace: x}\nspec:\n  podSelector: {matchLabels: {app: client}}\n  policyTypes: [Egress]\n  egress:\n  - ports:\n    - port: http\n".to_string(),
    ]
    .concat();
    // 8080: web1 admits (its http), web2 does not (its http is 9000). client's egress is
    // "port named http on the destination": web1 only. web1 <-> web2 follow ingress, and
    // client itself is not ingress-isolated, so both web pods reach it on any port.
    let p8080 = allowed_pairs(&port_json(&c, "8080/TCP", &[]));
    assert_eq!(
        p8080,
        pairs(&[
            ("x/client", "x/web1"),
            ("x/web2", "x/web1"),
            ("x/web1", "x/client"),
            ("x/web2", "x/client")
        ])
    );
    let p9000 = allowed_pairs(&port_json(&c, "9000/TCP", &[]));
    assert_eq!(
        p9000,
        pairs(&[
            ("x/client", "x/web2"),
            ("x/web1", "x/web2"),
            ("x/web1", "x/client"),
            ("x/web2", "x/client")
        ])
    );
    // UDP 8080 is web2's port named dns, not http: nothing enters web1/web2 on it.
    let udp = allowed_pairs(&port_json(&c, "8080/UDP", &[]));
    assert_eq!(udp, pairs(&[("x/web1", "x/client"), ("x/web2", "x/client")]));
}

#[test]
fn ipv6_and_dual_stack() {
    let c = [
        "---\napiVersion: v1\nkind: Pod\nmetadata: {name: a, namespace: x}\nspec: {containers: [{name: c, image: x}]}\nstatus: {podIPs: [{ip: 10.244.0.1}, {ip: 'fd00::1'}]}\n".to_string(),
        "---\napiVersion: v1\nkind: Pod\nmetadata: {name: b, namespace: x}\nspec: {containers: [{name: c, image: x}]}\nstatus: {podIP: 'fd00::1:5'}\n".to_string(),
        "---\napiVersion: v1\nkind: Pod\nmetadata: {name: t, namespace: x, labels: {app: t}}\nspec: {containers: [{name: c, image: x}]}\n".to_string(),
        "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: x}\nspec:\n  podSelector: {matchLabels: {app: t}}\n  ingress:\n  - from:\n    - ipBlock: {cidr: 'fd00::/64', except: ['fd00::1:0/112']}\n".to_string(),
    ]
    .concat();
    // a (fd00::1) is in the block; b (fd00::1:5) is in the except range.
    let got = allowed_pairs(&port_json(
        &c,
        "80/TCP",
        &["--pod-cidr", "10.244.0.0/16", "--pod-cidr", "fd00:1::/64"],
    ));
    let mut want = all_pairs(&["x/a", "x/b"]);
    want.extend(pairs(&[("x/t", "x/a"), ("x/t", "x/b"), ("x/a", "x/t")]));
    assert_eq!(got, want);
    // t got one address of each family from the pod CIDRs.
    let v: Value = serde_json::from_str(&run_ok(
        &[
            "analyze",
            "-",
            "-o",
            "json",
            "--pod-cidr",
            "10.244.0.0/16",
            "--pod-cidr",
            "fd00:1::/64",
        ],
        Some(&c),
    ))
    .unwrap();
    let t = v["pods"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "x/t")
        .unwrap();
    let ips: Vec<&str> = t["ips"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i.as_str().unwrap())
        .collect();
    assert_eq!(ips.len(), 2);
    assert!(
        ips[0].starts_with("10.244.") && ips[1].starts_with("fd00:1:"),
        "{ips:?}"
    );
}

#[test]
fn addresses_are_deterministic_and_stable() {
    let one = pod("x", "a", "{}", "10.244.0.1").replace("status:\n  podIP: 10.244.0.1\n", "");
    let two = format!(
        "{one}{}",
        pod("x", "b", "{}", "1.1.1.1").replace("status:\n  podIP: 1.1.1.1\n", "")
    );
    let ip_of = |text: &str| -> String {
        let v: Value = serde_json::from_str(&run_ok(&["analyze", "-", "-o", "json"], Some(text))).unwrap();
        v["pods"][0]["ips"][0].as_str().unwrap().to_string()
    };
    // Adding another pod does not move x/a.
    assert_eq!(ip_of(&one), ip_of(&two));
    assert_eq!(ip_of(&two), ip_of(&two));
}

#[test]
fn every_format_renders_the_shop() {
    for f in ["table", "json", "yaml", "csv", "dot", "md"] {
        let out = run_ok(&["analyze", &shop(), "-o", f], None);
        assert!(out.contains("shop/frontend"), "{f}: {out}");
    }
    // YAML and JSON carry the same data.
    let j: Value = serde_json::from_str(&run_ok(&["analyze", &shop(), "-o", "json"], None)).unwrap();
    let y = run_ok(&["analyze", &shop(), "-o", "yaml"], None);
    let (docs, err) = palisade_load::yaml::parse_documents(&y);
    assert!(err.is_none());
    assert_eq!(docs[0].value, j);
    // The frontend -> backend row says TCP 8080 only (checked by hand against the policies).
    let fb = j["connections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["from"] == "shop/frontend" && c["to"] == "shop/backend")
        .unwrap();
    assert_eq!(fb["TCP"], serde_json::json!(["8080"]));
    assert_eq!(fb["UDP"], serde_json::json!([]));
    let csv = run_ok(&["analyze", &shop(), "-o", "csv"], None);
    assert!(
        csv.lines().any(|l| l == "shop/frontend,shop/backend,TCP,8080"),
        "{csv}"
    );
}

#[test]
fn explain_json_and_unknown_pod() {
    let v: Value = serde_json::from_str(&run_ok(
        &[
            "explain",
            "--from",
            "shop/frontend",
            "--to",
            "shop/backend",
            "--port",
            "8080/TCP",
            "-o",
            "json",
            &shop(),
        ],
        None,
    ))
    .unwrap();
    assert_eq!(v["allowed"], true);
    assert_eq!(v["egress"]["subject"], "isolated");
    let allowing: Vec<&str> = v["egress"]["policies"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["allows"] == true)
        .map(|p| p["policy"].as_str().unwrap())
        .collect();
    assert_eq!(allowing, ["shop/frontend-to-backend"]);
    let out = palisade()
        .args([
            "explain",
            "--from",
            "shop/nope",
            "--to",
            "shop/backend",
            "--port",
            "80",
            &shop(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no pod shop/nope"));
    // An address that is no pod is an external endpoint.
    let text = run_ok(
        &[
            "explain",
            "--from",
            "203.0.113.7",
            "--to",
            "shop/frontend",
            "--port",
            "8080",
            &shop(),
        ],
        None,
    );
    assert!(text.contains("ALLOWED") && text.contains("not a pod"), "{text}");
}

#[test]
fn demo_runs() {
    let out = run_ok(&["demo"], None);
    assert!(
        out.contains("shop/frontend") && out.contains("Verdict: DENIED"),
        "{out}"
    );
}

#[test]
fn agent_help_and_behaviour_agree_on_node() {
    let help = run_ok(&["agent", "--help"], None);
    assert!(
        help.contains("--node <NAME>") && help.contains("downward API"),
        "{help}"
    );
    assert!(!help.contains("all pods when omitted"), "{help}");
    let out = palisade()
        .args(["agent", "--source", "dir:/nonexistent"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--node <NAME>"));
}
