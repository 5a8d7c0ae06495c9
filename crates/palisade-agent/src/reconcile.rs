//! Keeping the kernel equal to the state: the first state (and any after a failure)
//! replaces the whole `inet palisade` table in one transaction — adopting a table left by
//! an older run without a moment unprotected; pod churn goes through the node table's
//! incremental path as element changes over netlink; policy and namespace changes
//! recompile and send elements or a replacement, whichever the change needs.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Instant;

use palisade_core::{Cluster, Options as EngineOptions, Pod};
use palisade_nft::apply::{run_script, ApplyError};
use palisade_nft::{Change, Decoder, ElementDelta, NftSocket, NodeTable, Ruleset};

use crate::metrics::Metrics;

/// What the flow log decodes against: pod names and the meaning of the log tags and
/// marks of the rules in force.
pub type Snapshot = Arc<RwLock<Arc<Decoder>>>;

/// Told of each state once the kernel enforces it (see [`crate::start::Observers`]).
pub type StateObserver = Box<dyn Fn(&Cluster) + Send + Sync>;

/// Why a state was not applied; the previous rules stay in force.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// The table was refused.
    #[error(transparent)]
    Apply(#[from] ApplyError),
    /// The element update was refused.
    #[error("element update: {0}")]
    Elements(std::io::Error),
}

/// How a state went in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applied {
    /// The whole table, atomically.
    Replaced,
    /// Element changes only (how many).
    Elements(usize),
    /// Sets and chains that changed, in place.
    Updated,
    /// Nothing to change.
    Unchanged,
}

/// Keeps the node's table equal to the latest valid state: elements only for pod churn,
/// the whole table otherwise.
pub struct Reconciler {
    engine: EngineOptions,
    opts: palisade_nft::Options,
    table: Option<NodeTable>,
    sock: Option<NftSocket>,
    metrics: Arc<Metrics>,
    snapshot: Snapshot,
    /// A state the kernel refused, kept for a retry.
    failed: Option<(Cluster, Instant)>,
    /// Told of each state applied.
    observer: Option<StateObserver>,
}

fn by_name(c: &Cluster) -> HashMap<(&str, &str), &Pod> {
    c.pods
        .iter()
        .map(|p| ((p.namespace.as_str(), p.name.as_str()), p))
        .collect()
}

/// Replaces the whole table with `table`'s ruleset, in one transaction.
fn replace(table: &NodeTable) -> Result<(), ReconcileError> {
    run_script(&table.ruleset().replace_script())?;
    Ok(())
}

impl Reconciler {
    /// A reconciler with no table applied yet.
    pub fn new(engine: EngineOptions, opts: palisade_nft::Options, metrics: Arc<Metrics>) -> Reconciler {
        Reconciler {
            engine,
            opts,
            table: None,
            sock: None,
            metrics,
            snapshot: Arc::new(RwLock::new(Arc::new(Decoder::default()))),
            failed: None,
            observer: None,
        }
    }

    /// Tells `observer` of every state from now on, once the kernel enforces it.
    pub fn observe(&mut self, observer: StateObserver) {
        self.observer = Some(observer);
    }

    /// The names and log meanings flow decoding needs, shared with the flow log reader.
    pub fn snapshot(&self) -> Snapshot {
        self.snapshot.clone()
    }

    /// The ruleset believed to be in the kernel.
    pub fn ruleset(&self) -> Option<&Ruleset> {
        self.table.as_ref().map(NodeTable::ruleset)
    }

    /// The changes that take the table from its current cluster to `new`.
    fn plan(table: &mut NodeTable, new: Cluster) -> Change {
        let old = table.cluster();
        // Everything but the pods (whose churn takes the incremental path).
        let same_rules = old.same_but_pods(&new);
        if !same_rules {
            return table.set_cluster(new);
        }
        let (before, after) = (by_name(old), by_name(&new));
        let removed: Vec<(String, String)> = before
            .keys()
            .filter(|k| !after.contains_key(*k))
            .map(|(n, p)| (n.to_string(), p.to_string()))
            .collect();
        let changed: Vec<Pod> = after
            .iter()
            .filter(|(k, p)| before.get(*k) != Some(*p))
            .map(|(_, p)| (*p).clone())
            .collect();
        let mut change = Change::Elements(ElementDelta::default());
        let mut then = |next: Change| {
            change = std::mem::replace(&mut change, Change::Replace).then(next);
        };
        for (ns, name) in removed {
            if let Some((c, _)) = table.remove_pod(&ns, &name) {
                then(c);
            }
        }
        for pod in changed {
            then(table.add_pod(pod).0);
        }
        change
    }

    fn send(&mut self, d: &ElementDelta) -> Result<(), ReconcileError> {
        if self.sock.is_none() {
            self.sock = Some(NftSocket::open_in(None).map_err(ReconcileError::Elements)?);
        }
        let sock = self.sock.as_mut().expect("opened");
        d.send(sock).map_err(|e| {
            // A socket in a bad state is not worth keeping.
            self.sock = None;
            ReconcileError::Elements(e)
        })
    }

    /// Makes the kernel enforce `cluster`. On failure the kernel keeps what it had and the
    /// next state is applied by a full replacement.
    pub fn apply(&mut self, cluster: Cluster, seen: Instant) -> Result<Applied, ReconcileError> {
        self.failed = None;
        let (table, change) = match self.table.take() {
            None => {
                let table = NodeTable::new(cluster, self.engine.clone(), self.opts.clone());
                (table, Change::Replace)
            }
            Some(mut table) => {
                let change = Self::plan(&mut table, cluster);
                (table, change)
            }
        };
        let outcome = match &change {
            Change::Replace => replace(&table).map(|_| Applied::Replaced),
            // An in-place update the kernel refuses falls back to a whole replacement.
            Change::Script(script) => match run_script(script) {
                Ok(()) => Ok(Applied::Updated),
                Err(e) => {
                    tracing::warn!("in-place update refused ({e}); replacing the table");
                    replace(&table).map(|_| Applied::Replaced)
                }
            },
            Change::Elements(d) if d.is_empty() => Ok(Applied::Unchanged),
            Change::Elements(d) => self.send(d).map(|_| Applied::Elements(d.ops.len())),
        };
        let result = match outcome {
            Ok(a) => Ok((table, a)),
            Err(e) => Err((e, table.into_cluster())),
        };
        let m = &self.metrics;
        m.reconciles.inc();
        match result {
            Ok((table, applied)) => {
                m.observe_latency(seen.elapsed());
                m.pods.set(table.cluster().pods.len() as i64);
                m.policies.set(table.cluster().policies.len() as i64);
                let c = table.cluster();
                m.staged
                    .set((c.shadow_policies.len() + c.shadow_cluster_policies.len()) as i64);
                m.rules.set(table.ruleset().rule_count() as i64);
                if let Some(why) = &table.ruleset().shadow_unlogged {
                    tracing::warn!("the connections staged policies would change are not logged: {why}");
                }
                m.elements.set(table.ruleset().element_count() as i64);
                *self.snapshot.write().expect("snapshot lock") =
                    Arc::new(Decoder::new(table.cluster(), table.ruleset()));
                if let Some(observe) = &self.observer {
                    observe(table.cluster());
                }
                self.table = Some(table);
                Ok(applied)
            }
            Err((e, cluster)) => {
                m.reconcile_errors.inc();
                // `self.table` stays empty: the next state replaces the whole table; until
                // one comes, this one is retried.
                self.failed = Some((cluster, seen));
                Err(e)
            }
        }
    }

    /// Applies again the last state the kernel refused, if any (`None`: nothing to retry).
    pub fn retry(&mut self) -> Option<Result<Applied, ReconcileError>> {
        let (cluster, seen) = self.failed.take()?;
        Some(self.apply(cluster, seen))
    }

    /// Removes the table (for `--cleanup-on-exit`).
    pub fn cleanup(&mut self) -> Result<(), ReconcileError> {
        palisade_nft::flush()?;
        self.table = None;
        Ok(())
    }
}
