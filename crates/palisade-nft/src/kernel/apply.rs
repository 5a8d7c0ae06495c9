//! Applying a ruleset: the whole table with the `nft` program (one `nft -f -` transaction),
//! or only changed elements over netlink; either way the kernel takes all of it or keeps
//! what it had.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::delta::ElementDelta;
use crate::ruleset::{Ruleset, TABLE};

/// Why a ruleset or an element update was not applied; the kernel keeps what it had.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// `nft` could not be started.
    #[error("cannot run nft: {0}")]
    Spawn(#[from] std::io::Error),
    /// `nft` refused the script (its message).
    #[error("nft rejected the ruleset (the previous rules stay in force): {0}")]
    Rejected(String),
    /// The netlink element batch was refused.
    #[error("the kernel rejected the element update (the previous elements stay in force): {0}")]
    Netlink(std::io::Error),
}

/// How a ruleset went in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applied {
    /// The whole table was replaced.
    Replaced,
    /// Only set and map elements were rewritten.
    Elements,
}

/// Runs one nft transaction from `script`.
pub fn run_script(script: &str) -> Result<(), ApplyError> {
    run_script_in(None, script)
}

/// Runs one nft transaction from `script`, in network namespace `netns` when given.
pub fn run_script_in(netns: Option<&str>, script: &str) -> Result<(), ApplyError> {
    let mut cmd = match netns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns, "nft"]);
            c
        }
        None => Command::new("nft"),
    };
    let mut child = cmd
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    child.stdin.take().expect("piped").write_all(script.as_bytes())?;
    let out = child.wait_with_output()?;
    if out.status.success() {
        Ok(())
    } else {
        Err(ApplyError::Rejected(
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ))
    }
}

/// Applies `new`: only elements when `old` (what is installed) has the same chains,
/// else a replacement of the whole table.
pub fn apply(new: &Ruleset, old: Option<&Ruleset>) -> Result<Applied, ApplyError> {
    if let Some(delta) = old.and_then(|o| ElementDelta::between(o, new)) {
        delta.apply_in(None).map_err(ApplyError::Netlink)?;
        return Ok(Applied::Elements);
    }
    run_script(&new.replace_script())?;
    Ok(Applied::Replaced)
}

/// Removes the table (nothing happens when it is absent).
pub fn flush() -> Result<(), ApplyError> {
    run_script(&format!("table inet {TABLE} {{}}\ndelete table inet {TABLE}\n"))
}
