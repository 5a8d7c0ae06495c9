//! `--from`/`--to` narrowing (analyze in its formats, diff, explain lists), `--no-headers`,
//! colour, completion scripts, man pages, `--version` and the usage exit code. Expected
//! values are derived by hand from examples/shop (the comments say how): monitoring has no
//! policy, so prometheus may send anywhere; shop denies all ingress but frontend's http
//! (8080, from anyone), backend 8080 from frontend, database 5432 from backend, and every
//! pod's `metrics` port from prometheus (frontend and backend 9090, database 9187);
//! kube-system has no policy.

mod common;

use common::palisade;

const SHOP: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/shop");

fn run(args: &[&str]) -> (i32, String, String) {
    let out = palisade().args(args).output().unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn analyze_from_a_namespace_lists_only_its_sources() {
    let (code, out, _) = run(&[
        "analyze",
        SHOP,
        "--from",
        "monitoring",
        "-o",
        "csv",
        "--no-headers",
    ]);
    assert_eq!(code, 0);
    let lines: Vec<&str> = out.lines().collect();
    // prometheus to each pod, TCP (and UDP/SCTP where everything is allowed: coredns).
    assert_eq!(
        lines,
        [
            "monitoring/prometheus,kube-system/coredns,TCP,all",
            "monitoring/prometheus,kube-system/coredns,UDP,all",
            "monitoring/prometheus,kube-system/coredns,SCTP,all",
            "monitoring/prometheus,shop/backend,TCP,9090",
            "monitoring/prometheus,shop/database,TCP,9187",
            "monitoring/prometheus,shop/frontend,TCP,\"8080,9090\"",
        ]
    );
}

#[test]
fn a_filter_that_matches_nothing_says_so() {
    let (code, out, err) = run(&["analyze", SHOP, "--from", "nosuchns", "--no-headers"]);
    assert_eq!(code, 0);
    assert!(out.is_empty(), "{out}");
    assert!(
        err.contains("warning: --from matches no pod or external block"),
        "{err}"
    );
}

#[test]
fn analyze_port_matrix_narrowed_by_labels_and_pattern() {
    let v = common::port_json(
        "",
        "5432",
        &[SHOP, "--from", "shop/*", "--to-labels", "tier=data"],
    );
    // Rows: the three shop pods; one column: the database (tier=data).
    let m = v["matrix"].as_object().unwrap();
    assert_eq!(m.len(), 3);
    for (from, allowed) in [
        ("shop/backend", true),
        ("shop/frontend", false),
        ("shop/database", true),
    ] {
        let row = m[from].as_object().unwrap();
        assert_eq!(row.len(), 1, "{from}: only the database column");
        assert_eq!(row["shop/database"], allowed, "{from} -> database on 5432");
    }
    assert_eq!(v["pods"].as_array().unwrap().len(), 3);
}

#[test]
fn analyze_table_keeps_the_other_sources_out() {
    let (code, out, _) = run(&["analyze", SHOP, "--to", "shop/backend", "--no-headers"]);
    assert_eq!(code, 0);
    // Sources of backend: frontend (8080 and, no: metrics is prometheus's), prometheus
    // (9090), database (nothing), coredns (nothing). Every row ends at backend.
    assert!(
        out.lines()
            .all(|l| l.split_whitespace().nth(1) == Some("shop/backend")),
        "{out}"
    );
    let row = |from: &str| {
        out.lines()
            .find(|l| l.starts_with(from))
            .unwrap()
            .split_whitespace()
            .nth(2)
            .unwrap()
            .to_string()
    };
    assert_eq!(row("shop/frontend"), "8080");
    assert_eq!(row("monitoring/prometheus"), "9090");
    assert_eq!(row("shop/database"), "-");
    assert!(!out.contains("FROM"), "no header row");
}

#[test]
fn summary_refuses_port_and_filters_as_usage_errors() {
    let (code, _, err) = run(&["analyze", SHOP, "-o", "summary", "--port", "80"]);
    assert_eq!(code, 2);
    assert!(err.contains("takes no --port"), "{err}");
    let (code, _, err) = run(&["analyze", SHOP, "-o", "summary", "--from", "shop"]);
    assert_eq!(code, 2);
    assert!(err.contains("takes no --from/--to"), "{err}");
    let (code, _, err) = run(&["analyze", SHOP, "--from-labels", "env in prod"]);
    assert_eq!(code, 2);
    assert!(err.contains("--from/--from-labels"), "{err}");
}

#[test]
fn diff_narrowed_to_a_source_sees_only_its_changes() {
    // Without backend-ingress, backend keeps only the metrics allowance: frontend ->
    // backend 8080 closes; prometheus -> backend 9090 is unchanged.
    let dir = tempfile::tempdir().unwrap();
    let policies = std::fs::read_to_string(format!("{SHOP}/policies.yaml")).unwrap();
    let docs: Vec<&str> = policies
        .split("\n---")
        .filter(|d| !d.contains("name: backend-ingress"))
        .collect();
    assert_eq!(docs.len(), policies.split("\n---").count() - 1);
    std::fs::create_dir(dir.path().join("new")).unwrap();
    for f in ["namespaces.yaml", "workloads.yaml"] {
        std::fs::copy(format!("{SHOP}/{f}"), dir.path().join("new").join(f)).unwrap();
    }
    std::fs::write(dir.path().join("new/policies.yaml"), docs.join("\n---")).unwrap();
    let new = dir.path().join("new").display().to_string();
    let (code, out, _) = run(&["diff", SHOP, &new]);
    assert_eq!(code, 1);
    assert!(out.contains("shop/frontend -> shop/backend  TCP/8080"), "{out}");
    let (code, out, _) = run(&["diff", SHOP, &new, "--from", "monitoring"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("opened: nothing") && out.contains("closed: nothing"),
        "{out}"
    );
    let (code, out, _) = run(&["diff", SHOP, &new, "--to-labels", "app=backend"]);
    assert_eq!(code, 1);
    assert!(out.contains("closed: 1 group(s)"), "{out}");
}

#[test]
fn explain_with_a_pattern_lists_every_pair() {
    let (code, out, _) = run(&[
        "explain",
        SHOP,
        "--from",
        "shop/*",
        "--to",
        "shop/database",
        "--port",
        "5432",
        "--exit-code",
    ]);
    // backend -> database is allowed (backend-to-database and database-ingress); frontend
    // is denied; the database itself is not a pair with itself.
    assert_eq!(code, 1, "one pair is denied");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert!(
        lines[1].starts_with("shop/backend") && lines[1].contains("ALLOWED"),
        "{out}"
    );
    assert!(
        lines[2].starts_with("shop/frontend") && lines[2].contains("DENIED"),
        "{out}"
    );
    let (code, out, _) = run(&[
        "explain",
        SHOP,
        "--from",
        "shop/back*",
        "--to",
        "shop/database",
        "--port",
        "5432",
        "--exit-code",
        "--no-headers",
        "-o",
        "json",
    ]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 1);
    assert_eq!(v[0]["allowed"], true);
}

#[test]
fn colour_only_when_asked_or_on_a_terminal() {
    let args = [
        "explain",
        SHOP,
        "--from",
        "shop/frontend",
        "--to",
        "shop/database",
        "--port",
        "5432",
    ];
    let (_, plain, _) = run(&args);
    assert!(!plain.contains('\x1b'), "a pipe gets no colour");
    let (_, always, _) = run(&[&args[..], &["--color", "always"]].concat());
    assert!(
        always.contains("\x1b[1m\x1b[31mDENIED") || always.contains("\x1b[31m"),
        "{always}"
    );
    let out = palisade().args(args).env("NO_COLOR", "1").output().unwrap();
    assert!(!String::from_utf8_lossy(&out.stdout).contains('\x1b'));
}

#[test]
fn completion_scripts_and_man_pages() {
    let (code, bash, _) = run(&["completion", "bash"]);
    assert_eq!(code, 0);
    assert!(bash.contains("_palisade()") && bash.contains("--cluster") && bash.contains("--from-labels"));
    let (_, zsh, _) = run(&["completion", "zsh"]);
    assert!(zsh.starts_with("#compdef palisade"));
    let (_, fish, _) = run(&["completion", "fish"]);
    assert!(fish.contains("complete -c palisade"));
    let (_, ps, _) = run(&["completion", "powershell"]);
    assert!(ps.contains("Register-ArgumentCompleter"));

    let dir = tempfile::tempdir().unwrap();
    let man = dir.path().join("man");
    let (code, listed, _) = run(&["manpages", man.to_str().unwrap()]);
    assert_eq!(code, 0);
    for page in [
        "palisade.1",
        "palisade-analyze.1",
        "palisade-diff.1",
        "palisade-lab-up.1",
    ] {
        assert!(man.join(page).exists(), "{page}");
        assert!(listed.contains(page));
    }
    let analyze = std::fs::read_to_string(man.join("palisade-analyze.1")).unwrap();
    assert!(
        analyze.starts_with(".ie \\n(.g .ds Aq") || analyze.contains(".TH palisade-analyze"),
        "roff"
    );
    assert!(analyze.contains("from\\-labels"), "options are documented");
}

#[test]
fn version_names_the_commit_and_build_date() {
    let (code, out, _) = run(&["--version"]);
    assert_eq!(code, 0);
    // palisade 0.1.0 (commit 0123456789ab, built 2026-12-01)
    let rest = out
        .trim()
        .strip_prefix("palisade 0.1.0 (commit ")
        .unwrap_or_else(|| panic!("{out}"));
    let (commit, date) = rest.split_once(", built ").unwrap();
    assert!(
        commit == "unknown" || commit.chars().take(12).all(|c| c.is_ascii_hexdigit()),
        "{commit}"
    );
    let date = date.strip_suffix(')').unwrap();
    assert_eq!(date.len(), 10);
    assert!(date.chars().enumerate().all(|(i, c)| if i == 4 || i == 7 {
        c == '-'
    } else {
        c.is_ascii_digit()
    }));
}

#[test]
fn exit_codes_are_in_the_help() {
    let (_, help, _) = run(&["--help"]);
    assert!(help.contains("Exit codes:") && help.contains("3  runtime failure"));
}

/// Runs `palisade ARGS` under `script`, so that stderr is a terminal; what the terminal got.
fn on_a_terminal(args: &str) -> String {
    let bin = assert_cmd::cargo::cargo_bin("palisade");
    let out = std::process::Command::new("script")
        .args([
            "-qec",
            &format!("{} {args} > /dev/null", bin.display()),
            "/dev/null",
        ])
        .output()
        .expect("script (util-linux) runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn progress_on_a_terminal_only_and_not_with_quiet() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("c.json");
    let synth = palisade()
        .args(["synth", "--pods", "3000", "--policies", "600"])
        .output()
        .unwrap();
    std::fs::write(&input, synth.stdout).unwrap();
    let input = input.display().to_string();
    let shown = on_a_terminal(&format!("analyze {input} -o summary"));
    assert!(shown.contains("reading the manifests"), "{shown:?}");
    let quiet = on_a_terminal(&format!("analyze {input} -o summary --quiet"));
    assert!(!quiet.contains("reading"), "{quiet:?}");
    // Not a terminal: nothing on stderr.
    let piped = palisade()
        .args(["analyze", &input, "-o", "summary"])
        .output()
        .unwrap();
    assert!(
        piped.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&piped.stderr)
    );
}

#[test]
fn explain_refuses_too_many_pairs_before_building_them() {
    // 200 pods: `*/*` both ways names 200 × 200 = 40,000 pairs, above the 10,000 limit.
    let synth = palisade()
        .args(["synth", "--pods", "200", "--policies", "20"])
        .output()
        .unwrap();
    let out = palisade()
        .args(["explain", "-", "--from", "*/*", "--to", "*/*", "--port", "80"])
        .write_stdin(synth.stdout)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("too many to explain one by one"), "{err}");
}
