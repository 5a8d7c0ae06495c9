//! `analyze --port` is written as it is computed: its memory stays at the compiled matrix
//! however many cells it prints. 2,000 pods give 4 million cells (about 120 MB of JSON);
//! held as a JSON map they took gigabytes. Own test binary: the peak memory of children
//! (`getrusage(RUSAGE_CHILDREN)`) is then this run's.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::process::Stdio;

use common::palisade;

#[test]
fn port_matrix_is_streamed_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = dir.path().join("c.json");
    let out = palisade()
        .args(["synth", "--pods", "2000", "--policies", "200", "--seed", "3"])
        .output()
        .unwrap();
    assert!(out.status.success());
    std::fs::write(&cluster, &out.stdout).unwrap();
    let c = cluster.display().to_string();
    let mut n_pods = 0;
    for (format, rows_of) in [("json", "matrix rows"), ("csv", "lines")] {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_palisade"))
            .args(["analyze", &c, "--port", "80/TCP", "-o", format])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut reader = BufReader::new(stdout);
        if format == "json" {
            // Valid JSON of the documented shape, read without holding it: one matrix row a line.
            let mut rows = 0usize;
            let mut pods = 0usize;
            let mut line = String::new();
            let mut all = Vec::new();
            while reader.read_line(&mut line).unwrap() > 0 {
                if line.starts_with("    \"") {
                    rows += 1;
                }
                if let Some(list) = line.strip_prefix("  \"pods\": ") {
                    let names: Vec<String> =
                        serde_json::from_str(list.trim_end().trim_end_matches(',')).unwrap();
                    pods = names.len();
                }
                if all.len() < 1 << 20 {
                    all.extend_from_slice(line.as_bytes());
                }
                line.clear();
            }
            // The generator adds its DNS and monitoring pods to the 2,000.
            assert!(pods >= 2000);
            assert_eq!(rows, pods, "{rows_of}");
            n_pods = pods;
            let head = String::from_utf8_lossy(&all[..200]).to_string();
            assert!(
                head.starts_with("{\n  \"protocol\": \"TCP\",\n  \"port\": 80,\n  \"pods\": ["),
                "{head}"
            );
        } else {
            let mut lines = 0usize;
            let mut buf = vec![0u8; 1 << 16];
            loop {
                let n = reader.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                lines += buf[..n].iter().filter(|&&b| b == b'\n').count();
            }
            assert_eq!(lines, 1 + n_pods * n_pods, "{rows_of}");
        }
        assert!(child.wait().unwrap().success());
    }
    let peak = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN)
        .unwrap()
        .max_rss();
    assert!(peak < 160 * 1024, "peak memory of a child: {peak} KiB");
}
