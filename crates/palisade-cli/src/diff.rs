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
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Format {
    #[value(alias = "text")]
    Table,
    Json,
}

#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  palisade diff old/ new/\n  palisade diff --git origin/main ./policies/ --fail-on opened\n  palisade diff --cluster ./policies/ --prune --to shop"
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
    let fails = match args.fail_on {
        FailOn::Opened => !d.opened.is_empty(),
        FailOn::Closed => !d.closed.is_empty(),
        FailOn::Any => !d.opened.is_empty() || !d.closed.is_empty(),
    };
    let text = match args.output {
        Format::Table => d.table(),
        Format::Json => format!(
            "{}\n",
            serde_json::to_string_pretty(&d).map_err(anyhow::Error::from)?
        ),
    };
    Ok((text, !fails))
}
