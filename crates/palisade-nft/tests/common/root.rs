//! The guard of root-only tests, shared with palisade-cli's tests (by `#[path]`).

/// Whether a root-only test can run here. As root: yes. Otherwise it says on stderr why it
/// skips and returns false, so that `cargo test` passes for a newcomer; with
/// `PALISADE_ROOT_TESTS=require` (set by scripts/test.sh) a skip is a failure instead.
pub fn root_or_skip(why: &str) -> bool {
    let euid = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(str::to_string))
        })
        .unwrap_or_default();
    if euid == "0" {
        return true;
    }
    assert!(
        std::env::var("PALISADE_ROOT_TESTS").as_deref() != Ok("require"),
        "this test needs root ({why}) and PALISADE_ROOT_TESTS=require forbids skipping it"
    );
    eprintln!("skipped: needs root ({why})");
    false
}
