//! Puts the git commit and the build date into `palisade --version`. The date is
//! `SOURCE_DATE_EPOCH` when set (reproducible builds), else today (UTC); the commit is
//! `PALISADE_COMMIT` when set (a container build has no .git), else `git rev-parse`, else
//! `unknown` (a source tarball, `cargo install` from a copy).

use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

fn main() {
    // A build without .git (a container build context) is told its commit.
    if let Ok(commit) = std::env::var("PALISADE_COMMIT") {
        println!("cargo:rustc-env=PALISADE_COMMIT={commit}");
        println!("cargo:rerun-if-env-changed=PALISADE_COMMIT");
        println!("cargo:rustc-env=PALISADE_BUILD_DATE={}", civil_date(build_time()));
        return;
    }
    let commit = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    let dirty = Command::new("git")
        .args(["status", "--porcelain", "--untracked-files=no"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .is_some_and(|o| !o.stdout.is_empty());
    let secs = build_time();
    println!(
        "cargo:rustc-env=PALISADE_COMMIT={commit}{}",
        if dirty { "-modified" } else { "" }
    );
    println!("cargo:rustc-env=PALISADE_BUILD_DATE={}", civil_date(secs));
    // A new commit or checkout changes HEAD or the ref it names.
    for f in ["../../.git/HEAD", "../../.git/refs/heads", "../../.git/index"] {
        println!("cargo:rerun-if-changed={f}");
    }
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
}

/// `SOURCE_DATE_EPOCH`, else now.
fn build_time() -> i64 {
    std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64)
        })
}

/// `YYYY-MM-DD` (UTC) of a Unix time.
fn civil_date(secs: i64) -> String {
    jiff::Timestamp::from_second(secs)
        .map_or_else(|_| "unknown".into(), |t| t.strftime("%Y-%m-%d").to_string())
}
