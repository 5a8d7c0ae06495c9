//! `palisade agent`: the node agent (see palisade-agent). Built with the `agent` feature
//! (on by default); without it, `palisade` is the analysis-only command.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;
use palisade_agent::logging::LogFormat;
use palisade_agent::{AgentConfig, FlowLogFile, SourceSpec};

use crate::dataplane::RuleFlags;
use crate::inputs::{Failure, ModelArgs};

#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  sudo palisade agent --source kube --node \"$NODE_NAME\" --flow-log /var/log/palisade/flows.jsonl\n  sudo palisade agent --source dir:/etc/palisade --node node-1 --audit --log-allowed\n  sudo palisade agent --source dir:/etc/palisade --node node-1 --flow-log flows.jsonl --ui 127.0.0.1:8080"
)]
pub struct AgentArgs {
    /// `dir:PATH` (manifests on disk, re-read on change) or `kube` (the Kubernetes API:
    /// in-cluster configuration, else the kubeconfig).
    #[arg(long, value_name = "dir:PATH|kube")]
    pub source: String,
    /// The node this agent enforces for (the pods whose `spec.nodeName` it is). In a
    /// DaemonSet, pass it from the downward API (`fieldRef: spec.nodeName`), as deploy/ does.
    #[arg(long, value_name = "NAME")]
    pub node: String,
    #[command(flatten)]
    pub flags: RuleFlags,
    /// For `dir:`: how manifests become the model (as for `analyze`).
    #[command(flatten)]
    pub model: ModelArgs,
    /// Prometheus metrics, /healthz and /readyz.
    #[arg(long = "metrics-addr", default_value = "127.0.0.1:9847")]
    pub metrics_addr: SocketAddr,
    /// Write the flow log here (JSON lines, rotated) instead of standard output.
    #[arg(long = "flow-log", value_name = "FILE")]
    pub flow_log: Option<PathBuf>,
    /// Rotate the flow log file at this size.
    #[arg(long = "flow-log-max-bytes", default_value_t = 50 << 20)]
    pub flow_log_max_bytes: u64,
    /// Rotated flow log files kept (FILE.1 … FILE.N).
    #[arg(long = "flow-log-keep", default_value_t = 3)]
    pub flow_log_keep: usize,
    /// Remove the table on SIGTERM/SIGINT (by default the rules stay in force).
    #[arg(long = "cleanup-on-exit")]
    pub cleanup_on_exit: bool,
    /// Serve the web UI here (as `palisade ui`): the state the agent enforces, and its
    /// flows live. Loopback unless you mean otherwise: the page shows every pod and policy.
    #[cfg(feature = "ui")]
    #[arg(long, value_name = "ADDR")]
    pub ui: Option<SocketAddr>,
    /// The agent's log on stderr: `text` or `json` (one object per line). Levels come from
    /// `RUST_LOG` (default `info`; kube-rs's retries and back-off included).
    #[arg(long = "log-format", value_enum, default_value_t = LogFormatArg::Text)]
    pub log_format: LogFormatArg,
}

/// `--log-format`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormatArg {
    Text,
    Json,
}

pub fn run(args: &AgentArgs) -> Result<(String, bool), Failure> {
    let cfg = AgentConfig {
        source: SourceSpec::parse(&args.source).map_err(|e| anyhow::anyhow!(e))?,
        node: args.node.clone(),
        rules: args.flags.options(Some(args.node.clone())),
        engine: args.model.options(),
        load: args.model.load_options()?,
        metrics_addr: args.metrics_addr,
        flow_log: args.flow_log.as_ref().map(|path| FlowLogFile {
            path: path.clone(),
            max_bytes: args.flow_log_max_bytes,
            keep: args.flow_log_keep,
        }),
        cleanup_on_exit: args.cleanup_on_exit,
        log_format: match args.log_format {
            LogFormatArg::Text => LogFormat::Text,
            LogFormatArg::Json => LogFormat::Json,
        },
    };
    // Installed here so that the UI's own lines are logged as the agent's.
    let _ = palisade_agent::logging::init(cfg.log_format);
    #[cfg(feature = "ui")]
    let observers = match args.ui {
        Some(addr) => crate::ui::for_agent(addr, &cfg.node, cfg.source.to_string(), cfg.engine.clone())?,
        None => Default::default(),
    };
    #[cfg(not(feature = "ui"))]
    let observers = Default::default();
    palisade_agent::run_agent_observed(&cfg, observers).map_err(|e| Failure::Runtime(anyhow::anyhow!(e)))?;
    Ok((String::new(), true))
}
