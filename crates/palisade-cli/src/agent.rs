//! `palisade agent`: the node agent (see palisade-agent), and `palisade flows`, which tails
//! and filters its flow log.

use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};
use palisade_agent::logging::LogFormat;
use palisade_agent::{run_agent, AgentConfig, FlowLogFile, SourceSpec};
use palisade_nft::{FlowEnd, FlowRecord};

use crate::dataplane::RuleFlags;
use crate::inputs::{Failure, ModelArgs};

#[derive(Args, Debug)]
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
    #[arg(long = "metrics-addr", default_value = "127.0.0.1:9464")]
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
    run_agent(&cfg).map_err(|e| anyhow::anyhow!(e))?;
    Ok((String::new(), true))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Verdict {
    Allowed,
    Denied,
    Audit,
}

#[derive(Args, Debug)]
pub struct FlowsArgs {
    /// The agent's flow log file (`--flow-log`).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Keep reading as the file grows (and after it rotates).
    #[arg(short, long)]
    pub follow: bool,
    #[arg(long, value_enum)]
    pub verdict: Option<Verdict>,
    /// Flows from or to pods of this namespace.
    #[arg(long)]
    pub namespace: Option<String>,
    /// Flows from or to this pod (`ns/name`, or a name in any namespace).
    #[arg(long)]
    pub pod: Option<String>,
}

/// Whether a flow passes the filters.
pub fn keep(f: &FlowRecord, args: &FlowsArgs) -> bool {
    let ends = [&f.src, &f.dst];
    let verdict_ok = args.verdict.is_none_or(|want| {
        f.verdict
            == match want {
                Verdict::Allowed => palisade_nft::Verdict::Allowed,
                Verdict::Denied => palisade_nft::Verdict::Denied,
                Verdict::Audit => palisade_nft::Verdict::Audit,
            }
    });
    let ns_ok = args
        .namespace
        .as_ref()
        .is_none_or(|ns| ends.iter().any(|e| e.namespace() == Some(ns.as_str())));
    // A pod as `ns/name`, or a bare name in any namespace (names cannot hold `/`), or an
    // address no pod holds.
    let pod_ok = args.pod.as_ref().is_none_or(|p| {
        let (ns, name) = match p.split_once('/') {
            Some((ns, name)) => (Some(ns), name),
            None => (None, p.as_str()),
        };
        ends.iter().any(|e| match e {
            FlowEnd::Address(ip) => p.parse() == Ok(*ip),
            _ => e.pod_name() == Some(name) && ns.is_none_or(|ns| e.namespace() == Some(ns)),
        })
    });
    verdict_ok && ns_ok && pod_ok
}

pub fn flows(args: &FlowsArgs) -> Result<(String, bool), Failure> {
    let open =
        || std::fs::File::open(&args.file).map_err(|e| anyhow::anyhow!("{}: {e}", args.file.display()));
    let mut reader = BufReader::new(open()?);
    let mut pos = 0u64;
    let mut line = String::new();
    let mut out = std::io::stdout().lock();
    loop {
        line.clear();
        let n = reader.read_line(&mut line).map_err(anyhow::Error::from)?;
        if n > 0 && line.ends_with('\n') {
            pos += n as u64;
            if let Ok(f) = serde_json::from_str::<FlowRecord>(line.trim_end()) {
                if keep(&f, args) {
                    use std::io::Write;
                    if writeln!(out, "{}", line.trim_end()).is_err() {
                        return Ok((String::new(), true));
                    }
                }
            }
            continue;
        }
        if !args.follow {
            return Ok((String::new(), true));
        }
        // A partial line: read it again when complete.
        if n > 0 {
            reader.seek(SeekFrom::Start(pos)).map_err(anyhow::Error::from)?;
        }
        std::thread::sleep(Duration::from_millis(200));
        // Rotated (another file at the path) or truncated: start over on what is there now.
        use std::os::unix::fs::MetadataExt;
        let here = reader.get_ref().metadata().map(|m| m.ino()).ok();
        let now = std::fs::metadata(&args.file).ok();
        if now
            .as_ref()
            .is_some_and(|m| Some(m.ino()) != here || m.len() < pos)
        {
            reader = BufReader::new(open()?);
            pos = 0;
        }
    }
}
