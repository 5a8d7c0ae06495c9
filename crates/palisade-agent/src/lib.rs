//! The node agent (`palisade agent`): a source (`dir:` manifests on disk with a file
//! watcher, or `kube`: reflectors on the Kubernetes API) feeds whole valid states to one
//! loop that keeps the node's `inet palisade` table equal to them — element updates for
//! pod churn, atomic replacement otherwise, the last good rules kept on invalid input or a
//! refused apply. Around it: the flow log (NFLOG to JSON lines, rotated), Prometheus
//! metrics, `/healthz` and `/readyz`; its own log through `tracing` (with kube-rs's).

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
pub use start::{run_agent, AgentConfig, AgentError, FlowLogFile, SourceSpec};
