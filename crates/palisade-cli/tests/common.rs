//! Helpers shared by the CLI test files.
#![allow(dead_code)]

use std::collections::BTreeSet;

use assert_cmd::Command;
use serde_json::Value;

pub fn palisade() -> Command {
    Command::cargo_bin("palisade").unwrap()
}

/// Runs `palisade analyze - --port PORT -o json ARGS` on `yaml`; returns the parsed output.
pub fn port_json(yaml: &str, port: &str, args: &[&str]) -> Value {
    let out = palisade()
        .args(["analyze", "-", "--port", port, "-o", "json"])
        .args(args)
        .write_stdin(yaml)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The allowed ordered pairs (self excluded) of a `--port -o json` matrix, after checking
/// that self traffic is allowed and every ordered pair is present.
pub fn allowed_pairs(v: &Value) -> BTreeSet<(String, String)> {
    let pods: Vec<String> = v["pods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_string())
        .collect();
    let m = v["matrix"].as_object().unwrap();
    assert_eq!(m.len(), pods.len());
    let mut out = BTreeSet::new();
    for a in &pods {
        let row = m[a].as_object().unwrap();
        assert_eq!(row.len(), pods.len(), "row {a} has every destination");
        for b in &pods {
            let ok = row[b].as_bool().unwrap();
            if a == b {
                assert!(ok, "self traffic is always allowed ({a})");
            } else if ok {
                out.insert((a.clone(), b.clone()));
            }
        }
    }
    out
}

pub fn pairs(list: &[(&str, &str)]) -> BTreeSet<(String, String)> {
    list.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
}

/// All ordered pairs among `pods` (self excluded).
pub fn all_pairs(pods: &[&str]) -> BTreeSet<(String, String)> {
    let mut s = BTreeSet::new();
    for a in pods {
        for b in pods {
            if a != b {
                s.insert((a.to_string(), b.to_string()));
            }
        }
    }
    s
}

pub fn pod(ns: &str, name: &str, labels: &str, ip: &str) -> String {
    format!(
        "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  namespace: {ns}\n  labels: {labels}\nspec:\n  containers: [{{name: c, image: x}}]\nstatus:\n  podIP: {ip}\n"
    )
}

pub fn namespace(name: &str, labels: &str) -> String {
    format!("---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n  labels: {labels}\n")
}

#[path = "../../palisade-nft/tests/common/root.rs"]
mod root;
#[allow(unused_imports)]
pub use root::root_or_skip;
