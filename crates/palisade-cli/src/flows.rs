//! `palisade flows`: tails and filters a flow log (the agent's, `dataplane log`'s or the
//! lab's), one `FlowRecord` per line. The tail and the filter are shared with
//! `palisade ui --flows`.

use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, ValueEnum};
use palisade_nft::{FlowEnd, FlowRecord};

use crate::inputs::Failure;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Allowed,
    Denied,
    Audit,
    /// Staged policies would deny it (logged only).
    #[value(name = "shadow-denied")]
    #[serde(rename = "shadow-denied")]
    ShadowDenied,
    /// Staged policies would allow it (logged only).
    #[value(name = "shadow-allowed")]
    #[serde(rename = "shadow-allowed")]
    ShadowAllowed,
}

impl Verdict {
    fn of(self) -> palisade_nft::Verdict {
        match self {
            Verdict::Allowed => palisade_nft::Verdict::Allowed,
            Verdict::Denied => palisade_nft::Verdict::Denied,
            Verdict::Audit => palisade_nft::Verdict::Audit,
            Verdict::ShadowDenied => palisade_nft::Verdict::ShadowDenied,
            Verdict::ShadowAllowed => palisade_nft::Verdict::ShadowAllowed,
        }
    }
}

/// Which flows to keep; every filter given must pass.
#[derive(Args, Clone, Debug, Default)]
pub struct FlowFilter {
    /// Only flows with this verdict (`audit`: denied by policy, let through in audit mode).
    #[arg(long, value_enum)]
    pub verdict: Option<Verdict>,
    /// Flows from or to pods of this namespace.
    #[arg(long)]
    pub namespace: Option<String>,
    /// Flows from or to this pod (`ns/name`, a name in any namespace, or an address).
    #[arg(long)]
    pub pod: Option<String>,
    /// Flows this policy decided (`ns/name` of a NetworkPolicy, a ClusterNetworkPolicy's
    /// name, or `default-deny`).
    #[arg(long)]
    pub policy: Option<String>,
}

impl FlowFilter {
    /// Whether a flow passes.
    pub fn keep(&self, f: &FlowRecord) -> bool {
        let ends = [&f.src, &f.dst];
        let verdict_ok = self.verdict.is_none_or(|want| f.verdict == want.of());
        let ns_ok = self
            .namespace
            .as_ref()
            .is_none_or(|ns| ends.iter().any(|e| e.namespace() == Some(ns.as_str())));
        // A pod as `ns/name`, or a bare name in any namespace (names cannot hold `/`), or
        // an address no pod holds.
        let pod_ok = self.pod.as_ref().is_none_or(|p| {
            let (ns, name) = match p.split_once('/') {
                Some((ns, name)) => (Some(ns), name),
                None => (None, p.as_str()),
            };
            ends.iter().any(|e| match e {
                FlowEnd::Address(ip) => p.parse() == Ok(*ip),
                _ => e.pod_name() == Some(name) && ns.is_none_or(|ns| e.namespace() == Some(ns)),
            })
        });
        let policy_ok = self.policy.as_ref().is_none_or(|p| f.deciding_policy() == p);
        verdict_ok && ns_ok && pod_ok && policy_ok
    }
}

#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  palisade flows /var/log/palisade/flows.jsonl --verdict denied\n  palisade flows flows.jsonl -f --namespace shop --pod shop/frontend\n  palisade flows flows.jsonl --policy default-deny"
)]
pub struct FlowsArgs {
    /// The agent's flow log file (`--flow-log`).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Keep reading as the file grows (and after it rotates).
    #[arg(short, long)]
    pub follow: bool,
    #[command(flatten)]
    pub filter: FlowFilter,
}

/// Complete lines of a file that may grow, be truncated, or be replaced by another file
/// at its path (rotation); a partial last line waits until it is complete.
pub struct Tail {
    path: PathBuf,
    reader: BufReader<File>,
    pos: u64,
    line: String,
}

impl Tail {
    /// Opens `path` at its start.
    pub fn open(path: &Path) -> anyhow::Result<Tail> {
        Ok(Tail {
            path: path.to_path_buf(),
            reader: BufReader::new(Self::file(path)?),
            pos: 0,
            line: String::new(),
        })
    }

    fn file(path: &Path) -> anyhow::Result<File> {
        File::open(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
    }

    /// The next complete line (without its newline), or `None` when there is none yet.
    pub fn next_line(&mut self) -> anyhow::Result<Option<&str>> {
        for _ in 0..2 {
            self.line.clear();
            let n = self.reader.read_line(&mut self.line)?;
            if n > 0 && self.line.ends_with('\n') {
                self.pos += n as u64;
                return Ok(Some(self.line.trim_end()));
            }
            // A partial line: read it again when complete.
            if n > 0 {
                self.reader.seek(SeekFrom::Start(self.pos))?;
            }
            // Rotated (another file at the path) or truncated: start over on what is there.
            use std::os::unix::fs::MetadataExt;
            let here = self.reader.get_ref().metadata().map(|m| m.ino()).ok();
            let now = std::fs::metadata(&self.path).ok();
            if !now
                .as_ref()
                .is_some_and(|m| Some(m.ino()) != here || m.len() < self.pos)
            {
                break;
            }
            self.reader = BufReader::new(Self::file(&self.path)?);
            self.pos = 0;
        }
        Ok(None)
    }
}

pub fn flows(args: &FlowsArgs) -> Result<(String, bool), Failure> {
    let mut tail = Tail::open(&args.file)?;
    let mut out = std::io::stdout().lock();
    loop {
        match tail.next_line()? {
            Some(line) => {
                let keep = serde_json::from_str::<FlowRecord>(line).is_ok_and(|f| args.filter.keep(&f));
                use std::io::Write;
                if keep && writeln!(out, "{line}").is_err() {
                    return Ok((String::new(), true));
                }
            }
            None if !args.follow => return Ok((String::new(), true)),
            None => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

/// Flow logs (Palisade's or Hubble's JSON lines) folded into connections; lines that are
/// not flow records are counted and said once on stderr. Lines are parsed in batches on
/// every core (parsing JSON is most of the work), then counted in order.
pub fn read_connections(files: &[PathBuf]) -> Result<palisade_traffic::Connections, Failure> {
    use rayon::prelude::*;
    const BATCH: usize = 16_384;
    let mut conns = palisade_traffic::Connections::default();
    for path in files {
        let f = File::open(path).map_err(|e| anyhow::anyhow!("--flows {}: {e}", path.display()))?;
        let mut lines = BufReader::new(f).lines();
        let mut unreadable = 0u64;
        let mut first_bad = None;
        let mut at = 0usize;
        loop {
            let batch: Vec<String> = lines
                .by_ref()
                .take(BATCH)
                .collect::<Result<_, _>>()
                .map_err(|e| anyhow::anyhow!("--flows {}: {e}", path.display()))?;
            if batch.is_empty() {
                break;
            }
            let parsed: Vec<_> = batch
                .par_iter()
                .map(|l| {
                    if l.trim().is_empty() {
                        Ok(None)
                    } else {
                        palisade_traffic::observed::parse_line(l)
                    }
                })
                .collect();
            for (n, p) in parsed.into_iter().enumerate() {
                match p {
                    Ok(Some(o)) => conns.add(o),
                    Ok(None) => {}
                    Err(e) => {
                        unreadable += 1;
                        first_bad.get_or_insert((at + n + 1, e.to_string()));
                    }
                }
            }
            at += batch.len();
        }
        if let Some((line, why)) = first_bad {
            eprintln!(
                "warning: {}: {unreadable} line(s) are not flow records, skipped (first: line {line}: {why})",
                path.display()
            );
        }
    }
    Ok(conns)
}
