//! Starting and stopping the agent: its configuration as a value, and the one function
//! that installs logging and the signal handler, binds the metrics server, opens the flow
//! log, starts the source, runs the loop until SIGTERM/SIGINT and cleans up. The CLI parses
//! arguments into an [`AgentConfig`] and calls [`run_agent`].

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::channel;
use std::sync::Arc;

use palisade_core::Options as EngineOptions;
use palisade_load::LoadOptions;

use crate::flowlog::{self, RotatingFile, Sink};
use crate::logging::{self, LogFormat};
use crate::{server, source, Metrics, Reconciler};

/// Where the agent's state comes from (`--source`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SourceSpec {
    /// Manifests under a directory, re-read on change (`dir:PATH`).
    Dir(PathBuf),
    /// The Kubernetes API (`kube`).
    Kube,
}

impl SourceSpec {
    /// `dir:PATH` or `kube`.
    pub fn parse(text: &str) -> Result<SourceSpec, String> {
        match text.split_once(':') {
            Some(("dir", path)) => Ok(SourceSpec::Dir(PathBuf::from(path))),
            None if text == "kube" => Ok(SourceSpec::Kube),
            _ => Err(format!("--source: expected dir:PATH or kube, got {text}")),
        }
    }
}

impl fmt::Display for SourceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SourceSpec::Dir(p) => write!(f, "dir:{}", p.display()),
            SourceSpec::Kube => f.write_str("kube"),
        }
    }
}

/// A flow log file that rotates by size.
#[derive(Clone, Debug)]
pub struct FlowLogFile {
    /// The file.
    pub path: PathBuf,
    /// Rotate past this size.
    pub max_bytes: u64,
    /// Rotated files kept.
    pub keep: usize,
}

/// Everything the agent needs to run.
#[derive(Clone, Debug)]
pub struct AgentConfig {
    /// Where the state comes from (`dir:PATH` or `kube`).
    pub source: SourceSpec,
    /// The node enforced for; `rules.node` is set from it.
    pub node: String,
    /// How the table is rendered (audit, logging).
    pub rules: palisade_nft::Options,
    /// Options of the semantics (`--ipblock-pods`).
    pub engine: EngineOptions,
    /// How manifests are read.
    pub load: LoadOptions,
    /// Where `/metrics`, `/healthz` and `/readyz` are served.
    pub metrics_addr: SocketAddr,
    /// `None`: flows go to standard output.
    pub flow_log: Option<FlowLogFile>,
    /// Remove the table on exit (else the last rules stay enforced).
    pub cleanup_on_exit: bool,
    /// Text or JSON log lines.
    pub log_format: LogFormat,
}

/// Why the agent could not start or stop cleanly.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The signal handlers could not be installed.
    #[error("signal handler: {0}")]
    Signals(String),
    #[error("--metrics-addr {addr}: {err}")]
    /// The metrics server could not listen.
    Metrics {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        err: std::io::Error,
    },
    #[error("--flow-log {path}: {err}")]
    /// The flow log could not be opened.
    FlowLog {
        /// The file.
        path: String,
        /// Why.
        err: std::io::Error,
    },
    #[error("--source {spec}: {err}")]
    /// The source could not be started.
    Source {
        /// The source asked for.
        spec: SourceSpec,
        /// Why.
        err: String,
    },
    /// The table could not be removed on exit.
    #[error("cleanup: {0}")]
    Cleanup(String),
}

/// Who else sees what the agent does (the CLI's `--ui`): every flow as it is decoded, and
/// every state once the kernel enforces it. Called on the agent's own threads, so they
/// should only hand the value on.
#[derive(Default)]
pub struct Observers {
    /// Each flow-log record, after it is written.
    pub flow: Option<crate::flowlog::FlowObserver>,
    /// Each state the kernel accepted.
    pub state: Option<crate::reconcile::StateObserver>,
}

/// Runs the agent until SIGTERM or SIGINT.
pub fn run_agent(cfg: &AgentConfig) -> Result<(), AgentError> {
    run_agent_observed(cfg, Observers::default())
}

/// [`run_agent`], telling `observers` what it does.
pub fn run_agent_observed(cfg: &AgentConfig, observers: Observers) -> Result<(), AgentError> {
    // Already installed only when the agent runs twice in one process (tests).
    let _ = logging::init(cfg.log_format);
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        ctrlc::set_handler(move || stop.store(true, Ordering::Relaxed))
            .map_err(|e| AgentError::Signals(e.to_string()))?;
    }
    let m = Arc::new(Metrics::default());
    let metrics_err = |err| AgentError::Metrics {
        addr: cfg.metrics_addr,
        err,
    };
    let listener = std::net::TcpListener::bind(cfg.metrics_addr).map_err(metrics_err)?;
    server::serve(listener, m.clone()).map_err(metrics_err)?;
    let mut rules = cfg.rules.clone();
    rules.node = Some(cfg.node.clone());
    let mut rec = Reconciler::new(cfg.engine.clone(), rules, m.clone());
    if let Some(state) = observers.state {
        rec.observe(state);
    }
    let sink = match &cfg.flow_log {
        Some(f) => Sink::File(
            RotatingFile::open(f.path.clone(), f.max_bytes, f.keep).map_err(|err| AgentError::FlowLog {
                path: f.path.display().to_string(),
                err,
            })?,
        ),
        None => Sink::Stdout,
    };
    let group = cfg.rules.log_group;
    let flows = match flowlog::spawn(
        group,
        sink,
        rec.snapshot(),
        m.clone(),
        stop.clone(),
        observers.flow,
    ) {
        Ok(h) => Some(h),
        Err(e) => {
            tracing::warn!("flow log unavailable (NFLOG group {group}): {e}");
            None
        }
    };
    let (tx, rx) = channel();
    let source_err = |err: String| AgentError::Source {
        spec: cfg.source.clone(),
        err,
    };
    // The watcher must live as long as the loop.
    let _watcher = match &cfg.source {
        SourceSpec::Dir(path) => Some(
            source::spawn_dir(path.clone(), cfg.load.clone(), tx).map_err(|e| source_err(e.to_string()))?,
        ),
        SourceSpec::Kube => {
            crate::kube::spawn(cfg.load.clone(), tx).map_err(|e| source_err(e.to_string()))?;
            None
        }
    };
    tracing::info!(
        "node {}, source {}, metrics on http://{}",
        cfg.node,
        cfg.source,
        cfg.metrics_addr
    );
    let mut rec = crate::run::run(rx, rec, m, stop.clone());
    stop.store(true, Ordering::Relaxed);
    if let Some(h) = flows {
        let _ = h.join();
    }
    if cfg.cleanup_on_exit {
        rec.cleanup().map_err(|e| AgentError::Cleanup(e.to_string()))?;
        tracing::info!("table removed (--cleanup-on-exit)");
    } else {
        tracing::info!("stopped; the rules stay in force");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_parse_and_print_back() {
        assert_eq!(
            SourceSpec::parse("dir:/etc/p"),
            Ok(SourceSpec::Dir("/etc/p".into()))
        );
        assert_eq!(SourceSpec::parse("kube"), Ok(SourceSpec::Kube));
        assert_eq!(
            SourceSpec::parse("git:x").unwrap_err(),
            "--source: expected dir:PATH or kube, got git:x"
        );
        assert_eq!(SourceSpec::Dir("/etc/p".into()).to_string(), "dir:/etc/p");
    }
}
