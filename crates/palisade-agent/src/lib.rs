//! The node agent (`palisade agent`): a source (`dir:` manifests on disk with a file
//! watcher, or `kube`: reflectors on the Kubernetes API) feeds whole valid states to one
//! loop that keeps the node's `inet palisade` table equal to them — element updates for
//! pod churn, atomic replacement otherwise, the last good rules kept on invalid input or a
//! refused apply. Around it: the flow log (NFLOG to JSON lines, rotated), Prometheus
//! metrics, `/healthz` and `/readyz`; its own log through `tracing` (with kube-rs's).
//!
//! The CLI parses its arguments into an [`AgentConfig`] and calls [`run_agent`] (root).
//! The parts are usable alone:
//!
//! ```
//! use palisade_agent::metrics::Metrics;
//! use palisade_agent::SourceSpec;
//!
//! assert_eq!(SourceSpec::parse("dir:/etc/palisade").unwrap().to_string(), "dir:/etc/palisade");
//! assert!(SourceSpec::parse("etcd").is_err());
//!
//! let metrics = Metrics::default();
//! assert!(!metrics.is_ready());
//! metrics.set_ready(true, "in sync");
//! assert!(metrics.is_ready());
//! assert!(metrics.render().contains("palisade_ready 1"));
//! ```

#![warn(missing_docs)]

pub mod flowlog;
pub mod kube;
pub mod logging;
pub mod metrics;
pub mod reconcile;
pub mod run;
pub mod server;
pub mod source;
pub mod start;

pub use metrics::Metrics;
pub use reconcile::{Applied, Reconciler};
pub use source::Input;
pub use start::{run_agent, run_agent_observed, AgentConfig, AgentError, FlowLogFile, Observers, SourceSpec};
