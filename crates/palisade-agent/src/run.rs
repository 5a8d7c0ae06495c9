//! The agent's main loop: inputs from the source, reconciled into the kernel; readiness;
//! retries after a refused apply; clean shutdown on SIGTERM/SIGINT (the caller's stop flag).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use palisade_core::Cluster;

use crate::metrics::Metrics;
use crate::reconcile::{Applied, Reconciler};
use crate::source::Input;

/// A line on stderr, with the time: the agent's own log.
pub fn log(msg: &str) {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    eprintln!("{t:.3} palisade agent: {msg}");
}

/// How long to wait before retrying a state the kernel refused.
const RETRY: Duration = Duration::from_secs(2);

/// Runs until `stop` is set or the source goes away. Returns the reconciler (for cleanup).
pub fn run(
    rx: Receiver<Input>,
    mut rec: Reconciler,
    metrics: Arc<Metrics>,
    stop: Arc<AtomicBool>,
) -> Reconciler {
    let mut source_ok = false;
    let mut applied_once = false;
    // A valid state not (yet) in the kernel, to retry.
    let mut pending: Option<(Cluster, Instant)> = None;
    let mut last_try = Instant::now();
    let ready = |m: &Metrics, source_ok: bool, applied: bool, pending: bool| {
        let reason = if !source_ok {
            "source not in sync"
        } else if !applied {
            "no state applied yet"
        } else if pending {
            "the latest state is not applied"
        } else {
            ""
        };
        m.set_ready(reason.is_empty(), reason);
    };
    while !stop.load(Ordering::Relaxed) {
        metrics.beat();
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(Input::State { cluster, seen }) => pending = Some((*cluster, seen)),
            Ok(Input::Invalid { problems, .. }) => {
                metrics.invalid_inputs.inc();
                log(&format!(
                    "input rejected, keeping the rules in force ({} problem(s)):",
                    problems.len()
                ));
                for p in &problems {
                    eprintln!("  {p}");
                }
            }
            Ok(Input::Synced(ok, why)) => {
                if ok != source_ok {
                    log(if ok { "source in sync" } else { &why });
                }
                source_ok = ok;
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {
                log("source ended");
                break;
            }
        }
        // Apply the newest pending state (retrying after a refusal).
        let retry_due = last_try.elapsed() >= RETRY;
        if let Some((cluster, seen)) = pending.take() {
            if !applied_once || retry_due || rec.ruleset().is_some() {
                last_try = Instant::now();
                let (pods, policies) = (cluster.pods.len(), cluster.policies.len());
                match rec.apply(cluster.clone(), seen) {
                    Ok(a) => {
                        applied_once = true;
                        let how = match a {
                            Applied::Replaced => "table replaced".to_string(),
                            Applied::Elements(n) => format!("{n} element change(s)"),
                            Applied::Unchanged => "nothing to change".to_string(),
                        };
                        log(&format!(
                            "enforcing {pods} pod(s), {policies} polic(ies): {how} in {:.1} ms",
                            seen.elapsed().as_secs_f64() * 1000.0
                        ));
                    }
                    Err(e) => {
                        log(&format!("apply failed, the previous rules stay in force: {e}"));
                        pending = Some((cluster, seen));
                    }
                }
            } else {
                pending = Some((cluster, seen));
            }
        }
        ready(&metrics, source_ok, applied_once, pending.is_some());
    }
    rec
}
