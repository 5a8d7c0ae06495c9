//! `palisade flows`: filters, and `--follow` across appends and a rotation.

mod common;
use common::*;

use std::io::{BufRead, BufReader, Write};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// A flow line of the shape the agent writes (addresses are not what the filters look at).
fn line(src: &str, dst: &str, verdict: &str) -> String {
    format!("{{\"time\":1.0,\"src\":\"{src}\",\"dst\":\"{dst}\",\"src_ip\":\"10.0.0.1\",\"dst_ip\":\"10.0.0.2\",\"protocol\":\"TCP\",\"port\":80,\"verdict\":\"{verdict}\"}}\n")
}

#[test]
fn filters_by_verdict_namespace_and_pod() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("flows.jsonl");
    let text = [
        line("x/a", "y/b", "denied"),
        line("x/a", "y/c", "allowed"),
        line("z/d", "x/a", "denied"),
        line("10.0.0.9", "z/e", "audit"),
        "not json\n".to_string(),
    ]
    .concat();
    std::fs::write(&f, text).unwrap();
    let run = |args: &[&str]| {
        let out = palisade().arg("flows").arg(&f).args(args).output().unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap().lines().count()
    };
    assert_eq!(run(&[]), 4, "every flow line, the broken one skipped");
    assert_eq!(run(&["--verdict", "denied"]), 2);
    assert_eq!(run(&["--namespace", "y"]), 2);
    assert_eq!(run(&["--namespace", "x", "--verdict", "allowed"]), 1);
    assert_eq!(run(&["--pod", "x/a"]), 3);
    assert_eq!(run(&["--pod", "e"]), 1, "a bare name matches in any namespace");
    assert_eq!(run(&["--verdict", "audit", "--namespace", "x"]), 0);
}

#[test]
fn filters_by_the_deciding_policy() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("flows.jsonl");
    // A denial nothing allowed names default-deny; an allowed flow's ingress rule names its
    // policy (ahead of the egress rule's); an allowed flow without rules names none.
    let with = |l: String, extra: &str| l.replace("}\n", &format!(",{extra}}}\n"));
    let text = [
        with(line("x/a", "y/b", "denied"), r#""direction":"ingress","policy":"default-deny""#),
        with(
            line("x/a", "y/c", "allowed"),
            r#""ingress":{"direction":"ingress","policy":"y/in","rule":0},"egress":{"direction":"egress","policy":"x/out","rule":1}"#,
        ),
        with(line("x/a", "y/d", "allowed"), r#""egress":{"direction":"egress","policy":"x/out","rule":0}"#),
        line("x/a", "y/e", "allowed"),
    ]
    .concat();
    std::fs::write(&f, text).unwrap();
    let run = |policy: &str| {
        let out = palisade()
            .arg("flows")
            .arg(&f)
            .args(["--policy", policy])
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["dst"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(run("default-deny"), ["y/b"]);
    assert_eq!(run("y/in"), ["y/c"]);
    assert_eq!(run("x/out"), ["y/d"]);
}

#[test]
fn follow_reads_appends_and_survives_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("flows.jsonl");
    std::fs::write(&f, line("x/a", "y/b", "denied")).unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_palisade"))
        .args(["flows", "--follow", "--verdict", "denied"])
        .arg(&f)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut next = || {
        let mut s = String::new();
        out.read_line(&mut s).unwrap();
        s
    };
    assert!(next().contains("y/b"));
    // Appended, including a line written in two pieces.
    let mut a = std::fs::OpenOptions::new().append(true).open(&f).unwrap();
    a.write_all(line("x/a", "y/c", "allowed").as_bytes()).unwrap();
    let l = line("x/a", "y/d", "denied");
    a.write_all(&l.as_bytes()[..20]).unwrap();
    a.flush().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    a.write_all(&l.as_bytes()[20..]).unwrap();
    let t = Instant::now();
    assert!(
        next().contains("y/d"),
        "the allowed line is filtered, the split one whole"
    );
    assert!(t.elapsed() < Duration::from_secs(5));
    // Rotated as the agent does: FILE -> FILE.1, a new FILE.
    std::fs::rename(&f, dir.path().join("flows.jsonl.1")).unwrap();
    std::fs::write(&f, line("z/q", "y/e", "denied")).unwrap();
    assert!(next().contains("y/e"));
    child.kill().unwrap();
    child.wait().unwrap();
}
