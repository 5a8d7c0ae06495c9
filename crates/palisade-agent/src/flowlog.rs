//! The agent's flow log: NFLOG records of the node's table, decoded against the state in
//! force, written as JSON lines to stdout or to a file that rotates by size, and counted
//! in the metrics.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use palisade_nft::flow::now;
use palisade_nft::flowlog::FlowLog;
use palisade_nft::FlowRecord;

use crate::metrics::Metrics;
use crate::reconcile::Snapshot;

/// A file that starts over when it reaches `max_bytes`, keeping `keep` older ones as
/// `FILE.1` (newest) … `FILE.keep`.
pub struct RotatingFile {
    path: PathBuf,
    max_bytes: u64,
    keep: usize,
    file: File,
    size: u64,
}

impl RotatingFile {
    /// Opens (appends to) `path`; it rotates past `max_bytes`, keeping `keep` old files.
    pub fn open(path: PathBuf, max_bytes: u64, keep: usize) -> std::io::Result<RotatingFile> {
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        let size = file.metadata()?.len();
        Ok(RotatingFile {
            path,
            max_bytes,
            keep,
            file,
            size,
        })
    }

    fn numbered(&self, i: usize) -> PathBuf {
        let mut p = self.path.clone().into_os_string();
        p.push(format!(".{i}"));
        p.into()
    }

    fn rotate(&mut self) -> std::io::Result<()> {
        if self.keep == 0 {
            self.file = File::create(&self.path)?;
        } else {
            for i in (1..self.keep).rev() {
                let from = self.numbered(i);
                if from.exists() {
                    std::fs::rename(&from, self.numbered(i + 1))?;
                }
            }
            std::fs::rename(&self.path, self.numbered(1))?;
            self.file = OpenOptions::new().create(true).append(true).open(&self.path)?;
        }
        self.size = 0;
        Ok(())
    }

    /// Writes one line (rotating first when it would not fit).
    pub fn write_line(&mut self, line: &str) -> std::io::Result<()> {
        let len = line.len() as u64 + 1;
        if self.size > 0 && self.size + len > self.max_bytes {
            self.rotate()?;
        }
        self.file.write_all(line.as_bytes())?;
        self.file.write_all(b"\n")?;
        self.file.flush()?;
        self.size += len;
        Ok(())
    }
}

/// Where flow lines go.
pub enum Sink {
    /// Standard output.
    Stdout,
    /// A file that rotates by size.
    File(RotatingFile),
}

impl Sink {
    fn write(&mut self, line: &str) -> std::io::Result<()> {
        match self {
            Sink::Stdout => {
                let mut out = std::io::stdout().lock();
                writeln!(out, "{line}")?;
                out.flush()
            }
            Sink::File(f) => f.write_line(line),
        }
    }
}

/// Told of each flow record after it is written (see [`crate::start::Observers`]).
pub type FlowObserver = Box<dyn Fn(&FlowRecord) + Send + Sync>;

/// Reads NFLOG `group` of the calling thread's network namespace until `stop`; each
/// record also goes to `observer`.
pub fn spawn(
    group: u16,
    mut sink: Sink,
    snapshot: Snapshot,
    metrics: Arc<Metrics>,
    stop: Arc<AtomicBool>,
    observer: Option<FlowObserver>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    // Bound here, so the caller knows at once whether the flow log works.
    let mut log = FlowLog::open(group)?;
    Ok(std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            let records = match log.read(Duration::from_millis(200)) {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!("flow log: {e}");
                    std::thread::sleep(Duration::from_secs(1));
                    continue;
                }
            };
            if records.is_empty() {
                continue;
            }
            let decoder = snapshot.read().expect("snapshot lock").clone();
            for r in &records {
                let flow = decoder.decode(r, now());
                metrics.flow(
                    flow.verdict.as_str(),
                    flow.deciding_tier(),
                    flow.deciding_policy(),
                );
                let line = serde_json::to_string(&flow).expect("flow records serialize");
                if let Err(e) = sink.write(&line) {
                    tracing::warn!("flow log: {e}");
                }
                if let Some(observe) = &observer {
                    observe(&flow);
                }
            }
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotates_by_size_and_keeps_the_newest() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("flows.jsonl");
        let mut f = RotatingFile::open(path.clone(), 25, 2).unwrap();
        for i in 0..7 {
            f.write_line(&format!("line number {i}")).unwrap(); // 14 bytes each
        }
        // One line per file: 6 in FILE, 5 in FILE.1, 4 in FILE.2; older ones dropped.
        let read = |p: PathBuf| std::fs::read_to_string(p).unwrap();
        assert_eq!(read(path.clone()), "line number 6\n");
        assert_eq!(read(dir.path().join("flows.jsonl.1")), "line number 5\n");
        assert_eq!(read(dir.path().join("flows.jsonl.2")), "line number 4\n");
        assert!(!dir.path().join("flows.jsonl.3").exists());
    }
}
