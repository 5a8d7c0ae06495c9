//! The live view's flows: the newest flow records (from a running agent, or a flow log
//! file followed as it grows), numbered in arrival order, kept up to a bound, and a signal
//! that wakes waiting requests when one arrives.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use palisade_nft::FlowRecord;
use tokio::sync::watch;

use crate::flows::{FlowFilter, Tail};

/// How many flows are kept (the oldest go first).
pub const KEEP: usize = 10_000;

/// A flow with its place in arrival order (from 1).
#[derive(Clone)]
pub struct Numbered {
    pub seq: u64,
    pub record: FlowRecord,
}

struct Kept {
    flows: VecDeque<Numbered>,
    /// Lines of the file that were not flow records.
    unreadable: u64,
}

/// The newest flows and where they come from.
pub struct Feed {
    /// What the flows come from, for the page (`flows.jsonl`, `the agent on node n1`).
    pub source: String,
    kept: Mutex<Kept>,
    /// The newest sequence number; requests waiting for flows watch it.
    last: watch::Sender<u64>,
}

impl Feed {
    pub fn new(source: String) -> Feed {
        Feed {
            source,
            kept: Mutex::new(Kept {
                flows: VecDeque::new(),
                unreadable: 0,
            }),
            last: watch::Sender::new(0),
        }
    }

    /// Adds a flow (from any thread) and wakes the requests waiting for one.
    pub fn push(&self, record: FlowRecord) {
        let mut k = self.kept.lock().expect("lock");
        let seq = *self.last.borrow() + 1;
        if k.flows.len() == KEEP {
            k.flows.pop_front();
        }
        k.flows.push_back(Numbered { seq, record });
        self.last.send_replace(seq);
    }

    fn unreadable_line(&self) {
        self.kept.lock().expect("lock").unreadable += 1;
    }

    /// Up to `limit` kept flows after `after` that pass `filter` (the newest when more
    /// pass), the newest sequence number, and how many lines were unreadable.
    pub fn since(&self, after: u64, filter: &FlowFilter, limit: usize) -> (Vec<Numbered>, u64, u64) {
        let k = self.kept.lock().expect("lock");
        let newer = k.flows.partition_point(|f| f.seq <= after);
        let mut out: Vec<Numbered> = k
            .flows
            .range(newer..)
            .rev()
            .filter(|f| filter.keep(&f.record))
            .take(limit)
            .cloned()
            .collect();
        out.reverse();
        (out, *self.last.borrow(), k.unreadable)
    }

    /// A receiver that changes when a flow arrives.
    pub fn watch(&self) -> watch::Receiver<u64> {
        self.last.subscribe()
    }
}

/// Follows `path` from its start (so the page opens on the recent past), adding each
/// flow record to `feed`; lines that are not records are counted and skipped.
pub fn follow_file(path: PathBuf, feed: Arc<Feed>) -> anyhow::Result<()> {
    let mut tail = Tail::open(&path).map_err(|e| anyhow::anyhow!("--flows {e}"))?;
    std::thread::spawn(move || loop {
        match tail.next_line() {
            Ok(Some(line)) => match serde_json::from_str::<FlowRecord>(line) {
                Ok(r) => feed.push(r),
                Err(_) => feed.unreadable_line(),
            },
            Ok(None) => std::thread::sleep(Duration::from_millis(100)),
            Err(_) => {
                // The file went away (a rotation in progress): try again shortly.
                std::thread::sleep(Duration::from_millis(500));
            }
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flow(src: &str, verdict: &str) -> FlowRecord {
        serde_json::from_str(&format!(
            r#"{{"time":1.0,"src":"{src}","dst":"y/b","src_ip":"10.0.0.1","dst_ip":"10.0.0.2","protocol":"TCP","port":80,"verdict":"{verdict}"}}"#
        ))
        .unwrap()
    }

    #[test]
    fn numbers_flows_keeps_the_newest_and_filters() {
        let feed = Feed::new("test".into());
        for i in 0..KEEP + 5 {
            feed.push(flow(
                &format!("x/p{i}"),
                if i % 2 == 0 { "denied" } else { "allowed" },
            ));
        }
        let all = FlowFilter::default();
        let (list, last, _) = feed.since(0, &all, usize::MAX);
        assert_eq!(last, (KEEP + 5) as u64);
        assert_eq!(list.len(), KEEP, "the oldest five are gone");
        assert_eq!(list[0].seq, 6);
        let (list, ..) = feed.since(KEEP as u64 + 2, &all, usize::MAX);
        assert_eq!(
            list.iter().map(|f| f.seq).collect::<Vec<_>>(),
            [10_003, 10_004, 10_005]
        );
        // The newest `limit` that pass, in arrival order.
        let denied = FlowFilter {
            verdict: Some(crate::flows::Verdict::Denied),
            ..Default::default()
        };
        let (list, ..) = feed.since(0, &denied, 2);
        // seq n holds i = n - 1; denied when i is even, so the newest are seq 10005, 10003.
        assert_eq!(list.iter().map(|f| f.seq).collect::<Vec<_>>(), [10_003, 10_005]);
    }
}
