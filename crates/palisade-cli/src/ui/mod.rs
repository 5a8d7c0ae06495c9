//! `palisade ui`: a local web application over the same engine. One command, one port
//! (`--listen`, loopback by default), assets embedded in the binary, nothing fetched at run
//! time. The pages read a documented JSON API (`openapi.yaml`, served at
//! `/api/openapi.yaml`) that scripts can use too; the server aggregates (workloads,
//! namespaces) so the browser never receives the pod matrix.
//!
//! This is the first part of issue 13: overview, map, coverage, namespace matrix,
//! explain, policies and change. The live view and re-analysis on file changes are not
//! built yet.

mod api;
mod assets;

use std::net::SocketAddr;
use std::sync::Arc;

use clap::Args;
use palisade_core::report::Report;
use palisade_core::{compile, Cluster, Compiled, Options};

use crate::inputs::{self, Failure, InputArgs};

#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  palisade ui examples/shop\n  palisade ui --cluster --listen 127.0.0.1:9000"
)]
pub struct UiArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// For the change view: the manifests before the change (files or directories,
    /// repeatable); the connections the input opens and closes against them.
    #[arg(long = "old", value_name = "PATH", conflicts_with = "git")]
    pub old: Vec<String>,
    /// For the change view: the input's paths as they are at this git revision, against
    /// the working tree.
    #[arg(long, value_name = "REV")]
    pub git: Option<String>,
    /// Where to serve (loopback by default; any other address is reachable by others on
    /// that network, and the page says nothing about who may look).
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR")]
    pub listen: SocketAddr,
}

/// What every request reads: the input analysed once.
pub struct Analysis {
    pub cluster: Cluster,
    pub compiled: Compiled,
    pub report: Report,
    pub options: Options,
    /// What was read, for the page's title (paths, or the cluster).
    pub input: String,
    /// The lint of the input (default options), for the coverage view.
    pub lint: palisade_check::lint::LintReport,
    /// The namespaces lint's coverage rules leave alone.
    pub skipped_namespaces: Vec<String>,
    /// Every policy with what it selects and its text, for the policy view.
    pub policies: Vec<api::PolicyView>,
    /// What the input opens and closes against `--old` or `--git` (the change view).
    pub change: Option<api::ChangeView>,
    /// The answers that do not depend on the request.
    pub cache: api::Cache,
}

/// The analysis now, replaced whole when the input files change (a request reads one
/// analysis from start to end), with the generation pages poll to know they are stale.
pub struct Live {
    current: std::sync::RwLock<Arc<Analysis>>,
    generation: std::sync::atomic::AtomicU64,
    /// Why the last re-analysis failed (the previous analysis stays), if it did.
    problem: std::sync::Mutex<Option<String>>,
}

impl Live {
    /// The analysis to answer from.
    pub fn current(&self) -> Arc<Analysis> {
        self.current.read().expect("lock").clone()
    }

    /// How many times the input was analysed again since start.
    pub fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The last re-analysis's problem, if the input is now invalid.
    pub fn problem(&self) -> Option<String> {
        self.problem.lock().expect("lock").clone()
    }
}

/// Loads, analyses, and warms the answers every page asks first.
fn analyse(args: &UiArgs) -> Result<Analysis, Failure> {
    let loaded = inputs::load(&args.input)?;
    let options = args.input.options();
    let compiled = compile(&loaded.cluster, &options);
    let report = Report::build(&loaded.cluster, &compiled).map_err(anyhow::Error::from)?;
    let input = if args.input.live.cluster {
        "the live cluster".to_string()
    } else {
        args.input.paths.join(" ")
    };
    let lint_options = palisade_check::lint::LintOptions {
        engine: options.clone(),
        ..Default::default()
    };
    let lint = palisade_check::lint::lint(&loaded.cluster, &lint_options);
    let policies = api::policy_views(&loaded, &compiled);
    let change = change(args, &loaded)?;
    let analysis = Analysis {
        cluster: loaded.cluster,
        compiled,
        report,
        options,
        input,
        lint,
        skipped_namespaces: lint_options.skip_namespaces,
        policies,
        change,
        cache: api::Cache::default(),
    };
    // The default map and the matrix are what every page asks first: ready before the
    // address is printed (or the new analysis is swapped in).
    api::Cache::warm(&analysis);
    Ok(analysis)
}

/// Loads and analyses the input, then serves until interrupted; files given as input are
/// watched and analysed again when they change.
pub fn run(args: &UiArgs) -> Result<(String, bool), Failure> {
    let live = Arc::new(Live {
        current: std::sync::RwLock::new(Arc::new(analyse(args)?)),
        generation: Default::default(),
        problem: Default::default(),
    });
    // Kept alive while serving: dropping the watcher stops it.
    let _watcher = if args.input.live.cluster || args.input.paths.iter().any(|p| p == "-") {
        None
    } else {
        Some(
            watch(args, live.clone())
                .map_err(|e| Failure::Runtime(anyhow::anyhow!("watching the input: {e}")))?,
        )
    };
    serve(args.listen, live).map_err(Failure::Runtime)?;
    Ok((String::new(), true))
}

/// Watches the input paths; after a burst of changes settles, analyses again and swaps
/// the result in (an invalid input keeps the last good analysis and says why).
fn watch(args: &UiArgs, live: Arc<Live>) -> notify::Result<notify::RecommendedWatcher> {
    use notify::Watcher;
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        if res.is_ok_and(|e| !matches!(e.kind, notify::EventKind::Access(_))) {
            let _ = tx.send(());
        }
    })?;
    for p in &args.input.paths {
        watcher.watch(std::path::Path::new(p), notify::RecursiveMode::Recursive)?;
    }
    let args = UiArgs {
        input: args.input.clone(),
        old: args.old.clone(),
        git: args.git.clone(),
        listen: args.listen,
    };
    std::thread::spawn(move || {
        while rx.recv().is_ok() {
            // Let the burst settle (an editor writes a file in several steps).
            while rx.recv_timeout(std::time::Duration::from_millis(300)).is_ok() {}
            match analyse(&args) {
                Ok(a) => {
                    *live.current.write().expect("lock") = Arc::new(a);
                    *live.problem.lock().expect("lock") = None;
                    live.generation.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                }
                Err(f) => {
                    let why = match f {
                        Failure::Input(d) => d.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"),
                        Failure::Other(e) | Failure::Runtime(e) => format!("{e:#}"),
                        Failure::Usage(e) => e,
                    };
                    *live.problem.lock().expect("lock") = Some(why);
                }
            }
        }
    });
    Ok(watcher)
}

/// The diff of the input against `--old` or `--git`, as `palisade diff` computes it.
fn change(args: &UiArgs, new: &palisade_load::Loaded) -> Result<Option<api::ChangeView>, Failure> {
    let (sources, against) = match (&args.git, args.old.is_empty()) {
        (Some(rev), _) => (
            crate::diff::at_revision(rev, &args.input.paths)?,
            format!("git {rev}"),
        ),
        (None, false) => (inputs::sources(&args.old)?, args.old.join(" ")),
        (None, true) => return Ok(None),
    };
    let old = inputs::load_sources(&args.input, &sources)?;
    let diff = palisade_check::diff::diff(&old.cluster, &new.cluster, &args.input.options())?;
    Ok(Some(api::ChangeView { against, diff }))
}

fn serve(listen: SocketAddr, live: Arc<Live>) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| anyhow::anyhow!("--listen {listen}: {e}"))?;
        let addr = listener.local_addr()?;
        // The first line on stdout is the address (tests and scripts read it).
        println!("palisade ui: http://{addr}/");
        if !addr.ip().is_loopback() {
            eprintln!(
                "warning: serving on {addr}, beyond loopback: anyone who can reach it sees the cluster's pods and policies"
            );
        }
        let app = api::router(live).merge(assets::router());
        axum::serve(listener, app).await?;
        Ok(())
    })
}
