//! `palisade flows`: tails and filters a flow log (the agent's, `dataplane log`'s or the
//! lab's), one `FlowRecord` per line.

use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};
use palisade_nft::{FlowEnd, FlowRecord};

use crate::inputs::Failure;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Verdict {
    Allowed,
    Denied,
    Audit,
}

#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  palisade flows /var/log/palisade/flows.jsonl --verdict denied\n  palisade flows flows.jsonl -f --namespace shop --pod shop/frontend"
)]
pub struct FlowsArgs {
    /// The agent's flow log file (`--flow-log`).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Keep reading as the file grows (and after it rotates).
    #[arg(short, long)]
    pub follow: bool,
    /// Only flows with this verdict (`audit`: denied by policy, let through in audit mode).
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
