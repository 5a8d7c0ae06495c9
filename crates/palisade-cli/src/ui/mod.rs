//! `palisade ui`: a local web application over the same engine. One command, one port
//! (`--listen`, loopback by default), assets embedded in the binary, nothing fetched at run
//! time. The pages read a documented JSON API (`openapi.yaml`, served at
//! `/api/openapi.yaml`) that scripts can use too; the server aggregates (workloads,
//! namespaces) so the browser never receives the pod matrix.
//!
//! Views: map, coverage, namespace matrix, explain, policies, change, and live flows
//! (from `--flows FILE`, or from the agent itself under `palisade agent --ui`). Input
//! files are watched and analysed again; the agent's UI follows the states it enforces.

mod api;
mod assets;
mod coverage;
mod feed;
mod map;
mod matrix;

use std::net::SocketAddr;
use std::sync::Arc;

use clap::Args;
use palisade_core::report::Report;
use palisade_core::{compile, Cluster, Compiled, Options};

use crate::inputs::{self, Failure, InputArgs};

#[derive(Args, Clone, Debug)]
#[command(
    after_help = "Examples:\n  palisade ui examples/shop\n  palisade ui --cluster --listen 127.0.0.1:9000\n  palisade ui examples/shop --old examples/shop-before\n  palisade ui manifests/ --flows /var/log/palisade/flows.jsonl"
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
    /// For the live view: a flow log (the agent's `--flow-log`, `dataplane log`'s or the
    /// lab's), read from its start and followed as it grows and rotates.
    #[arg(long, value_name = "FILE")]
    pub flows: Option<std::path::PathBuf>,
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
    /// The live view's flows, when there is a source of them.
    pub feed: Option<Arc<feed::Feed>>,
}

impl Live {
    fn new(first: Analysis, feed: Option<Arc<feed::Feed>>) -> Live {
        Live {
            current: std::sync::RwLock::new(Arc::new(first)),
            generation: Default::default(),
            problem: Default::default(),
            feed,
        }
    }

    /// Answers from `next` from now on.
    fn replace(&self, next: Analysis) {
        *self.current.write().expect("lock") = Arc::new(next);
        *self.problem.lock().expect("lock") = None;
        self.generation.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }

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
    let mut loaded = inputs::load(&args.input)?;
    let input = if args.input.live.cluster {
        "the live cluster".to_string()
    } else {
        args.input.paths.join(" ")
    };
    let change = change(args, &loaded)?;
    let cluster = std::mem::take(&mut loaded.cluster);
    let policies = |c: &Cluster, compiled: &Compiled| api::policy_views(c, compiled, Some(&loaded));
    Analysis::new(cluster, args.input.options(), input, policies, change)
}

impl Analysis {
    /// The analysis of `cluster`: compiled, reported, linted, with the default map and
    /// the matrix computed (what every page asks first: ready before the address is
    /// printed, or before the new analysis is swapped in).
    fn new(
        cluster: Cluster,
        options: Options,
        input: String,
        policies: impl FnOnce(&Cluster, &Compiled) -> Vec<api::PolicyView>,
        change: Option<api::ChangeView>,
    ) -> Result<Analysis, Failure> {
        let compiled = compile(&cluster, &options);
        let report = Report::build(&cluster, &compiled).map_err(anyhow::Error::from)?;
        let lint_options = palisade_check::lint::LintOptions {
            engine: options.clone(),
            ..Default::default()
        };
        let lint = palisade_check::lint::lint(&cluster, &lint_options);
        let policies = policies(&cluster, &compiled);
        let analysis = Analysis {
            cluster,
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
        api::Cache::warm(&analysis);
        Ok(analysis)
    }
}

/// Loads and analyses the input, then serves until interrupted; files given as input are
/// watched and analysed again when they change.
pub fn run(args: &UiArgs) -> Result<(String, bool), Failure> {
    let feed = match &args.flows {
        Some(path) => {
            let feed = Arc::new(feed::Feed::new(path.display().to_string()));
            feed::follow_file(path.clone(), feed.clone())?;
            Some(feed)
        }
        None => None,
    };
    let live = Arc::new(Live::new(analyse(args)?, feed));
    if args.input.live.cluster {
        follow_cluster(args, live.clone())?;
    }
    // Kept alive while serving: dropping the watcher stops it.
    let _watcher = if args.input.paths.is_empty() || args.input.paths.iter().any(|p| p == "-") {
        None
    } else {
        Some(
            watch(args, live.clone())
                .map_err(|e| Failure::Runtime(anyhow::anyhow!("watching the input: {e}")))?,
        )
    };
    let listener = bind(args.listen)?;
    serve(listener, live, true).map_err(Failure::Runtime)?;
    Ok((String::new(), true))
}

/// `palisade agent --ui ADDR`: serves the UI over the states the agent enforces (analysed
/// again after each, newest first) and the flows it decodes. Returns what the agent tells.
#[cfg(feature = "agent")]
pub fn for_agent(
    listen: SocketAddr,
    node: &str,
    source: String,
    options: Options,
) -> Result<palisade_agent::Observers, Failure> {
    let feed = Arc::new(feed::Feed::new(format!("the agent on node {node}")));
    let input = format!("the agent on node {node} ({source})");
    let first = Analysis::new(
        Cluster::default(),
        options.clone(),
        input.clone(),
        |_, _| Vec::new(),
        None,
    )?;
    let live = Arc::new(Live::new(first, Some(feed.clone())));
    let listener = bind(listen)?;
    {
        let live = live.clone();
        std::thread::spawn(move || {
            if let Err(e) = serve(listener, live, false) {
                tracing::error!("--ui: {e:#}");
            }
        });
    }
    tracing::info!("web UI on http://{listen}/");
    let (tx, rx) = std::sync::mpsc::channel::<Cluster>();
    std::thread::spawn(move || {
        while let Ok(mut cluster) = rx.recv() {
            // Only the newest of the states that arrived meanwhile is worth analysing.
            while let Ok(newer) = rx.try_recv() {
                cluster = newer;
            }
            let views = |c: &Cluster, compiled: &Compiled| api::policy_views(c, compiled, None);
            match Analysis::new(cluster, options.clone(), input.clone(), views, None) {
                Ok(a) => live.replace(a),
                Err(_) => tracing::warn!("--ui: the enforced state could not be analysed"),
            }
        }
    });
    let tx = std::sync::Mutex::new(tx);
    Ok(palisade_agent::Observers {
        flow: Some(Box::new(move |f| feed.push(f.clone()))),
        state: Some(Box::new(move |c| {
            let _ = tx.lock().expect("lock").send(c.clone());
        })),
    })
}

/// Binds the UI's address (before anything is served, so a wrong one fails at once).
fn bind(listen: SocketAddr) -> Result<std::net::TcpListener, Failure> {
    let l = std::net::TcpListener::bind(listen)
        .and_then(|l| l.set_nonblocking(true).map(|_| l))
        .map_err(|e| Failure::Runtime(anyhow::anyhow!("--listen {listen}: {e}")))?;
    Ok(l)
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
    let args = args.clone();
    std::thread::spawn(move || {
        while rx.recv().is_ok() {
            // Let the burst settle (an editor writes a file in several steps).
            while rx.recv_timeout(std::time::Duration::from_millis(300)).is_ok() {}
            reanalyse(&args, &live);
        }
    });
    Ok(watcher)
}

/// Analyses the input again and swaps the result in; an input that fails keeps the last
/// good analysis and says why.
fn reanalyse(args: &UiArgs, live: &Live) {
    match analyse(args) {
        Ok(a) => live.replace(a),
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

/// `--cluster`: the agent's reflectors on the same kinds tell when the cluster changes;
/// after a burst settles (a second) the input is read and analysed again as at start (the
/// files applied over it), so the page follows the cluster. The reflectors only signal:
/// reading again keeps one path for the cluster with files over it.
#[cfg(all(feature = "agent", feature = "cluster"))]
fn follow_cluster(args: &UiArgs, live: Arc<Live>) -> Result<(), Failure> {
    let target = palisade_kube::Target {
        kubeconfig: args.input.live.kubeconfig.clone(),
        context: args.input.live.context.clone(),
    };
    let opts = args.input.load_options()?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Runtime(e.into()))?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        rt.block_on(async move {
            match target.client().await {
                Ok((client, _)) => palisade_agent::kube::run(client, opts, tx).await,
                Err(e) => eprintln!("warning: not following the cluster: {e}"),
            }
        })
    });
    let args = args.clone();
    std::thread::spawn(move || {
        // Each whole state is read again, the reflectors' first too: a change between the
        // read at start and their sync is in it (an invalid state too: the analysis says
        // why).
        while let Ok(input) = rx.recv() {
            if matches!(input, palisade_agent::Input::Synced(..)) {
                continue;
            }
            while rx.recv_timeout(std::time::Duration::from_secs(1)).is_ok() {}
            reanalyse(&args, &live);
        }
    });
    Ok(())
}

/// Without the agent's reflectors a live cluster is read once.
#[cfg(not(all(feature = "agent", feature = "cluster")))]
fn follow_cluster(_: &UiArgs, _: Arc<Live>) -> Result<(), Failure> {
    Ok(())
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

/// Serves until the process ends; `announce`: the address is the first line on stdout
/// (tests and scripts read it).
fn serve(listener: std::net::TcpListener, live: Arc<Live>, announce: bool) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener)?;
        let addr = listener.local_addr()?;
        if announce {
            println!("palisade ui: http://{addr}/");
        }
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
