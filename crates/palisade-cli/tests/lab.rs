//! Lab tests (root): real namespaces and packets through the real dataplane. Every test
//! compares what the packets did with what the engine predicts (`analyze --port -o json`),
//! checks the flow log against the prediction, and checks that the lab cleaned up.

mod common;
use common::*;
use serde_json::Value;
use std::io::Write;

fn example(path: &str) -> String {
    format!("{}/../../examples/{path}", env!("CARGO_MANIFEST_DIR"))
}

fn namespaces_of(lab: &str) -> Vec<String> {
    let out = std::process::Command::new("ip")
        .args(["netns", "list"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with(&format!("pal-{lab}-")))
        .map(|l| l.to_string())
        .collect()
}

/// Runs the lab on `file` for `ports`, asserts observed == predicted for each, and
/// returns the flow log lines. `extra` goes to the lab (and, but for the dataplane's own
/// flags, to `analyze`). Without `--log-allowed` the dataplane uses one-lookup chains.
pub fn lab_matches_engine(lab: &str, file: &str, ports: &[&str], extra: &[&str]) -> Vec<Value> {
    let flows = tempfile::NamedTempFile::new().unwrap();
    let flow_path = flows.path().display().to_string();
    let mut args = vec![
        "lab",
        "run",
        file,
        "--lab",
        lab,
        "-o",
        "json",
        "--flow-log",
        &flow_path,
    ];
    for p in ports {
        args.extend(["--port", p]);
    }
    args.extend(extra);
    let out = palisade().args(&args).output().unwrap();
    assert!(
        out.status.success(),
        "lab run: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let observed: Value = serde_json::from_slice(&out.stdout).unwrap();
    let observed: Vec<Value> = match observed {
        Value::Array(v) => v,
        one => vec![one],
    };
    assert!(namespaces_of(lab).is_empty(), "lab {lab} left namespaces behind");
    let lines: Vec<Value> = std::fs::read_to_string(&flow_path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut any_denied_predicted = false;
    for (p, obs) in ports.iter().zip(&observed) {
        let mut a = vec!["analyze", file, "--port", p, "-o", "json"];
        a.extend(extra.iter().filter(|x| !["--audit", "--log-allowed"].contains(x)));
        let pred = palisade().args(&a).output().unwrap();
        assert!(pred.status.success(), "{}", String::from_utf8_lossy(&pred.stderr));
        let pred: Value = serde_json::from_slice(&pred.stdout).unwrap();
        if !extra.contains(&"--audit") {
            assert_eq!(obs["pods"], pred["pods"], "{lab} {p}");
            assert_eq!(
                obs["matrix"], pred["matrix"],
                "{lab} {p}: observed (left) != predicted (right)"
            );
        }
        // Every denial in the flow log is a flow the engine denies.
        let (port, proto) = p.split_once('/').unwrap_or((p, "TCP"));
        for l in lines.iter().filter(|l| {
            l["verdict"] == "denied" && l["port"] == port.parse::<u16>().unwrap() && l["protocol"] == proto
        }) {
            let (s, d) = (l["src"].as_str().unwrap(), l["dst"].as_str().unwrap());
            assert_eq!(
                pred["matrix"][s][d], false,
                "{lab}: flow log denies {s} -> {d} on {p}, engine allows: {l}"
            );
            if l["tier"].is_null() {
                assert_eq!(l["policy"], "default-deny");
                assert!(!l["isolated_by"].as_array().unwrap().is_empty());
            } else {
                // A ClusterNetworkPolicy rule denied: named with its tier and rule.
                assert!(
                    ["Admin", "Baseline"].contains(&l["tier"].as_str().unwrap()),
                    "{l}"
                );
                assert!(l["rule"].is_u64() && l["policy"].is_string(), "{l}");
            }
        }
        any_denied_predicted |= pred["matrix"]
            .as_object()
            .unwrap()
            .values()
            .any(|r| r.as_object().unwrap().values().any(|v| v == false));
    }
    if extra.contains(&"--log-allowed") {
        assert!(!lines.is_empty(), "{lab}: the flow log is empty");
    }
    if any_denied_predicted {
        let verdict = if extra.contains(&"--audit") {
            "audit"
        } else {
            "denied"
        };
        assert!(
            lines.iter().any(|l| l["verdict"] == verdict),
            "{lab}: denials were not logged"
        );
    }
    lines
}

fn write_temp(text: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::Builder::new().suffix(".yaml").tempfile().unwrap();
    f.write_all(text.as_bytes()).unwrap();
    f
}

#[test]
fn lab_shop_three_tier_default_deny_dns() {
    if !common::root_or_skip("creates network namespaces and nftables tables") {
        return;
    }
    let lines = lab_matches_engine(
        "shop",
        &example("shop"),
        &["8080/TCP", "5432/TCP", "53/UDP", "9090/TCP"],
        &["--log-allowed"],
    );
    // The frontend's attempt on the database is denied by the database's ingress... or by
    // the frontend's egress first, which is what the packet meets first on the node.
    let l = lines
        .iter()
        .find(|l| l["src"] == "shop/frontend" && l["dst"] == "shop/database" && l["port"] == 5432)
        .expect("frontend -> database was logged");
    assert_eq!(l["verdict"], "denied");
    assert_eq!(l["direction"], "egress");
    // An allowed flow names the rules on both sides.
    let ok = lines
        .iter()
        .find(|l| l["src"] == "shop/frontend" && l["dst"] == "shop/backend" && l["port"] == 8080)
        .expect("frontend -> backend was logged");
    assert_eq!(ok["verdict"], "allowed");
    assert_eq!(ok["ingress"]["policy"], "shop/backend-ingress");
    assert_eq!(ok["egress"]["policy"], "shop/frontend-to-backend");
}

#[test]
fn lab_seed_namespace_isolation_ipblock_both_modes() {
    if !common::root_or_skip("creates network namespaces and nftables tables") {
        return;
    }
    let f = example("seeds/000-namespace-isolation.yaml");
    lab_matches_engine("seed0m", &f, &["443/TCP"], &["--ipblock-pods", "match"]);
    lab_matches_engine("seed0i", &f, &["443/TCP"], &["--ipblock-pods", "ignore"]);
}

#[test]
fn lab_seed_guide_and_zero_trust_and_incidents() {
    if !common::root_or_skip("creates network namespaces and nftables tables") {
        return;
    }
    lab_matches_engine(
        "seed1",
        &example("seeds/001-guide.yaml"),
        &["8080/TCP", "53/UDP", "9090/TCP"],
        &[],
    );
    lab_matches_engine(
        "seed2",
        &example("seeds/002-zero-trust.yaml"),
        &["80/TCP", "53/UDP", "53/TCP"],
        &[],
    );
    let lines = lab_matches_engine(
        "seed3",
        &example("seeds/003-incidents.yaml"),
        &["53/UDP", "5432/TCP", "8080/TCP"],
        &[],
    );
    // The invisible DNS failure, seen on the wire.
    assert!(lines.iter().any(|l| l["src"] == "production/api-server"
        && l["dst"] == "kube-system/coredns"
        && l["verdict"] == "denied"));
}

fn xyz(policies: &str) -> String {
    let mut s = String::new();
    for (i, ns) in ["x", "y", "z"].iter().enumerate() {
        s.push_str(&namespace(ns, &format!("{{ns: {ns}}}")));
        for (j, p) in ["a", "b", "c"].iter().enumerate() {
            s.push_str(&format!(
                "---\napiVersion: v1\nkind: Pod\nmetadata: {{name: {p}, namespace: {ns}, labels: {{pod: {p}}}}}\nspec:\n  containers:\n  - name: c\n    image: agnhost\n    ports:\n    - {{name: serve-80-tcp, containerPort: 80}}\n    - {{name: serve-81-tcp, containerPort: 81}}\n    - {{name: serve-80-udp, containerPort: 80, protocol: UDP}}\n    - {{name: serve-81-udp, containerPort: 81, protocol: UDP}}\nstatus: {{podIP: 10.10.{i}.{}}}\n",
                j + 1
            ));
        }
    }
    s + policies
}

fn np(ns: &str, name: &str, spec: &str) -> String {
    format!("---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: {name}, namespace: {ns}}}\nspec:\n{spec}")
}

/// The upstream model: namespaces x, y, z with pods a, b, c, serving 80 and 81 over TCP
/// and UDP; each case is probed on all four and compared with the engine.
fn upstream_cases() -> Vec<(&'static str, String)> {
    vec![
        ("none", String::new()),
        ("denyingress", np("x", "deny", "  podSelector: {}\n  policyTypes: [Ingress]\n")),
        ("denyegress", np("x", "deny", "  podSelector: {}\n  policyTypes: [Egress]\n")),
        ("denyall", np("x", "deny", "  podSelector: {}\n  policyTypes: [Ingress, Egress]\n")),
        ("allowallunion", np("x", "deny", "  podSelector: {}\n  policyTypes: [Ingress]\n") + &np("x", "all", "  podSelector: {}\n  ingress:\n  - {}\n")),
        ("samens", np("x", "same", "  podSelector: {}\n  ingress:\n  - from:\n    - podSelector: {}\n")),
        ("podb", np("x", "p", "  podSelector: {matchLabels: {pod: a}}\n  ingress:\n  - from:\n    - podSelector: {matchLabels: {pod: b}}\n")),
        ("nsy", np("x", "p", "  podSelector: {matchLabels: {pod: a}}\n  ingress:\n  - from:\n    - namespaceSelector: {matchLabels: {ns: y}}\n")),
        ("nsyandc", np("x", "p", "  podSelector: {matchLabels: {pod: a}}\n  ingress:\n  - from:\n    - namespaceSelector: {matchLabels: {ns: y}}\n      podSelector: {matchLabels: {pod: c}}\n")),
        ("nsyorc", np("x", "p", "  podSelector: {matchLabels: {pod: a}}\n  ingress:\n  - from:\n    - namespaceSelector: {matchLabels: {ns: y}}\n    - podSelector: {matchLabels: {pod: c}}\n")),
        ("port80", np("x", "p", "  podSelector: {}\n  ingress:\n  - ports:\n    - port: 80\n")),
        ("udp81", np("x", "p", "  podSelector: {}\n  ingress:\n  - ports:\n    - {protocol: UDP, port: 81}\n")),
        ("namedtcp81", np("x", "p", "  podSelector: {}\n  ingress:\n  - ports:\n    - port: serve-81-tcp\n")),
        ("endport", np("x", "p", "  podSelector: {}\n  ingress:\n  - from:\n    - namespaceSelector: {}\n    ports:\n    - {port: 80, endPort: 81}\n")),
        ("podin", np("y", "p", "  podSelector: {}\n  ingress:\n  - from:\n    - podSelector:\n        matchExpressions: [{key: pod, operator: In, values: [b, c]}]\n      namespaceSelector: {}\n")),
        ("nsnotin", np("y", "p", "  podSelector: {}\n  ingress:\n  - from:\n    - namespaceSelector:\n        matchExpressions: [{key: ns, operator: NotIn, values: [x]}]\n")),
        ("exists", np("z", "p", "  podSelector:\n    matchExpressions: [{key: pod, operator: Exists}]\n  ingress:\n  - from:\n    - podSelector:\n        matchExpressions: [{key: missing, operator: DoesNotExist}]\n")),
        ("egresstoz", np("x", "p", "  podSelector: {}\n  policyTypes: [Egress]\n  egress:\n  - to:\n    - namespaceSelector: {matchLabels: {ns: z}}\n")),
        ("egress80", np("x", "p", "  podSelector: {matchLabels: {pod: a}}\n  policyTypes: [Egress]\n  egress:\n  - ports:\n    - {protocol: TCP, port: 80}\n")),
        ("egressnamedudp", np("x", "p", "  podSelector: {}\n  policyTypes: [Egress]\n  egress:\n  - ports:\n    - {protocol: UDP, port: serve-80-udp}\n")),
        ("ipblockexcept", np("x", "p", "  podSelector: {}\n  ingress:\n  - from:\n    - ipBlock: {cidr: 10.10.0.0/16, except: [10.10.1.2/32]}\n")),
        ("egressipblock", np("y", "p", "  podSelector: {}\n  policyTypes: [Egress]\n  egress:\n  - to:\n    - ipBlock: {cidr: 10.10.2.0/30, except: [10.10.2.3/32]}\n")),
        ("impliedingress", np("x", "p", "  podSelector: {matchLabels: {pod: b}}\n  egress:\n  - to:\n    - namespaceSelector: {}\n")),
        ("byname", np("z", "p", "  podSelector: {}\n  ingress:\n  - from:\n    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: y}}\n")),
        ("union", np("x", "p1", "  podSelector: {}\n  ingress:\n  - from:\n    - namespaceSelector: {matchLabels: {ns: y}}\n    ports: [{port: 80}]\n") + &np("x", "p2", "  podSelector: {}\n  ingress:\n  - from:\n    - namespaceSelector: {matchLabels: {ns: z}}\n    ports: [{port: 81, protocol: UDP}]\n")),
    ]
}

fn run_cases(cases: Vec<(&'static str, String)>, mode: &str, log_allowed: bool) {
    for (name, policies) in cases {
        let f = write_temp(&xyz(&policies));
        let lab = format!("u{name}{}", &mode[..1]);
        let mut extra = vec!["--ipblock-pods", mode];
        if log_allowed {
            extra.push("--log-allowed");
        }
        lab_matches_engine(
            &lab,
            &f.path().display().to_string(),
            &["80/TCP", "81/TCP", "80/UDP", "81/UDP"],
            &extra,
        );
    }
}

#[test]
fn lab_upstream_model_first_half() {
    if !common::root_or_skip("creates network namespaces and nftables tables") {
        return;
    }
    let mut c = upstream_cases();
    c.truncate(13);
    run_cases(c, "match", false);
}

#[test]
fn lab_upstream_model_second_half() {
    if !common::root_or_skip("creates network namespaces and nftables tables") {
        return;
    }
    let c: Vec<_> = upstream_cases().into_iter().skip(13).collect();
    assert!(c.len() >= 12);
    run_cases(c, "match", true);
}

#[test]
fn lab_upstream_ipblock_cases_ignore_mode() {
    if !common::root_or_skip("creates network namespaces and nftables tables") {
        return;
    }
    let c: Vec<_> = upstream_cases()
        .into_iter()
        .filter(|(n, _)| n.contains("ipblock"))
        .collect();
    run_cases(c.clone(), "ignore", false);
    // The match-mode ipBlock cases through the one-lookup chains too.
    for (name, policies) in c {
        let f = write_temp(&xyz(&policies));
        let file = f.path().display().to_string();
        lab_matches_engine(
            &format!("f{name}"),
            &file,
            &["80/TCP", "81/UDP"],
            &["--ipblock-pods", "match"],
        );
    }
}

#[test]
fn lab_multi_node_enforces_on_each_side() {
    if !common::root_or_skip("creates network namespaces and nftables tables") {
        return;
    }
    // x/a and y/b on node n1, the rest on n2; x isolates egress to y only, y admits from x on 80.
    let mut yaml = xyz(&(np("x", "out", "  podSelector: {}\n  policyTypes: [Egress]\n  egress:\n  - to:\n    - namespaceSelector: {matchLabels: {ns: y}}\n")
        + &np("y", "in", "  podSelector: {}\n  ingress:\n  - from:\n    - namespaceSelector: {matchLabels: {ns: x}}\n    ports: [{port: 80}]\n")));
    yaml = yaml.replace("spec:\n  containers:", "spec:\n  nodeName: n2\n  containers:");
    yaml = yaml.replacen("spec:\n  nodeName: n2", "spec:\n  nodeName: n1", 1); // x/a
    let pos = yaml.find("name: b, namespace: y").unwrap();
    let (head, tail) = yaml.split_at(pos);
    let yaml = format!("{head}{}", tail.replacen("nodeName: n2", "nodeName: n1", 1));
    let f = write_temp(&yaml);
    let lines = lab_matches_engine(
        "multinode",
        &f.path().display().to_string(),
        &["80/TCP", "81/TCP", "80/UDP"],
        &["--log-allowed"],
    );
    let nodes: std::collections::BTreeSet<&str> = lines.iter().filter_map(|l| l["node"].as_str()).collect();
    assert_eq!(
        nodes.into_iter().collect::<Vec<_>>(),
        ["n1", "n2"],
        "both nodes logged flows"
    );
    // x/a (n1) -> y/c (n2) on 81: x's egress allows it on n1, y's ingress denies it on n2.
    assert!(lines.iter().any(|l| l["src"] == "x/a"
        && l["dst"] == "y/c"
        && l["port"] == 81
        && l["verdict"] == "denied"
        && l["node"] == "n2"
        && l["direction"] == "ingress"));
}

/// The matrix of `analyze FILE --port PORT -o json` (with `extra`), as
/// `(src, dst) -> allowed`.
fn engine_matrix(
    file: &str,
    port: &str,
    extra: &[&str],
) -> std::collections::BTreeMap<(String, String), bool> {
    let mut args = vec!["analyze", file, "--port", port, "-o", "json"];
    args.extend(extra);
    let out = palisade().args(&args).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut m = std::collections::BTreeMap::new();
    for (s, row) in v["matrix"].as_object().unwrap() {
        for (d, ok) in row.as_object().unwrap() {
            m.insert((s.clone(), d.clone()), ok.as_bool().unwrap());
        }
    }
    m
}

#[test]
fn lab_shadow_policies_log_exactly_what_they_would_change() {
    if !common::root_or_skip("creates network namespaces and nftables tables") {
        return;
    }
    // Enforced: x admits y on TCP 80. Staged: y/lock isolates y, admitting x/a on TCP 81;
    // x/more admits z to x/a on TCP 80 and 81. x/a and y/b on node n1, the rest on n2.
    let staged = |ns: &str, name: &str, spec: &str| {
        format!(
            "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: {name}\n  namespace: {ns}\n  annotations: {{palisade.dev/mode: shadow}}\nspec:\n{spec}"
        )
    };
    let policies = np("x", "in", "  podSelector: {}\n  ingress:\n  - from:\n    - namespaceSelector: {matchLabels: {ns: y}}\n    ports: [{port: 80}]\n")
        + &staged("y", "lock", "  podSelector: {}\n  ingress:\n  - from:\n    - namespaceSelector: {matchLabels: {ns: x}}\n      podSelector: {matchLabels: {pod: a}}\n    ports: [{port: 81}]\n")
        + &staged("x", "more", "  podSelector: {matchLabels: {pod: a}}\n  ingress:\n  - from:\n    - namespaceSelector: {matchLabels: {ns: z}}\n    ports: [{port: 80}, {port: 81}]\n");
    let mut yaml = xyz(&policies).replace("spec:\n  containers:", "spec:\n  nodeName: n2\n  containers:");
    yaml = yaml.replacen("spec:\n  nodeName: n2", "spec:\n  nodeName: n1", 1); // x/a
    let pos = yaml.find("name: b, namespace: y").unwrap();
    let (head, tail) = yaml.split_at(pos);
    let yaml = format!("{head}{}", tail.replacen("nodeName: n2", "nodeName: n1", 1));
    let f = write_temp(&yaml);
    let file = f.path().display().to_string();
    let ports = ["80/TCP", "81/TCP", "80/UDP"];
    // The packets do what the enforced policies say (the staged ones change nothing)...
    let lines = lab_matches_engine("shadow", &file, &ports, &[]);
    // ...and the flow log's shadow records are exactly the pairs where two engine runs,
    // as enforced and with the staged policies counted, disagree.
    let mut want = std::collections::BTreeSet::new();
    for p in ports {
        let (enforced, promoted) = (
            engine_matrix(&file, p, &[]),
            engine_matrix(&file, p, &["--with-shadow"]),
        );
        for (pair, now) in &enforced {
            let then = promoted[pair];
            if *now != then {
                let verdict = if then { "shadow-allowed" } else { "shadow-denied" };
                want.insert((pair.0.clone(), pair.1.clone(), p.to_string(), verdict.to_string()));
            }
        }
    }
    assert!(want.iter().any(|w| w.3 == "shadow-allowed") && want.iter().any(|w| w.3 == "shadow-denied"));
    let mut got = std::collections::BTreeSet::new();
    let mut nodes: std::collections::BTreeMap<(String, String, String), std::collections::BTreeSet<String>> =
        Default::default();
    for l in lines
        .iter()
        .filter(|l| l["verdict"].as_str().unwrap().starts_with("shadow-"))
    {
        let port = format!("{}/{}", l["port"], l["protocol"].as_str().unwrap());
        let (s, d) = (
            l["src"].as_str().unwrap().to_string(),
            l["dst"].as_str().unwrap().to_string(),
        );
        // Named with the staged policy that would decide.
        let policy = l["policy"].as_str().unwrap();
        assert!(["y/lock", "x/more"].contains(&policy), "{l}");
        if l["verdict"] == "shadow-allowed" {
            assert_eq!((policy, l["rule"].as_u64()), ("x/more", Some(0)), "{l}");
        } else {
            assert_eq!(policy, "y/lock", "{l}");
            assert_eq!(l["isolated_by"], serde_json::json!(["y/lock"]), "{l}");
        }
        nodes
            .entry((s.clone(), d.clone(), port.clone()))
            .or_default()
            .insert(l["node"].as_str().unwrap().to_string());
        got.insert((s, d, port, l["verdict"].as_str().unwrap().to_string()));
    }
    assert_eq!(got, want, "flow log (left) != engine difference (right)");
    // Each connection is logged by one node: its destination's.
    for ((s, d, p), n) in nodes {
        assert_eq!(n.len(), 1, "{s} -> {d} {p} logged on {n:?}");
        let dst_node = if ["x/a", "y/b"].contains(&d.as_str()) {
            "n1"
        } else {
            "n2"
        };
        assert_eq!(n.iter().next().unwrap(), dst_node, "{s} -> {d} {p}");
    }
}

#[test]
fn lab_audit_mode_logs_and_lets_through() {
    if !common::root_or_skip("creates network namespaces and nftables tables") {
        return;
    }
    let f = write_temp(&xyz(&np(
        "x",
        "deny",
        "  podSelector: {}\n  policyTypes: [Ingress, Egress]\n",
    )));
    let lines = lab_matches_engine(
        "audit",
        &f.path().display().to_string(),
        &["80/TCP"],
        &["--audit", "--log-allowed"],
    );
    assert!(lines.iter().any(|l| l["verdict"] == "audit" && l["dst"] == "x/a"));
    assert!(!lines.iter().any(|l| l["verdict"] == "denied"));
    // Everything went through: observed is all-allowed.
    let out = palisade()
        .args([
            "lab",
            "run",
            &f.path().display().to_string(),
            "--lab",
            "audit2",
            "--port",
            "80/TCP",
            "-o",
            "json",
            "--audit",
        ])
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["matrix"].as_object().unwrap().values().all(|r| r
        .as_object()
        .unwrap()
        .values()
        .all(|x| x == true)));
}

#[test]
fn lab_up_probe_down_and_stale_cleanup() {
    if !common::root_or_skip("creates network namespaces and nftables tables") {
        return;
    }
    let shop = example("shop");
    // A stale namespace of this lab is cleaned by the next `up`.
    std::process::Command::new("ip")
        .args(["netns", "add", "pal-updown-stale"])
        .status()
        .unwrap();
    let out = palisade()
        .args(["lab", "up", &shop, "--lab", "updown"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let spaces = namespaces_of("updown");
    assert!(!spaces.contains(&"pal-updown-stale".to_string()));
    assert_eq!(spaces.len(), 6, "5 pods and a node: {spaces:?}");
    // The node's flow log, read by `dataplane log` inside the node namespace while probing.
    let reader = std::process::Command::new("ip")
        .args(["netns", "exec", "pal-updown-node@node"])
        .arg(assert_cmd::cargo::cargo_bin("palisade"))
        .args(["dataplane", "log", &shop, "--seconds", "4"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    let out = palisade()
        .args(["lab", "probe", &shop, "--lab", "updown", "--port", "8080/TCP"])
        .output()
        .unwrap();
    let flows = String::from_utf8(reader.wait_with_output().unwrap().stdout).unwrap();
    let denied: Vec<Value> = flows
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|l: &Value| l["verdict"] == "denied")
        .collect();
    assert!(
        denied
            .iter()
            .any(|l| l["src"] == "kube-system/coredns" && l["dst"] == "shop/backend" && l["port"] == 8080),
        "{flows}"
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.contains("0 difference(s)"), "{text}");
    let out = palisade()
        .args(["lab", "down", "--lab", "updown"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(namespaces_of("updown").is_empty());
}

#[test]
fn lab_ctrl_c_cleans_up() {
    if !common::root_or_skip("creates network namespaces and nftables tables") {
        return;
    }
    use nix::sys::signal::{kill, Signal};
    use nix::unistd::Pid;
    let f = write_temp(&xyz(&np(
        "x",
        "deny",
        "  podSelector: {}\n  policyTypes: [Ingress]\n",
    )));
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("palisade"))
        .args([
            "lab",
            "run",
            &f.path().display().to_string(),
            "--lab",
            "ctrlc",
            "--port",
            "80/TCP",
            "--port",
            "81/TCP",
            "--port",
            "80/UDP",
        ])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the lab exists, then interrupt it.
    for _ in 0..200 {
        if namespaces_of("ctrlc").len() >= 3 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    kill(Pid::from_raw(child.id() as i32), Signal::SIGINT).unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success());
    assert!(namespaces_of("ctrlc").is_empty(), "{:?}", namespaces_of("ctrlc"));
}

#[test]
fn lab_ipv6_pods_and_ipblock() {
    if !common::root_or_skip("creates network namespaces and nftables tables") {
        return;
    }
    let pod6 = |ns: &str, name: &str, ip: &str| {
        format!(
            "---\napiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: {ns}, labels: {{pod: {name}}}}}\nspec:\n  containers:\n  - name: c\n    image: x\n    ports:\n    - {{name: web, containerPort: 80}}\n    - {{name: dns, containerPort: 53, protocol: UDP}}\nstatus: {{podIPs: [{{ip: '{ip}'}}]}}\n"
        )
    };
    let yaml = [
        pod6("x", "a", "fd00::10"),
        pod6("x", "b", "fd00::20"),
        pod6("y", "c", "fd00:1::10"),
        pod6("y", "d", "fd00:1::20"),
        np("x", "in", "  podSelector: {}\n  ingress:\n  - from:\n    - ipBlock: {cidr: 'fd00:1::/64', except: ['fd00:1::20/128']}\n    ports: [{port: web}]\n"),
        np("y", "out", "  podSelector: {matchLabels: {pod: c}}\n  policyTypes: [Egress]\n  egress:\n  - to:\n    - namespaceSelector: {}\n    ports: [{protocol: UDP, port: 53}, {port: 80}]\n"),
    ]
    .concat();
    let f = write_temp(&yaml);
    let file = f.path().display().to_string();
    lab_matches_engine(
        "ipv6m",
        &file,
        &["80/TCP", "53/UDP"],
        &["--ipblock-pods", "match"],
    );
    lab_matches_engine(
        "ipv6i",
        &file,
        &["80/TCP", "53/UDP"],
        &["--ipblock-pods", "ignore", "--log-allowed"],
    );
}

#[test]
fn lab_node_local_traffic_with_host_network_pods_on_same_and_other_node() {
    if !common::root_or_skip("creates network namespaces and nftables tables") {
        return;
    }
    // The fixture (expectations by hand in its comment, checked against the engine in
    // tests/cli.rs): every pod of x isolated both ways; hostNetwork pods are their node.
    // Packets must agree: a pod and its own node talk, a pod and another node do not.
    let file = format!("{}/tests/fixtures/node-local.yaml", env!("CARGO_MANIFEST_DIR"));
    for extra in [&[][..], &["--log-allowed"][..]] {
        let lines = lab_matches_engine("nodelocal", &file, &["80/TCP", "81/TCP", "80/UDP"], extra);
        // The other node's traffic is dropped by the pod's node, and logged there.
        assert!(
            lines.iter().any(|l| l["dst"] == "x/a"
                && l["verdict"] == "denied"
                && l["node"] == "node-a"
                && l["direction"] == "ingress"),
            "{lines:?}"
        );
        // Node-local traffic never passes the forward hook: nothing logged between a and host-a.
        assert!(
            !lines.iter().any(|l| (l["src"] == "x/a" && l["dst"] == "x/host-a")
                || (l["src"] == "x/host-a" && l["dst"] == "x/a")),
            "{lines:?}"
        );
    }
}

/// The upstream ClusterNetworkPolicy conformance shape (network-policy-api's conformance
/// base: namespaces of houses, two StatefulSet pods each serving `web` TCP/80 and `dns`
/// UDP/53), with `cnps` (and NetworkPolicies) added.
fn houses(extra: &str) -> String {
    let mut s = String::new();
    let houses = [
        ("gryffindor", "harry-potter"),
        ("slytherin", "draco-malfoy"),
        ("hufflepuff", "cedric-diggory"),
        ("ravenclaw", "luna-lovegood"),
    ];
    for (i, (house, who)) in houses.iter().enumerate() {
        s.push_str(&namespace(house, &format!("{{conformance-house: {house}}}")));
        for j in 0..2 {
            s.push_str(&format!(
                "---\napiVersion: v1\nkind: Pod\nmetadata: {{name: {who}-{j}, namespace: {house}, labels: {{conformance-house: {house}}}}}\nspec:\n  containers:\n  - name: c\n    image: agnhost\n    ports:\n    - {{name: web, containerPort: 80}}\n    - {{name: dns, containerPort: 53, protocol: UDP}}\nstatus: {{podIP: 10.20.{i}.{}}}\n",
                j + 1
            ));
        }
    }
    s + extra
}

fn cnp(name: &str, tier: &str, priority: u16, spec: &str) -> String {
    format!("---\napiVersion: policy.networking.k8s.io/v1alpha2\nkind: ClusterNetworkPolicy\nmetadata: {{name: {name}}}\nspec:\n  tier: {tier}\n  priority: {priority}\n{spec}")
}

fn house(h: &str) -> String {
    format!("{{namespaces: {{matchLabels: {{conformance-house: {h}}}}}}}")
}

/// Each case with cells of the matrix derived by hand from the API text:
/// `(case, manifests, [(port, from, to, allowed)])`.
#[allow(clippy::type_complexity)]
fn tier_cases() -> Vec<(
    &'static str,
    String,
    Vec<(&'static str, &'static str, &'static str, bool)>,
)> {
    let allow_all_np = np(
        "gryffindor",
        "allow-all",
        "  podSelector: {}\n  ingress:\n  - {}\n",
    );
    vec![
        // "If Admin tier has made a final decision (Accept or Deny) on a connection, then
        // no further evaluation is done": a NetworkPolicy allowing everything does not undo
        // an Admin Deny from slytherin.
        (
            "admindeny",
            cnp("deny-slytherin", "Admin", 5, &format!("  subject: {}\n  ingress:\n  - action: Deny\n    from: [{}]\n", house("gryffindor"), house("slytherin"))) + &allow_all_np,
            vec![
                ("80/TCP", "slytherin/draco-malfoy-0", "gryffindor/harry-potter-1", false),
                ("80/TCP", "hufflepuff/cedric-diggory-0", "gryffindor/harry-potter-1", true),
            ],
        ),
        // "Pass: ... skip all further rules in the current tier": slytherin passes the
        // Admin Deny of everyone and reaches the NetworkPolicy, which allows only web.
        (
            "passtonp",
            cnp("a-pass", "Admin", 1, &format!("  subject: {}\n  ingress:\n  - action: Pass\n    from: [{}]\n", house("gryffindor"), house("slytherin")))
                + &cnp("b-deny", "Admin", 1, &format!("  subject: {}\n  ingress:\n  - action: Deny\n    from: [{{namespaces: {{}}}}]\n", house("gryffindor")))
                + &np("gryffindor", "web-only", "  podSelector: {}\n  ingress:\n  - ports: [{port: web}]\n"),
            vec![
                ("80/TCP", "slytherin/draco-malfoy-0", "gryffindor/harry-potter-0", true),
                ("53/UDP", "slytherin/draco-malfoy-0", "gryffindor/harry-potter-0", false),
                ("80/TCP", "ravenclaw/luna-lovegood-0", "gryffindor/harry-potter-0", false),
            ],
        ),
        // Pass to Baseline, rule order and priority: an Admin Deny of ravenclaw's dns
        // (priority 5) before an Admin Pass of the rest to ravenclaw (priority 7); no
        // NetworkPolicy isolates hufflepuff, so the Baseline tier reads its Accept to
        // ravenclaw before its Deny of everything.
        (
            "passtobaseline",
            cnp("no-dns", "Admin", 5, &format!("  subject: {}\n  egress:\n  - action: Deny\n    to: [{}]\n    protocols: [{{udp: {{destinationPort: {{number: 53}}}}}}]\n", house("hufflepuff"), house("ravenclaw")))
                + &cnp("pass", "Admin", 7, &format!("  subject: {}\n  egress:\n  - action: Pass\n    to: [{}]\n", house("hufflepuff"), house("ravenclaw")))
                + &cnp("base", "Baseline", 1, &format!("  subject: {}\n  egress:\n  - action: Accept\n    to: [{}]\n  - action: Deny\n    to: [{{namespaces: {{}}}}]\n", house("hufflepuff"), house("ravenclaw"))),
            vec![
                ("80/TCP", "hufflepuff/cedric-diggory-0", "ravenclaw/luna-lovegood-1", true),
                ("53/UDP", "hufflepuff/cedric-diggory-0", "ravenclaw/luna-lovegood-1", false),
                ("80/TCP", "hufflepuff/cedric-diggory-0", "gryffindor/harry-potter-1", false),
                ("80/TCP", "hufflepuff/cedric-diggory-0", "hufflepuff/cedric-diggory-1", false),
                ("80/TCP", "gryffindor/harry-potter-0", "ravenclaw/luna-lovegood-1", true),
            ],
        ),
        // "networks ... matches pod IPs too": an egress Deny to gryffindor's pod CIDR, in
        // both --ipblock-pods modes (run below), and a named port (`dns` on the
        // destination) denied to slytherin by destinationNamedPort.
        (
            "networksnamed",
            cnp("no-gryffindor", "Admin", 3, &format!("  subject: {}\n  egress:\n  - action: Deny\n    to: [{{networks: [10.20.0.0/24]}}]\n", house("ravenclaw")))
                + &cnp("no-dns", "Admin", 4, &format!("  subject: {}\n  ingress:\n  - action: Deny\n    from: [{{namespaces: {{}}}}]\n    protocols: [{{destinationNamedPort: dns}}]\n", house("slytherin"))),
            vec![
                ("80/TCP", "ravenclaw/luna-lovegood-0", "gryffindor/harry-potter-0", false),
                ("80/TCP", "ravenclaw/luna-lovegood-0", "slytherin/draco-malfoy-0", true),
                ("53/UDP", "ravenclaw/luna-lovegood-0", "slytherin/draco-malfoy-0", false),
                ("80/TCP", "gryffindor/harry-potter-0", "slytherin/draco-malfoy-0", true),
            ],
        ),
    ]
}

#[test]
fn lab_cluster_network_policy_tiers() {
    if !common::root_or_skip("creates network namespaces and nftables tables") {
        return;
    }
    for (name, manifests, cells) in tier_cases() {
        let f = write_temp(&houses(&manifests));
        let file = f.path().display().to_string();
        for (mode, extra) in [
            ("m", &["--ipblock-pods", "match"][..]),
            ("i", &["--ipblock-pods", "ignore", "--log-allowed"][..]),
        ] {
            let lab = format!("t{name}{mode}");
            let lines = lab_matches_engine(&lab, &file, &["80/TCP", "53/UDP"], extra);
            if name == "admindeny" {
                // The flow log names the tier, the object and the rule that denied.
                assert!(
                    lines.iter().any(|l| l["src"] == "slytherin/draco-malfoy-0"
                        && l["dst"] == "gryffindor/harry-potter-1"
                        && l["verdict"] == "denied"
                        && l["tier"] == "Admin"
                        && l["policy"] == "deny-slytherin"
                        && l["rule"] == 0
                        && l["direction"] == "ingress"),
                    "{lines:?}"
                );
            }
        }
        if name == "admindeny" {
            // Audit mode for the tiers: everything gets through, the Admin Deny is logged.
            let lines = lab_matches_engine("tauditm", &file, &["80/TCP"], &["--audit"]);
            assert!(
                lines
                    .iter()
                    .any(|l| l["verdict"] == "audit" && l["tier"] == "Admin"),
                "{lines:?}"
            );
        }
        for (port, from, to, want) in cells {
            let out = palisade()
                .args(["analyze", &file, "--port", port, "-o", "json"])
                .output()
                .unwrap();
            let pred: Value = serde_json::from_slice(&out.stdout).unwrap();
            assert_eq!(pred["matrix"][from][to], want, "{name} {port} {from} -> {to}");
        }
    }
}

/// `nodes` peers with host-network pods: an Admin Deny of egress from x to the Nodes
/// labelled node-a. b (on node-b) cannot reach host-a (node-a's address), but reaches
/// host-b; a keeps its own node (Palisade's node-local decision, see README). No
/// NetworkPolicy here: only the tier decides.
#[test]
fn lab_cluster_network_policy_nodes_peer_with_host_network_pods() {
    if !common::root_or_skip("creates network namespaces and nftables tables") {
        return;
    }
    let fixture = std::fs::read_to_string(format!(
        "{}/tests/fixtures/node-local.yaml",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let (nodes_and_pods, _) = fixture.split_once("- apiVersion: networking.k8s.io/v1").unwrap();
    let text = format!(
        "{nodes_and_pods}- apiVersion: policy.networking.k8s.io/v1alpha2\n  kind: ClusterNetworkPolicy\n  metadata: {{name: not-node-a}}\n  spec:\n    tier: Admin\n    priority: 1\n    subject: {{namespaces: {{}}}}\n    egress:\n    - action: Deny\n      to: [{{nodes: {{matchLabels: {{kubernetes.io/hostname: node-a}}}}}}]\n"
    );
    let f = write_temp(&text);
    let file = f.path().display().to_string();
    lab_matches_engine("tnodes", &file, &["80/TCP"], &[]);
    let out = palisade()
        .args(["analyze", &file, "--port", "80", "-o", "json"])
        .output()
        .unwrap();
    let pred: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(pred["matrix"]["x/b"]["x/host-a"], false);
    assert_eq!(pred["matrix"]["x/b"]["x/host-b"], true);
    assert_eq!(pred["matrix"]["x/a"]["x/host-a"], true);
}
