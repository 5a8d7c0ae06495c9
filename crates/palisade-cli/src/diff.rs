//! `palisade diff OLD NEW` and `palisade diff --git REV PATH…`: what a change opens and
//! closes.

use std::process::Command;

use clap::{Args, ValueEnum};
use palisade_load::Source;

use crate::inputs::{self, Failure, InputArgs};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum FailOn {
    Opened,
    Closed,
    Any,
    /// The change cuts a connection the flow logs (`--flows`) saw.
    Cut,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Format {
    #[value(alias = "text")]
    Table,
    Json,
}

#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  palisade diff old/ new/\n  palisade diff --git origin/main ./policies/ --fail-on opened\n  palisade diff --cluster ./policies/ --prune --to shop\n  palisade diff --git origin/main ./policies/ --flows flows.jsonl --fail-on cut"
)]
pub struct DiffArgs {
    /// OLD and NEW (files or directories); with --git, the working-tree paths to compare;
    /// with --cluster, the files to apply over the live cluster.
    #[command(flatten)]
    pub input: InputArgs,
    /// Compare the paths as they are in this git revision with the working tree.
    #[arg(long, value_name = "REV")]
    pub git: Option<String>,
    /// Which changes make the exit code 1.
    #[arg(long = "fail-on", value_enum, default_value = "any")]
    pub fail_on: FailOn,
    /// Output format (`table` and `text` name the same human-readable form everywhere).
    #[arg(short = 'o', long = "output", value_enum, default_value = "table")]
    pub output: Format,
    #[command(flatten)]
    pub filter: crate::filter::FilterArgs,
    /// Flow logs (Palisade's JSON lines, or `hubble observe -o json`) to replay against
    /// both sides: the observed connections the change cuts and those it newly allows
    /// (repeatable).
    #[arg(long = "flows", value_name = "FILE")]
    pub flows: Vec<std::path::PathBuf>,
}

fn git(args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new("git").args(args).output()?;
    anyhow::ensure!(
        out.status.success(),
        "git {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(String::from_utf8(out.stdout)?)
}

/// The manifests under `paths` as they are at `rev` (paths relative to the current directory).
pub(crate) fn at_revision(rev: &str, paths: &[String]) -> anyhow::Result<Vec<Source>> {
    let mut out = Vec::new();
    let mut args = vec!["ls-tree", "-r", "--name-only", rev, "--"];
    args.extend(paths.iter().map(String::as_str));
    for file in git(&args)?.lines() {
        if !(file.ends_with(".yaml") || file.ends_with(".yml") || file.ends_with(".json")) {
            continue;
        }
        let text = git(&["show", &format!("{rev}:./{file}")])?;
        out.push(Source::Listed {
            name: format!("{rev}:{file}"),
            text,
        });
    }
    Ok(out)
}

/// OLD and NEW, loaded: two paths, a git revision and the working tree, or the live
/// cluster and the cluster with the files applied over it.
fn old_and_new(args: &DiffArgs) -> Result<(palisade_load::Loaded, palisade_load::Loaded), Failure> {
    let paths = &args.input.paths;
    if args.input.live.cluster {
        if args.git.is_some() {
            return Err(Failure::Usage("--git and --cluster do not go together".into()));
        }
        if paths.is_empty() {
            return Err(Failure::Usage(
                "diff --cluster takes the files to apply: palisade diff --cluster PATH…".into(),
            ));
        }
        let live = inputs::read_live(&args.input)?;
        let files = inputs::load_sources(&args.input, &inputs::sources(paths)?)?;
        let new = inputs::overlay(&args.input, live.clone(), files);
        return Ok((live, new));
    }
    let (old, new) = match &args.git {
        Some(rev) => (at_revision(rev, paths)?, inputs::sources(paths)?),
        None => {
            if paths.len() != 2 {
                return Err(Failure::Usage(
                    "diff takes OLD and NEW (or --git REV PATH…, or --cluster PATH…)".into(),
                ));
            }
            (inputs::sources(&paths[..1])?, inputs::sources(&paths[1..])?)
        }
    };
    Ok((
        inputs::load_sources(&args.input, &old)?,
        inputs::load_sources(&args.input, &new)?,
    ))
}

pub fn run(args: &DiffArgs) -> Result<(String, bool), Failure> {
    let filter = args.filter.pair_filter()?;
    let (old, new) = old_and_new(args)?;
    inputs::warn_domain_names(&new.cluster);
    crate::filter::warn_unmatched(&filter.scope(&new.cluster));
    let progress = crate::progress::Progress::start("comparing the reachability of both sides");
    let d = palisade_check::diff::diff_scoped(&old.cluster, &new.cluster, &args.input.options(), &filter)?;
    progress.finish();
    let flows = if args.flows.is_empty() {
        if args.fail_on == FailOn::Cut {
            return Err(Failure::Usage(
                "--fail-on cut needs the flows to replay: --flows FILE".into(),
            ));
        }
        None
    } else {
        let conns = crate::flows::read_connections(&args.flows)?;
        let progress = crate::progress::Progress::start("replaying the observed connections");
        let r = palisade_traffic::replay(&old.cluster, &new.cluster, &args.input.options(), &conns)
            .map_err(anyhow::Error::from)?;
        progress.finish();
        Some(r)
    };
    let fails = match args.fail_on {
        FailOn::Opened => !d.opened.is_empty(),
        FailOn::Closed => !d.closed.is_empty(),
        FailOn::Any => !d.opened.is_empty() || !d.closed.is_empty(),
        FailOn::Cut => flows.as_ref().is_some_and(|r| !r.cut.is_empty()),
    };
    let text = match args.output {
        Format::Table => d.table() + &flows.as_ref().map(replay_table).unwrap_or_default(),
        Format::Json => {
            let doc = DiffJson {
                diff: &d,
                flows: flows.as_ref().map(ReplayJson::of),
            };
            format!(
                "{}\n",
                serde_json::to_string_pretty(&doc).map_err(anyhow::Error::from)?
            )
        }
    };
    Ok((text, !fails))
}

/// `diff -o json`: the diff, and with `--flows` what it does to observed traffic.
#[derive(serde::Serialize)]
struct DiffJson<'a> {
    #[serde(flatten)]
    diff: &'a palisade_check::diff::Diff,
    #[serde(skip_serializing_if = "Option::is_none")]
    flows: Option<ReplayJson>,
}

#[derive(serde::Serialize)]
struct ReplayJson {
    /// Distinct connections replayed.
    connections: usize,
    /// Observed connections the old side allowed and the new one denies.
    cut: Vec<ConnectionJson>,
    /// Observed connections the old side denied and the new one allows.
    opened: Vec<ConnectionJson>,
    /// Flow records read.
    records: u64,
    /// Connections between two addresses outside the pods (no policy judges them).
    unjudged: usize,
}

#[derive(serde::Serialize)]
struct ConnectionJson {
    /// Flow records of it.
    count: u64,
    /// Records the dataplane denied when they were logged.
    denied: u64,
    first_seen: String,
    from: String,
    last_seen: String,
    port: u16,
    protocol: &'static str,
    to: String,
}

impl ReplayJson {
    fn of(r: &palisade_traffic::Replay) -> ReplayJson {
        let list = |v: &[palisade_traffic::Replayed]| v.iter().map(ConnectionJson::of).collect();
        ReplayJson {
            connections: r.connections,
            cut: list(&r.cut),
            opened: list(&r.opened),
            records: r.records,
            unjudged: r.unjudged,
        }
    }
}

impl ConnectionJson {
    fn of(c: &palisade_traffic::Replayed) -> ConnectionJson {
        use palisade_traffic::observed::rfc3339;
        ConnectionJson {
            count: c.seen.count,
            denied: c.seen.seen[1],
            first_seen: rfc3339(c.seen.first),
            from: c.key.src.to_string(),
            last_seen: rfc3339(c.seen.last),
            port: c.key.port,
            protocol: c.key.protocol.as_str(),
            to: c.key.dst.to_string(),
        }
    }
}

/// The replay as text, after the diff's table.
fn replay_table(r: &palisade_traffic::Replay) -> String {
    let lines = |v: &[palisade_traffic::Replayed]| -> String {
        v.iter()
            .map(|c| {
                let j = ConnectionJson::of(c);
                format!(
                    "  {} -> {} {}/{}: {} flow record(s), first {}, last {}\n",
                    j.from, j.to, j.port, j.protocol, j.count, j.first_seen, j.last_seen
                )
            })
            .collect()
    };
    format!(
        "\nObserved connections the change cuts (allowed before, denied after): {}\n{}\
         Observed connections it newly allows: {}\n{}\
         ({} connection(s) from {} flow record(s) replayed{})\n",
        r.cut.len(),
        lines(&r.cut),
        r.opened.len(),
        lines(&r.opened),
        r.connections,
        r.records,
        if r.unjudged > 0 {
            format!(
                "; {} between two addresses outside the pods, which no policy judges",
                r.unjudged
            )
        } else {
            String::new()
        }
    )
}
