//! Collecting the flow log of every node while probes run.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::Duration;

use palisade_nft::flow::now;
use palisade_nft::flowlog::{FlowLog, Packet};

use crate::lab::LabError;
use crate::netns;
use crate::topology::Topology;

/// NFLOG readers, one per node; `stop` returns what each node logged.
pub struct Collector {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<Vec<(f64, Packet)>>>,
}

impl Collector {
    /// Starts reading every lab node's NFLOG `group` (one thread per node).
    pub fn start(topo: &Topology, group: u16) -> Result<Collector, LabError> {
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        let (tx, rx) = mpsc::channel::<Result<(), String>>();
        for node in &topo.nodes {
            let (ns, stop, tx) = (node.netns.clone(), stop.clone(), tx.clone());
            threads.push(std::thread::spawn(move || {
                let mut log = match netns::enter(&ns).map_err(|e| e.to_string()).and_then(|_| {
                    FlowLog::open(group).map_err(|e| format!("NFLOG group {group} in {ns}: {e}"))
                }) {
                    Ok(l) => {
                        let _ = tx.send(Ok(()));
                        l
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return Vec::new();
                    }
                };
                let mut all = Vec::new();
                loop {
                    let done = stop.load(Ordering::Relaxed);
                    if let Ok(r) = log.read(Duration::from_millis(50)) {
                        let t = now();
                        all.extend(r.into_iter().map(|p| (t, p)));
                    }
                    if done {
                        return all;
                    }
                }
            }));
        }
        drop(tx);
        for _ in 0..topo.nodes.len() {
            match rx.recv() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(LabError::Probe(e)),
                Err(_) => return Err(LabError::Probe("flow log reader died".into())),
            }
        }
        Ok(Collector { stop, threads })
    }

    /// Stops the readers (after one more read) and returns the packets with the time they
    /// arrived, per node.
    pub fn stop(self) -> Vec<Vec<(f64, Packet)>> {
        std::thread::sleep(Duration::from_millis(100));
        self.stop.store(true, Ordering::Relaxed);
        self.threads
            .into_iter()
            .map(|t| t.join().unwrap_or_default())
            .collect()
    }
}
