//! Network namespaces and links, through the `ip` program (iproute2).

use std::fs::File;
use std::process::Command;

use nix::sched::{setns, CloneFlags};

/// A command in (or about) a network namespace failed.
#[derive(Debug, thiserror::Error)]
pub enum NetnsError {
    /// A command exited with an error.
    #[error("`{cmd}` failed: {stderr}")]
    Command {
        /// The command line.
        cmd: String,
        /// What it wrote to stderr.
        stderr: String,
    },
    /// A program could not be started (program, error).
    #[error("cannot run {0}: {1}")]
    Spawn(String, std::io::Error),
    /// `setns` into a namespace failed (namespace, error).
    #[error("cannot enter network namespace {0}: {1}")]
    Enter(String, String),
}

/// Runs `ip ARGS`.
pub fn ip(args: &[&str]) -> Result<(), NetnsError> {
    run("ip", args)
}

/// Runs a program with arguments, failing with its stderr.
pub fn run(prog: &str, args: &[&str]) -> Result<(), NetnsError> {
    let out = Command::new(prog)
        .args(args)
        .output()
        .map_err(|e| NetnsError::Spawn(prog.to_string(), e))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(NetnsError::Command {
            cmd: format!("{prog} {}", args.join(" ")),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

/// `ip netns exec NS PROG ARGS`.
pub fn exec(ns: &str, prog: &str, args: &[&str]) -> Result<(), NetnsError> {
    let mut all = vec!["netns", "exec", ns, prog];
    all.extend_from_slice(args);
    ip(&all)
}

/// Network namespaces whose names start with `prefix`.
pub fn list(prefix: &str) -> Vec<String> {
    let Ok(rd) = std::fs::read_dir("/run/netns") else {
        return Vec::new();
    };
    let mut v: Vec<String> = rd
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(prefix))
        .collect();
    v.sort();
    v
}

/// Moves the calling thread into network namespace `ns` (sockets it opens then live there).
pub fn enter(ns: &str) -> Result<(), NetnsError> {
    let f =
        File::open(format!("/run/netns/{ns}")).map_err(|e| NetnsError::Enter(ns.into(), e.to_string()))?;
    setns(&f, CloneFlags::CLONE_NEWNET).map_err(|e| NetnsError::Enter(ns.into(), e.to_string()))
}
