//! A scratch network namespace for root tests, removed when dropped.

use std::process::Command;

pub struct Netns(pub &'static str);

impl Netns {
    /// Creates `name` afresh (removing a leftover of an earlier run).
    pub fn new(name: &'static str) -> Netns {
        let _ = Command::new("ip").args(["netns", "delete", name]).status();
        assert!(Command::new("ip")
            .args(["netns", "add", name])
            .status()
            .unwrap()
            .success());
        Netns(name)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "delete", self.0]).status();
    }
}

/// `nft list table inet palisade` in namespace `ns`.
#[allow(dead_code)]
pub fn list(ns: &str) -> String {
    let out = Command::new("ip")
        .args(["netns", "exec", ns, "nft", "list", "table", "inet", "palisade"])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap()
}
