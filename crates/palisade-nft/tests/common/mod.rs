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

/// A table listing with its sets, maps and chains in name order: the kernel lists them in
/// the order they were created, which in-place updates change.
#[allow(dead_code)]
pub fn sorted_blocks(listing: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut cur = String::new();
    for line in listing.lines() {
        if line.starts_with("\tset ") || line.starts_with("\tmap ") || line.starts_with("\tchain ") {
            cur.clear();
        }
        cur.push_str(line);
        cur.push('\n');
        if line == "\t}" {
            blocks.push(std::mem::take(&mut cur));
        }
    }
    blocks.sort();
    blocks
}

mod root;
#[allow(unused_imports)]
pub use root::root_or_skip;
