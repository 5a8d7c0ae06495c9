//! Hostile input: every case ends with a clear message (or a warning and a result), never a
//! crash, within bounds. One test function runs them in turn, so that the peak memory of
//! the children (`getrusage(RUSAGE_CHILDREN)`, the largest child waited for) is theirs:
//! none may exceed 256 MiB. Each run is killed after 60 s (a hang is a failure); the
//! debug build is used, so time is not asserted more tightly here (the README's bound is
//! for the release build).

mod common;

use std::os::unix::fs::symlink;
use std::path::Path;
use std::time::Duration;

use common::palisade;

const LIMIT_KIB: i64 = 256 * 1024;

/// Runs `palisade analyze -o summary ARGS`; returns (exit code, stdout, stderr).
fn analyze(args: &[&str]) -> (Option<i32>, String, String) {
    let out = palisade()
        .args(["analyze", "-o", "summary"])
        .args(args)
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn peak_children_kib() -> i64 {
    nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN)
        .unwrap()
        .max_rss()
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

/// A 16-line "billion laughs": nine levels of nine aliases (9^9 strings if expanded).
fn billion_laughs() -> String {
    let mut s =
        String::from("a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n");
    let names = ["a", "b", "c", "d", "e", "f", "g", "h", "i"];
    for w in names.windows(2) {
        let refs = vec![format!("*{}", w[0]); 9].join(",");
        s.push_str(&format!("{}: &{} [{refs}]\n", w[1], w[1]));
    }
    s
}

#[test]
fn hostile_inputs_are_bounded_and_clear() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();

    // Nested aliases: refused by the alias budget, at the line where it ran out.
    let f = write(d, "laughs.yaml", &billion_laughs());
    let (code, out, err) = analyze(&[&f]);
    assert_eq!(code, Some(2), "{err}");
    assert!(out.is_empty());
    assert!(err.contains("aliases expand this document past"), "{err}");
    assert!(err.starts_with(&format!("{f}:")), "{err}");

    // 128 KB of nested block sequences, and deep flow collections: refused, no overflow.
    let f = write(d, "seqs.yaml", &format!("{}x\n", "- ".repeat(64 * 1024)));
    let (code, _, err) = analyze(&[&f]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("nested more than 256 deep"), "{err}");
    let f = write(d, "flow.yaml", &format!("a: {}\n", "[".repeat(100_000)));
    let (code, _, err) = analyze(&[&f]);
    assert_eq!(code, Some(2), "{err}");
    // Deep JSON: serde_json's own limit, then the YAML reader's.
    let f = write(
        d,
        "deep.json",
        &format!("{}{}", "[".repeat(50_000), "]".repeat(50_000)),
    );
    let (code, _, err) = analyze(&[&f]);
    assert_eq!(code, Some(2), "{err}");

    // A tree with loops, a FIFO, a link to /dev/zero and dangling links, beside a real
    // manifest: the walk finishes, names what it skipped, and analyses the manifest.
    let tree = d.join("tree");
    std::fs::create_dir_all(tree.join("sub")).unwrap();
    write(
        &tree,
        "pod.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: a, namespace: x}\nspec: {containers: [{name: c}]}\n",
    );
    symlink("..", tree.join("sub/up")).unwrap();
    symlink("..", tree.join("parent")).unwrap();
    symlink(".", tree.join("self")).unwrap();
    nix::unistd::mkfifo(&tree.join("p.yaml"), nix::sys::stat::Mode::S_IRWXU).unwrap();
    symlink("/dev/zero", tree.join("z.yaml")).unwrap();
    symlink("/nonexistent", tree.join("README.md")).unwrap();
    symlink("/nonexistent", tree.join("gone.yaml")).unwrap();
    let t = tree.display().to_string();
    let (code, out, err) = analyze(&[&t]);
    assert_eq!(code, Some(0), "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["pods"], 1, "{out}");
    for (name, why) in [
        ("p.yaml", "not a regular file"),
        ("z.yaml", "not a regular file"),
        ("gone.yaml", "a link to nothing"),
        ("parent", "a link to a directory outside"),
        ("self", "this directory was already read"),
        ("sub/up", "this directory was already read"),
    ] {
        let line = format!("warning: {t}/{name}: skipped: {why}");
        assert!(err.contains(&line), "{line:?} in\n{err}");
    }
    assert!(!err.contains("README.md"), "not a manifest name: ignored\n{err}");

    let peak = peak_children_kib();
    assert!(peak < LIMIT_KIB, "peak memory of a child: {peak} KiB");
}
