//! The agent's main loop: inputs from the source, reconciled into the kernel; readiness;
//! retries after a refused apply; clean shutdown on SIGTERM/SIGINT (the caller's stop flag).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::metrics::Metrics;
use crate::reconcile::{Applied, Reconciler};
use crate::source::Input;

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
    let mut last_try = Instant::now();
    let ready = |m: &Metrics, source_ok: bool, applied: bool, failing: bool| {
        let reason = if !source_ok {
            "source not in sync"
        } else if !applied {
            "no state applied yet"
        } else if failing {
            "the latest state is not applied"
        } else {
            ""
        };
        m.set_ready(reason.is_empty(), reason);
    };
    let mut failing = false;
    // Shadow-mode policies of the latest state (logged, never enforced).
    let mut staged = 0;
    while !stop.load(Ordering::Relaxed) {
        metrics.beat();
        let outcome = match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(Input::State { cluster, seen }) => {
                let (pods, policies) = (cluster.pods.len(), cluster.policies.len());
                staged = cluster.shadow_policies.len() + cluster.shadow_cluster_policies.len();
                last_try = Instant::now();
                Some((rec.apply(*cluster, seen), pods, policies, seen))
            }
            Ok(Input::Invalid { problems, .. }) => {
                metrics.invalid_inputs.inc();
                let list: String = problems.iter().map(|p| format!("\n  {p}")).collect();
                tracing::warn!(
                    "input rejected, keeping the rules in force ({} problem(s)):{list}",
                    problems.len()
                );
                None
            }
            Ok(Input::Synced(ok, why)) => {
                if ok != source_ok {
                    if ok {
                        tracing::info!("source in sync");
                    } else {
                        tracing::warn!("{why}");
                    }
                }
                source_ok = ok;
                None
            }
            Err(RecvTimeoutError::Timeout) if failing && last_try.elapsed() >= RETRY => {
                last_try = Instant::now();
                rec.retry().map(|r| (r, 0, 0, Instant::now()))
            }
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => {
                tracing::info!("source ended");
                break;
            }
        };
        if let Some((result, pods, policies, seen)) = outcome {
            match result {
                Ok(a) => {
                    applied_once = true;
                    failing = false;
                    let how = match a {
                        Applied::Replaced => "table replaced".to_string(),
                        Applied::Elements(n) => format!("{n} element change(s)"),
                        Applied::Updated => "changed sets and chains updated".to_string(),
                        Applied::Unchanged => "nothing to change".to_string(),
                    };
                    let staged = if staged > 0 {
                        format!(" ({staged} staged in shadow mode, not enforced)")
                    } else {
                        String::new()
                    };
                    tracing::info!(
                        "enforcing {pods} pod(s), {policies} polic(ies){staged}: {how} in {:.1} ms",
                        seen.elapsed().as_secs_f64() * 1000.0
                    );
                }
                Err(e) => {
                    failing = true;
                    tracing::error!("apply failed, the previous rules stay in force (retrying): {e}");
                }
            }
        }
        ready(&metrics, source_ok, applied_once, failing);
    }
    rec
}
