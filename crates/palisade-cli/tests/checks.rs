//! `lint`, `test`, `diff` and `scaffold` end to end on the bundled examples. Expectations
//! are derived by hand from examples/shop (see the comments).

mod common;
use common::*;
use serde_json::Value;
use std::path::Path;

fn examples() -> String {
    format!("{}/../../examples", env!("CARGO_MANIFEST_DIR"))
}

fn shop() -> String {
    format!("{}/shop", examples())
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run(args: &[&str]) -> Run {
    let out = palisade().args(args).output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

/// The shop with one policy file edited.
fn shop_copy(dir: &Path, edit: impl Fn(String) -> String) -> String {
    std::fs::create_dir_all(dir).unwrap();
    for f in ["namespaces.yaml", "workloads.yaml", "policies.yaml"] {
        let text = std::fs::read_to_string(format!("{}/{f}", shop())).unwrap();
        let text = if f == "policies.yaml" { edit(text) } else { text };
        std::fs::write(dir.join(f), text).unwrap();
    }
    dir.display().to_string()
}

/// The policies file without the document of policy `name`.
fn without(text: String, name: &str) -> String {
    let docs: Vec<&str> = text.split("\n---\n").collect();
    let kept: Vec<&str> = docs
        .into_iter()
        .filter(|d| !d.contains(&format!("name: {name}\n")))
        .collect();
    kept.join("\n---\n")
}

#[test]
fn test_passes_the_shop_assertions_and_explains_failures() {
    let spec = format!("{}/shop.test.yaml", examples());
    let r = run(&["test", &spec, &shop()]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("7 passed, 0 failed"), "{}", r.stdout);
    // Wrong on purpose: frontend to database is denied (database-ingress admits only
    // app=backend; frontend's egress allows only the backend and DNS).
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "- name: frontend reaches the database\n  from: {namespace: shop, pod: {app: frontend}}\n  to: {namespace: shop, pod: {app: database}}\n  port: 5432/TCP\n  expect: allow\n- from: {namespace: shop, pod: {app: nosuch}}\n  to: {namespace: shop}\n  port: 80\n  expect: deny\n",
    )
    .unwrap();
    let junit = dir.path().join("junit.xml");
    let r = run(&[
        "test",
        bad.to_str().unwrap(),
        &shop(),
        "--junit",
        junit.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 1);
    assert!(
        r.stdout.contains("FAIL  frontend reaches the database"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("shop/database-ingress"),
        "the explanation names the policy: {}",
        r.stdout
    );
    assert!(
        r.stdout.contains("matches no pod"),
        "a selector matching nothing fails: {}",
        r.stdout
    );
    assert!(r.stdout.contains("0 passed, 2 failed"));
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("tests=\"2\" failures=\"2\""), "{xml}");
    assert!(
        xml.contains("<testcase name=\"frontend reaches the database\""),
        "{xml}"
    );
    // JSON has the engine's explanation of each failing pair.
    let r = run(&["test", bad.to_str().unwrap(), &shop(), "-o", "json"]);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["failed"], 2);
    assert_eq!(v["results"][0]["failures"][0]["ingress"]["allowed"], false);
}

#[test]
fn test_spec_errors_name_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("spec.yaml");
    std::fs::write(
        &bad,
        "tests:\n- from: {namespace: shop}\n  to: {namespace: shop}\n  port: 99999\n  expect: maybe\n",
    )
    .unwrap();
    let r = run(&["test", bad.to_str().unwrap(), &shop()]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("spec.yaml:4:9: tests[0].port"), "{}", r.stderr);
    assert!(
        r.stderr.contains("spec.yaml:5:11: tests[0].expect"),
        "{}",
        r.stderr
    );
}

#[test]
fn diff_shows_what_a_change_closes_and_opens() {
    let dir = tempfile::tempdir().unwrap();
    // Without backend-ingress the backend (isolated by default-deny-all) no longer takes
    // the frontend's calls on 8080: one group closes, nothing opens.
    let new = shop_copy(&dir.path().join("new"), |t| without(t, "backend-ingress"));
    let r = run(&["diff", &shop(), &new]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("opened: nothing"), "{}", r.stdout);
    assert!(
        r.stdout
            .contains("shop/frontend -> shop/backend  TCP/8080  (1 pod pair"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("closed: 1 group(s)"));
    assert_eq!(run(&["diff", &shop(), &new, "--fail-on", "opened"]).code, 0);
    // The other way round it opens.
    let r = run(&["diff", &new, &shop(), "-o", "json"]);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["opened"].as_array().unwrap().len(), 1);
    assert_eq!(v["opened"][0]["ports"], "8080");
    assert_eq!(
        v["opened"][0]["policies"],
        serde_json::json!(["shop/backend-ingress", "shop/frontend-to-backend"])
    );
    assert_eq!(run(&["diff", &shop(), &shop()]).code, 0);
}

#[test]
fn diff_against_a_git_revision() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path();
    let git = |args: &[&str]| {
        let ok = std::process::Command::new("git")
            .args([
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@t",
                "-c",
                "init.defaultBranch=main",
            ])
            .args(args)
            .current_dir(repo)
            .status()
            .unwrap()
            .success();
        assert!(ok, "git {args:?}");
    };
    git(&["init", "-q"]);
    shop_copy(&repo.join("k8s"), |t| t);
    // Another tool's file in the tree is skipped (with a warning) on both sides.
    std::fs::write(repo.join("k8s/values.yaml"), "replicaCount: 2\n").unwrap();
    git(&["add", "."]);
    git(&["commit", "-qm", "shop"]);
    shop_copy(&repo.join("k8s"), |t| without(t, "database-ingress"));
    let out = palisade()
        .args(["diff", "--git", "HEAD", "k8s"])
        .current_dir(repo)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    // database-ingress gone: the database keeps its isolation (default-deny-all,
    // allow-metrics-scraping) and loses the backend's 5432.
    assert_eq!(
        out.status.code(),
        Some(1),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("shop/backend -> shop/database  TCP/5432"),
        "{stdout}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("HEAD:k8s/values.yaml: skipped: not a Kubernetes manifest"),
        "{stderr}"
    );
    assert!(
        stderr.contains("k8s/values.yaml: skipped: not a Kubernetes manifest"),
        "{stderr}"
    );
}

#[test]
fn lint_the_shop_table_json_sarif() {
    // The shop: monitoring runs prometheus with no policy at all (two warnings); the shop
    // namespace is zero trust; kube-system is the platform's and skipped.
    let r = run(&["lint", &shop()]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert!(
        r.stdout.contains("2 finding(s): 0 error(s), 2 warning(s)"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("PAL001 no-default-deny-ingress"));
    assert!(
        r.stdout.contains("namespaces.yaml:11: Namespace monitoring"),
        "{}",
        r.stdout
    );
    assert_eq!(run(&["lint", &shop(), "--fail-on", "warning"]).code, 1);
    let v: Value = serde_json::from_str(&run(&["lint", &shop(), "-o", "json"]).stdout).unwrap();
    assert_eq!(v["findings"].as_array().unwrap().len(), 2);
    assert_eq!(v["findings"][0]["line"], 11);
    let s: Value = serde_json::from_str(&run(&["lint", &shop(), "-o", "sarif"]).stdout).unwrap();
    assert_eq!(s["version"], "2.1.0");
    let results = s["runs"][0]["results"].as_array().unwrap();
    assert_eq!(results.len(), 2);
    assert_eq!(results[0]["level"], "warning");
    assert_eq!(
        results[0]["locations"][0]["physicalLocation"]["region"]["startLine"],
        11
    );
}

#[test]
fn lint_reports_invalid_manifests_as_findings() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("p.yaml");
    std::fs::write(
        &f,
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: x}\nspec:\n  podSelector: {}\n  ingress:\n  - ports:\n    - port: http\n      endPort: 90\n",
    )
    .unwrap();
    let r = run(&["lint", f.to_str().unwrap(), "-o", "json"]);
    assert_eq!(r.code, 1);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    let x = &v["findings"][0];
    assert_eq!(x["rule"], "PAL012", "{v}");
    assert_eq!(x["line"], 9);
    assert_eq!(x["field"], "spec.ingress[0].ports[0].endPort");
    // A numeric port with endPort is valid: no PAL012, no PAL000.
    let text = std::fs::read_to_string(&f)
        .unwrap()
        .replace("port: http", "port: 80");
    std::fs::write(&f, text).unwrap();
    let v: Value = serde_json::from_str(&run(&["lint", f.to_str().unwrap(), "-o", "json"]).stdout).unwrap();
    assert!(
        v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|x| x["rule"] != "PAL012" && x["rule"] != "PAL000"),
        "{v}"
    );
    // Any other rejected object is PAL000, at its line.
    std::fs::write(&f, "apiVersion: v1\nkind: Pod\nmetadata: {name: Bad_Name}\n").unwrap();
    let r = run(&["lint", f.to_str().unwrap(), "-o", "json"]);
    assert_eq!(r.code, 1);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["findings"][0]["rule"], "PAL000", "{v}");
    assert_eq!(v["findings"][0]["line"], 3);
}

/// A Pod as `kubectl get` writes it, owned by a ReplicaSet of a Deployment and without
/// labels: the finding names the Pod and finds its line (it used to name the Deployment,
/// which is in no file, and had no place). Line 6 is `metadata:` (by hand).
#[test]
fn findings_on_pods_a_workload_owns_find_their_line() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("pods.yaml");
    std::fs::write(
        &f,
        "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Pod\n  metadata:\n    name: web-7d4f9c8b6-abcde\n    namespace: x\n    ownerReferences:\n    - {apiVersion: apps/v1, kind: ReplicaSet, name: web-7d4f9c8b6, uid: u, controller: true}\n  spec:\n    containers: [{name: c, image: i}]\n  status: {podIP: 10.0.0.1}\n",
    )
    .unwrap();
    let r = run(&["lint", f.to_str().unwrap(), "-o", "json", "--fail-on", "never"]);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    let x = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["rule"] == "PAL016")
        .unwrap_or_else(|| panic!("no PAL016: {v}"));
    assert_eq!(x["object"], "Pod x/web-7d4f9c8b6-abcde", "{x}");
    assert_eq!(x["field"], "metadata.labels", "{x}");
    assert_eq!(x["line"], 6, "{x}");
}

#[test]
fn scaffold_closes_what_the_shop_did_not_declare() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("policies");
    let ws = format!("{}/workloads.yaml", shop());
    let ns = format!("{}/namespaces.yaml", shop());
    let r = run(&[
        "scaffold",
        "zero-trust",
        &ws,
        &ns,
        "--monitoring",
        "monitoring",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    // Without any policy everything is open. The scaffold keeps traffic inside each
    // namespace, DNS (53) to coredns and prometheus' scrapes of each shop pod's metrics
    // port (9090 on frontend and backend, 9187 on the database); it closes the rest.
    assert!(r.stdout.contains("opened: nothing"), "{}", r.stdout);
    for line in [
        "shop/frontend -> monitoring/prometheus  TCP+UDP+SCTP/all",
        "shop/frontend -> kube-system/coredns  TCP+UDP/1-52,54-65535",
        "monitoring/prometheus -> shop/database  TCP/1-9186,9188-65535",
        "monitoring/prometheus -> shop/backend  TCP/1-9089,9091-65535",
        "kube-system/coredns -> shop/backend  TCP+UDP+SCTP/all",
    ] {
        assert!(r.stdout.contains(line), "{line}\n{}", r.stdout);
    }
    assert!(
        !r.stdout.contains("shop/frontend -> shop/backend"),
        "same-namespace traffic stays open"
    );
    assert!(r.stdout.contains("0 error(s)"), "{}", r.stdout);
    assert!(out.join("shop.yaml").exists() && out.join("monitoring.yaml").exists());
    assert!(!out.join("kube-system.yaml").exists());
    // The generated files lint clean with the workloads, and keep the shop's tests true
    // where the shop's own policies agree with the scaffold.
    let r = run(&["lint", &ws, &ns, out.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert!(r.stdout.contains("0 finding(s)"), "{}", r.stdout);
    // To stdout without --out: YAML that loads.
    let r = run(&["scaffold", "zero-trust", &ws, &ns, "--internet-egress"]);
    assert_eq!(r.code, 0);
    assert!(r.stdout.contains("name: palisade-allow-internet-egress"));
    assert!(r.stderr.contains("What applying it would change"));
    let yaml = r.stdout;
    let out = palisade()
        .args(["analyze", "-", "-o", "summary"])
        .write_stdin(yaml)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// Names and label values that a hand-written emitter left unquoted (`0x10` read back as
/// 16, `"true"` as a boolean): scaffold, `analyze -o yaml` and lint's fixes must all
/// read back as written.
#[test]
fn yaml_written_with_tricky_names_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let pods = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n  namespace: \"0x10\"\n  labels: {env: \"true\", version: \"2\", tier: \"1e3\"}\nspec: {containers: [{name: c}]}\n---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: c\n  namespace: \"0x10\"\n  labels: {env: \"false\"}\nspec: {containers: [{name: c}]}\n---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: b\n  namespace: \"null\"\n  labels: {env: \"no\"}\nspec: {containers: [{name: c}]}\n";
    let f = dir.path().join("pods.yaml");
    std::fs::write(&f, pods).unwrap();
    let f = f.display().to_string();
    // scaffold: its own check (load, diff, lint) passes on the namespace 0x10.
    let r = run(&["scaffold", "zero-trust", &f]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("namespace: '0x10'") || r.stdout.contains("namespace: \"0x10\""),
        "{}",
        r.stdout
    );
    // analyze -o yaml reads back as the JSON output.
    let json: Value = serde_json::from_str(&run(&["analyze", "-o", "json", &f]).stdout).unwrap();
    let yaml = run(&["analyze", "-o", "yaml", &f]).stdout;
    let (docs, err) = palisade_load::yaml::parse_documents(&yaml);
    assert!(err.is_none(), "{yaml}");
    assert_eq!(docs[0].value, json, "{yaml}");
    // A lint fix carrying those labels (AND/OR confusion: as written the rule admits a and
    // c of 0x10, ANDed only a).
    let policy = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: \"null\"}\nspec:\n  podSelector: {}\n  ingress:\n  - from:\n    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: \"0x10\"}}\n    - podSelector: {matchLabels: {env: \"true\", version: \"2\"}}\n";
    let p = dir.path().join("policy.yaml");
    std::fs::write(&p, policy).unwrap();
    let r = run(&[
        "lint",
        "-o",
        "json",
        "--fail-on",
        "never",
        &f,
        p.to_str().unwrap(),
    ]);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    let fix = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["rule"] == "PAL008")
        .and_then(|x| x["fix"].as_str())
        .unwrap_or_else(|| panic!("an and-or finding with a fix: {}", r.stdout))
        .to_string();
    let snippet = fix.split_once('\n').unwrap().1;
    let (docs, err) = palisade_load::yaml::parse_documents(snippet);
    assert!(err.is_none(), "{fix}");
    let item = &docs[0].value["from"][0];
    assert_eq!(item["podSelector"]["matchLabels"]["env"], "true", "{fix}");
    assert_eq!(item["podSelector"]["matchLabels"]["version"], "2", "{fix}");
    assert_eq!(
        item["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"], "0x10",
        "{fix}"
    );
}

/// `--external` blocks are endpoints of the diff too, in both directions (by hand: the new
/// policy admits 0.0.0.0/0 on TCP 9090 into backend, which was default-deny; the egress
/// policy of `client` newly allows 203.0.113.0/24 on 443).
#[test]
fn diff_compares_external_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let base = "apiVersion: v1\nkind: Pod\nmetadata: {name: backend, namespace: default, labels: {app: backend}}\nspec: {containers: [{name: c}]}\nstatus: {podIP: 10.244.0.10}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: client, namespace: default, labels: {app: client}}\nspec: {containers: [{name: c}]}\nstatus: {podIP: 10.244.0.11}\n---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: deny, namespace: default}\nspec: {podSelector: {}, policyTypes: [Ingress, Egress]}\n";
    let added = "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: world-in, namespace: default}\nspec:\n  podSelector: {matchLabels: {app: backend}}\n  ingress:\n  - from: [{ipBlock: {cidr: 0.0.0.0/0}}]\n    ports: [{port: 9090}]\n---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: web-out, namespace: default}\nspec:\n  podSelector: {matchLabels: {app: client}}\n  policyTypes: [Egress]\n  egress:\n  - to: [{ipBlock: {cidr: 203.0.113.0/24}}]\n    ports: [{port: 443}]\n";
    let old = dir.path().join("old.yaml");
    let new = dir.path().join("new.yaml");
    std::fs::write(&old, base).unwrap();
    std::fs::write(&new, format!("{base}{added}")).unwrap();
    let r = run(&[
        "diff",
        old.to_str().unwrap(),
        new.to_str().unwrap(),
        "--external",
        "world=198.51.100.7",
        "--external",
        "web=203.0.113.9",
        "-o",
        "json",
    ]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    let opened: Vec<(String, String, String)> = v["opened"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["from"].as_str().unwrap().to_string(),
                c["to"].as_str().unwrap().to_string(),
                format!(
                    "{}/{}",
                    c["protocols"][0].as_str().unwrap(),
                    c["ports"].as_str().unwrap()
                ),
            )
        })
        .collect();
    // Groups are named by the app label. client's egress stays closed to world (and to
    // backend: egress-isolated without a rule for it), and nothing reaches client. The
    // address space the ipBlocks cut is compared too: 203.0.113.0/24 (in both blocks) and
    // the rest of IPv4 (in 0.0.0.0/0 only), each named by its first range.
    let expected: Vec<(String, String, String)> = [
        (
            "0.0.0.0-203.0.112.255 (+1 ranges)",
            "default/app=backend",
            "TCP/9090",
        ),
        ("203.0.113.0/24", "default/app=backend", "TCP/9090"),
        ("default/app=client", "203.0.113.0/24", "TCP/443"),
        ("default/app=client", "web", "TCP/443"),
        ("web", "default/app=backend", "TCP/9090"),
        ("world", "default/app=backend", "TCP/9090"),
    ]
    .iter()
    .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
    .collect();
    assert_eq!(opened, expected);
    assert!(v["closed"].as_array().unwrap().is_empty());
}

/// The scaffold's internet egress policy only allows traffic to addresses no pod has: it
/// is not redundant (lint used to say "removing this policy changes no connection").
#[test]
fn internet_egress_is_not_redundant() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("policies");
    let ws = format!("{}/workloads.yaml", shop());
    let ns = format!("{}/namespaces.yaml", shop());
    let r = run(&[
        "scaffold",
        "zero-trust",
        &ws,
        &ns,
        "--internet-egress",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let r = run(&[
        "lint",
        "-o",
        "json",
        "--fail-on",
        "never",
        &ws,
        &ns,
        out.to_str().unwrap(),
    ]);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    let redundant: Vec<&Value> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == "PAL014" || f["rule"] == "PAL015")
        .collect();
    assert!(redundant.is_empty(), "{redundant:?}");
    // And a policy that really adds nothing is still found: the same internet rule twice.
    let shop_yaml = std::fs::read_to_string(out.join("shop.yaml")).unwrap();
    let dup = shop_yaml.replace(
        "name: palisade-allow-internet-egress",
        "name: copy-of-internet-egress",
    );
    std::fs::write(
        out.join("copy.yaml"),
        dup.split("---\n")
            .filter(|d| d.contains("copy-of-internet-egress"))
            .collect::<String>(),
    )
    .unwrap();
    let r = run(&[
        "lint",
        "-o",
        "json",
        "--fail-on",
        "never",
        &ws,
        &ns,
        out.to_str().unwrap(),
    ]);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    let pal015: Vec<String> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == "PAL015")
        .map(|f| f["object"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(
        pal015.len(),
        2,
        "each copy is redundant given the other: {pal015:?}"
    );
}

/// A flow-log line of the agent's shape.
fn flow(src: &str, dst: &str, dst_ip: &str, proto: &str, port: u16, verdict: &str, time: f64) -> String {
    format!(
        "{{\"time\":{time},\"src\":\"{src}\",\"dst\":\"{dst}\",\"src_ip\":\"10.244.1.10\",\"dst_ip\":\"{dst_ip}\",\"protocol\":\"{proto}\",\"port\":{port},\"verdict\":\"{verdict}\"}}\n"
    )
}

#[test]
fn diff_flows_says_which_observed_connections_a_change_cuts() {
    let dir = tempfile::tempdir().unwrap();
    let new = shop_copy(&dir.path().join("new"), |t| without(t, "backend-ingress"));
    // Observed: frontend -> backend 8080 three times (the change cuts it, as diff says
    // above); backend -> database 5432 (kept); frontend -> database 5432, denied twice
    // (denied on both sides); frontend -> 8.8.8.8 on 53/UDP (shop's DNS egress names only
    // kube-dns pods: denied on both sides); prometheus -> backend 9090 from Hubble's log
    // (allow-metrics-scraping, kept); a Hubble reply (not a connection) and a broken line.
    let log = dir.path().join("flows.jsonl");
    let hubble = r#"{"flow":{"time":"2024-05-01T10:00:00Z","verdict":"FORWARDED","IP":{"source":"10.244.2.5","destination":"10.244.1.11"},"l4":{"TCP":{"source_port":40000,"destination_port":9090}},"source":{"namespace":"monitoring","pod_name":"prometheus"},"destination":{"namespace":"shop","pod_name":"backend"},"is_reply":false}}"#;
    let reply = hubble.replace("\"is_reply\":false", "\"is_reply\":true");
    let text = [
        flow(
            "shop/frontend",
            "shop/backend",
            "10.244.1.11",
            "TCP",
            8080,
            "allowed",
            1_714_557_600.0,
        ),
        flow(
            "shop/frontend",
            "shop/backend",
            "10.244.1.11",
            "TCP",
            8080,
            "allowed",
            1_714_557_660.0,
        ),
        flow(
            "shop/frontend",
            "shop/backend",
            "10.244.1.11",
            "TCP",
            8080,
            "allowed",
            1_714_557_630.0,
        ),
        flow(
            "shop/backend",
            "shop/database",
            "10.244.1.12",
            "TCP",
            5432,
            "allowed",
            1_714_557_600.0,
        ),
        flow(
            "shop/frontend",
            "shop/database",
            "10.244.1.12",
            "TCP",
            5432,
            "denied",
            1_714_557_600.0,
        ),
        flow(
            "shop/frontend",
            "shop/database",
            "10.244.1.12",
            "TCP",
            5432,
            "denied",
            1_714_557_601.0,
        ),
        flow(
            "shop/frontend",
            "8.8.8.8",
            "8.8.8.8",
            "UDP",
            53,
            "denied",
            1_714_557_600.0,
        ),
        format!("{hubble}\n{reply}\nnot a flow\n"),
    ]
    .concat();
    std::fs::write(&log, text).unwrap();
    let flows = log.to_str().unwrap();
    let r = run(&["diff", &shop(), &new, "--flows", flows, "--fail-on", "cut"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains(
            "Observed connections the change cuts (allowed before, denied after): 1\n  shop/frontend -> shop/backend 8080/TCP: 3 flow record(s), first 2024-05-01T10:00:00Z, last 2024-05-01T10:01:00Z\nObserved connections it newly allows: 0\n(5 connection(s) from 8 flow record(s) replayed)"
        ),
        "{}",
        r.stdout
    );
    assert!(
        r.stderr.contains("1 line(s) are not flow records"),
        "{}",
        r.stderr
    );
    // The other way round the change opens it, and cuts nothing: --fail-on cut passes.
    let r = run(&[
        "diff",
        &new,
        &shop(),
        "--flows",
        flows,
        "--fail-on",
        "cut",
        "-o",
        "json",
    ]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["flows"]["cut"], serde_json::json!([]));
    let opened = &v["flows"]["opened"];
    assert_eq!(opened.as_array().unwrap().len(), 1);
    assert_eq!(
        (&opened[0]["from"], &opened[0]["to"], &opened[0]["count"]),
        (
            &Value::from("shop/frontend"),
            &Value::from("shop/backend"),
            &Value::from(3)
        )
    );
    assert_eq!(v["flows"]["records"], 8);
    // The diff itself is unchanged by the flows.
    assert_eq!(v["opened"].as_array().unwrap().len(), 1);
    // --fail-on cut without flows is a usage error.
    assert_eq!(run(&["diff", &shop(), &new, "--fail-on", "cut"]).code, 2);
}

/// monitoring/lockdown isolates prometheus for ingress, staged (shadow) unless `mode`
/// says otherwise.
fn lockdown(mode: &str) -> String {
    format!(
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: lockdown\n  namespace: monitoring\n  annotations: {{palisade.dev/mode: {mode}}}\nspec:\n  podSelector: {{}}\n  policyTypes: [Ingress]\n"
    )
}

#[test]
fn shadow_policies_are_staged_until_with_shadow() {
    let dir = tempfile::tempdir().unwrap();
    let staged = dir.path().join("lockdown.yaml");
    std::fs::write(&staged, lockdown("shadow")).unwrap();
    let staged = staged.to_str().unwrap();
    // monitoring has no policy: coredns reaches prometheus on any port. The staged
    // lockdown changes nothing...
    let explain = |extra: &[&str]| {
        let mut args = vec![
            "explain",
            "--from",
            "kube-system/coredns",
            "--to",
            "monitoring/prometheus",
            "--port",
            "9090",
            "--exit-code",
        ];
        args.extend_from_slice(extra);
        run(&args).code
    };
    let shop = shop();
    assert_eq!(explain(&[&shop, staged]), 0);
    // ...until it is counted as enforced: prometheus is then isolated with no rule.
    assert_eq!(explain(&[&shop, staged, "--with-shadow"]), 1);
    // diff: nothing changes; with --with-shadow the ingress to prometheus closes.
    let with_staged = shop_copy(&dir.path().join("both"), |t| {
        format!("{t}\n---\n{}", lockdown("shadow"))
    });
    let r = run(&["diff", &shop, &with_staged]);
    assert_eq!(r.code, 0, "a staged policy closes nothing: {}", r.stdout);
    let r = run(&["diff", &shop, &with_staged, "--with-shadow"]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(
        r.stdout.contains("kube-system/coredns -> monitoring/prometheus"),
        "{}",
        r.stdout
    );
    // The dataplane does not enforce it: the same chains as without it, and log-only
    // rules for what it would deny (its sets come after the others, so names stay).
    let render = |input: &str| run(&["dataplane", "render", input]).stdout;
    let chains = |text: &str| -> Vec<String> {
        text.lines()
            .skip_while(|l| !l.starts_with("  chain "))
            .filter(|l| !l.contains("log prefix \"S:"))
            .map(str::to_string)
            .collect()
    };
    let staged_text = render(&with_staged);
    assert_eq!(chains(&staged_text), chains(&render(&shop)));
    assert!(
        staged_text.contains("comment \"shadow-denied monitoring/lockdown\""),
        "{staged_text}"
    );
    // `mode: enforce` is an ordinary policy; any other mode is an error naming the file,
    // line and column and the field.
    let enforced = shop_copy(&dir.path().join("enforced"), |t| {
        format!("{t}\n---\n{}", lockdown("enforce"))
    });
    assert_eq!(explain(&[&enforced]), 1);
    let wrong = shop_copy(&dir.path().join("wrong"), |t| {
        format!("{t}\n---\n{}", lockdown("staged"))
    });
    let r = run(&["analyze", &wrong]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("wrong/policies.yaml:")
            && r.stderr
                .contains(": metadata.annotations[palisade.dev/mode]: Invalid value: \"staged\""),
        "{}",
        r.stderr
    );
}
