//! Where the state comes from. Every source sends [`Input`]s on one channel: a whole valid
//! cluster, or the reasons the current input is invalid (the agent then keeps enforcing the
//! last good state). `dir:` re-reads manifests on disk when a file watcher says they
//! changed, after bursts settle.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use notify::{RecursiveMode, Watcher};
use palisade_core::Cluster;
use palisade_load::{Diagnostic, LoadOptions, Source};

/// What a source says.
#[derive(Debug)]
pub enum Input {
    /// The whole state, valid.
    State {
        /// The state.
        cluster: Box<Cluster>,
        /// When the change that led to it was first noticed.
        seen: Instant,
    },
    /// The input is invalid: nothing changes.
    Invalid {
        /// Every problem found.
        problems: Vec<Diagnostic>,
        /// When the change was first noticed.
        seen: Instant,
    },
    /// The source lost its connection (or got it back): readiness, not state.
    Synced(bool, String),
}

/// Quiet time that ends a burst of file events, and the longest a burst may delay a reload.
pub const SETTLE: Duration = Duration::from_millis(15);
/// The longest a burst of file events may delay a reload.
pub const MAX_DELAY: Duration = Duration::from_millis(150);

fn load_dir(path: &Path, opts: &LoadOptions, seen: Instant) -> Input {
    match palisade_load::load(&[Source::Path(path.to_path_buf())], opts) {
        Ok(l) => Input::State {
            cluster: Box::new(l.cluster),
            seen,
        },
        Err(e) => Input::Invalid { problems: e.0, seen },
    }
}

/// Watches `path` (a file or a directory, recursively), sends its state now and after
/// every settled change. Runs until the receiver is dropped.
pub fn spawn_dir(
    path: PathBuf,
    opts: LoadOptions,
    tx: Sender<Input>,
) -> notify::Result<notify::RecommendedWatcher> {
    let (ev_tx, ev_rx) = channel::<Instant>();
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        if let Ok(e) = res {
            if !matches!(e.kind, notify::EventKind::Access(_)) {
                let _ = ev_tx.send(Instant::now());
            }
        }
    })?;
    watcher.watch(&path, RecursiveMode::Recursive)?;
    std::thread::spawn(move || {
        if tx.send(load_dir(&path, &opts, Instant::now())).is_err() {
            return;
        }
        let _ = tx.send(Input::Synced(true, String::new()));
        debounce(&ev_rx, |seen| tx.send(load_dir(&path, &opts, seen)).is_ok());
    });
    Ok(watcher)
}

/// Calls `reload(first event time)` once per burst of events; stops when `reload` says so
/// or the events end.
pub fn debounce(events: &Receiver<Instant>, mut reload: impl FnMut(Instant) -> bool) {
    while let Ok(first) = events.recv() {
        let mut closed = false;
        while first.elapsed() < MAX_DELAY {
            match events.recv_timeout(SETTLE) {
                Ok(_) => continue,
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => {
                    closed = true;
                    break;
                }
            }
        }
        // The last burst still counts when the events end with it.
        if !reload(first) || closed {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_one_reload_and_bursts_apart_are_two() {
        let (tx, rx) = channel();
        let feeder = std::thread::spawn(move || {
            for _ in 0..5 {
                tx.send(Instant::now()).unwrap();
                std::thread::sleep(Duration::from_millis(2));
            }
            std::thread::sleep(Duration::from_millis(100));
            tx.send(Instant::now()).unwrap();
        });
        let mut reloads = Vec::new();
        debounce(&rx, |t| {
            reloads.push(t);
            true
        });
        feeder.join().unwrap();
        assert_eq!(reloads.len(), 2, "{reloads:?}");
    }
}
