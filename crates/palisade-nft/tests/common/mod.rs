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
