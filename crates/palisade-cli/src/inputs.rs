//! Arguments shared by every command that reads manifests, and loading them.

use std::io::Read;
use std::path::PathBuf;

use clap::{Args, ValueEnum};
use palisade_core::{Cidr, External, IpBlockPods, Options};
use palisade_load::{LoadOptions, Loaded, Source, Validation};

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum IpBlockMode {
    /// ipBlock also matches pod IPs (upstream conformance behaviour).
    Match,
    /// ipBlock matches only non-pod traffic (Cilium, GKE Dataplane V2).
    Ignore,
}

/// kubectl's `--validate`: what to do with fields the Kubernetes types do not know.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ValidateMode {
    /// An error naming the field and the closest known one (kubectl's default).
    #[value(alias = "true")]
    Strict,
    /// A warning; the field is ignored.
    Warn,
    /// Ignored without a word.
    #[value(alias = "false")]
    Ignore,
}

#[derive(Args, Debug, Clone)]
pub struct InputArgs {
    /// Manifest files or directories (recursive: .yaml, .yml, .json); `-` reads stdin. With
    /// --cluster, applied over the live cluster as `kubectl apply -f` would.
    #[arg(required_unless_present = "cluster", value_name = "PATH")]
    pub paths: Vec<String>,
    #[command(flatten)]
    pub live: ClusterArgs,
    #[command(flatten)]
    pub model: ModelArgs,
    /// Count NetworkPolicies annotated `palisade.dev/mode: shadow` as enforced: the picture
    /// if they were promoted (by default they are staged and change no answer).
    #[arg(long = "with-shadow")]
    pub with_shadow: bool,
}

/// The live cluster as input, found as kubectl finds it.
#[derive(Args, Debug, Clone, Default)]
pub struct ClusterArgs {
    /// Read the live cluster (Namespaces, Nodes, Pods, NetworkPolicies and the
    /// network-policy-api kinds where served) of the current kubeconfig context; PATHs, if
    /// given, are applied over it (same kind, namespace and name replaces).
    #[arg(long)]
    pub cluster: bool,
    /// With --cluster: this kubeconfig context instead of the current one.
    #[arg(long, value_name = "NAME", requires = "cluster")]
    pub context: Option<String>,
    /// With --cluster: this kubeconfig file instead of $KUBECONFIG or ~/.kube/config (no
    /// kubeconfig at all: the in-cluster service account).
    #[arg(long, value_name = "FILE", requires = "cluster")]
    pub kubeconfig: Option<PathBuf>,
    /// With --cluster and PATHs: also remove the cluster's policies that the files do not
    /// have, in each namespace where the files have NetworkPolicies (cluster-scoped
    /// policies when the files have any), as `kubectl apply --prune`.
    #[arg(long, requires = "cluster")]
    pub prune: bool,
}

impl InputArgs {
    pub fn options(&self) -> Options {
        self.model.options()
    }

    pub fn load_options(&self) -> anyhow::Result<LoadOptions> {
        self.model.load_options()
    }
}

/// How manifests become the model: defaults for what they leave out, and the
/// implementation-defined choices.
#[derive(Args, Debug, Clone)]
pub struct ModelArgs {
    /// Namespace for objects that name none, as `kubectl apply -n`.
    #[arg(short = 'n', long = "namespace", default_value = "default", value_parser = namespace_name)]
    pub namespace: String,
    /// Pod network for pods without status.podIP (repeat for dual-stack: one IPv4, one IPv6).
    #[arg(long = "pod-cidr", value_name = "CIDR", default_values_t = vec!["10.244.0.0/16".to_string()])]
    pub pod_cidrs: Vec<String>,
    /// Whether ipBlock peers also match pod IPs.
    #[arg(long = "ipblock-pods", value_enum, default_value = "match")]
    pub ipblock_pods: IpBlockMode,
    /// An external address block to analyse as an endpoint: `NAME=CIDR` or `CIDR` (repeat
    /// the option for more).
    #[arg(long = "external", value_name = "[NAME=]CIDR")]
    pub externals: Vec<String>,
    /// Fields the Kubernetes types do not know: an error (strict), a warning, or nothing.
    #[arg(long = "validate", value_enum, default_value = "strict", value_name = "MODE")]
    pub validate: ValidateMode,
}

/// `-n`: a namespace name as the API server checks it.
fn namespace_name(s: &str) -> Result<String, String> {
    match palisade_load::names::dns1123_label(s) {
        None => Ok(s.to_string()),
        Some(why) => Err(format!("not a valid namespace name: {why}")),
    }
}

impl ModelArgs {
    pub fn options(&self) -> Options {
        Options {
            ipblock_pods: match self.ipblock_pods {
                IpBlockMode::Match => IpBlockPods::Match,
                IpBlockMode::Ignore => IpBlockPods::Ignore,
            },
        }
    }

    pub fn load_options(&self) -> anyhow::Result<LoadOptions> {
        let mut pod_cidrs = Vec::new();
        for c in &self.pod_cidrs {
            pod_cidrs.push(
                c.parse::<Cidr>()
                    .map_err(|e| anyhow::anyhow!("--pod-cidr: {e}"))?,
            );
        }
        let mut externals = Vec::new();
        for e in &self.externals {
            let (name, cidr) = match e.split_once('=') {
                Some((n, c)) => (n.to_string(), c),
                None => (e.clone(), e.as_str()),
            };
            let cidr = parse_cidr_or_ip(cidr).map_err(|err| anyhow::anyhow!("--external {e}: {err}"))?;
            externals.push(External { name, cidr });
        }
        Ok(LoadOptions {
            default_namespace: self.namespace.clone(),
            pod_cidrs,
            externals,
            validation: match self.validate {
                ValidateMode::Strict => Validation::Strict,
                ValidateMode::Warn => Validation::Warn,
                ValidateMode::Ignore => Validation::Ignore,
            },
        })
    }
}

/// A CIDR, or a bare address as a single-address block.
pub fn parse_cidr_or_ip(s: &str) -> Result<Cidr, String> {
    if let Ok(ip) = s.parse::<std::net::IpAddr>() {
        return Ok(Cidr::host(ip));
    }
    s.parse()
}

/// Why a command failed, which decides its exit code (see [`crate::EXIT_CODES`]).
pub enum Failure {
    /// Problems in the input, each placed (exit 2).
    Input(Vec<palisade_load::Diagnostic>),
    /// Input that could not be read or understood: a file, the cluster (exit 2).
    Other(anyhow::Error),
    /// The command line itself: options that do not go together (exit 2).
    Usage(String),
    /// The input was fine but the work failed: the kernel refused rules, a namespace
    /// could not be made (exit 3).
    Runtime(anyhow::Error),
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Failure::Other(e)
    }
}

pub fn sources(paths: &[String]) -> Result<Vec<Source>, Failure> {
    let mut out = Vec::new();
    for p in paths {
        if p == "-" {
            let mut bytes = Vec::new();
            std::io::stdin()
                .take(palisade_load::walk::MAX_FILE_BYTES + 1)
                .read_to_end(&mut bytes)
                .map_err(anyhow::Error::from)?;
            if bytes.len() as u64 > palisade_load::walk::MAX_FILE_BYTES {
                return Err(anyhow::anyhow!(
                    "<stdin>: larger than {} MiB, the most Palisade reads from one file",
                    palisade_load::walk::MAX_FILE_BYTES >> 20
                )
                .into());
            }
            let text =
                palisade_load::walk::text_of("<stdin>", bytes).map_err(|d| Failure::Input(vec![*d]))?;
            out.push(Source::Text {
                name: "<stdin>".into(),
                text,
            });
        } else {
            out.push(Source::Path(PathBuf::from(p)));
        }
    }
    Ok(out)
}

/// Loads the inputs `args` names (files, or the live cluster with the files applied over
/// it); every tier of policy is read and applied.
pub fn load(args: &InputArgs) -> Result<Loaded, Failure> {
    load_with(args, Vec::new())
}

/// [`load`] with `extra` manifests added to the files (applied over the cluster with
/// `--cluster`).
pub fn load_with(args: &InputArgs, extra: Vec<Source>) -> Result<Loaded, Failure> {
    let mut files = sources(&args.paths)?;
    files.extend(extra);
    if !args.live.cluster {
        return load_sources(args, &files);
    }
    let live = read_live(args)?;
    if files.is_empty() {
        return Ok(live);
    }
    let files = load_sources(args, &files)?;
    Ok(overlay(args, live, files))
}

/// `files` applied over the `live` cluster (with `--prune` as asked), said on stderr.
pub fn overlay(args: &InputArgs, live: Loaded, files: Loaded) -> Loaded {
    let (merged, r) = palisade_load::overlay::overlay(live.cluster, files, args.live.prune);
    crate::progress::note(&format!(
        "the files applied over the cluster: {} object(s) replaced, {} added, {} policies pruned",
        r.replaced, r.added, r.pruned
    ));
    merged
}

/// The live cluster `args` names, read and loaded with the same validation as manifests.
#[cfg(feature = "cluster")]
pub fn read_live(args: &InputArgs) -> Result<Loaded, Failure> {
    let target = palisade_kube::Target {
        kubeconfig: args.live.kubeconfig.clone(),
        context: args.live.context.clone(),
    };
    let progress = crate::progress::Progress::start("reading the cluster");
    let read = palisade_kube::read_cluster(&target, &mut |kind, n| {
        progress.set(&format!("reading the cluster: {n} {kind}"))
    });
    progress.finish();
    let read = read.map_err(|e| Failure::Other(anyhow::Error::new(e)))?;
    for n in &read.notes {
        crate::progress::note(n);
    }
    let opts = args.load_options()?;
    said(palisade_load::from_objects(read.objects, &opts)).map(|l| shadow(args, l))
}

/// A load's outcome with its warnings said on stderr; its problems as an input failure.
fn said(result: Result<Loaded, palisade_load::LoadError>) -> Result<Loaded, Failure> {
    let loaded = result.map_err(|e| {
        for w in &e.1 {
            eprintln!("warning: {w}");
        }
        Failure::Input(e.0)
    })?;
    for w in &loaded.warnings {
        eprintln!("warning: {w}");
    }
    Ok(loaded)
}

/// Without the `cluster` feature there is no Kubernetes client in the binary.
#[cfg(not(feature = "cluster"))]
pub fn read_live(_: &InputArgs) -> Result<Loaded, Failure> {
    Err(Failure::Usage(
        "--cluster: this palisade was built without the `cluster` feature (no Kubernetes client)".into(),
    ))
}

/// Says, for the analysing commands, which ClusterNetworkPolicy rules have `domainNames`
/// peers: nothing offline can tell what they match, so they match nothing in the answer.
pub fn warn_domain_names(cluster: &palisade_core::Cluster) {
    for c in &cluster.cluster_policies {
        for ingress in [true, false] {
            for (i, r) in c.rules(ingress).iter().enumerate() {
                if r.peers
                    .iter()
                    .any(|p| matches!(p, palisade_core::CnpPeer::DomainNames(_)))
                {
                    eprintln!(
                        "warning: ClusterNetworkPolicy {} {} rule {i}: domainNames are not modelled (they match nothing in this answer)",
                        c.name,
                        if ingress { "ingress" } else { "egress" }
                    );
                }
            }
        }
    }
}

/// Loads `sources` with the options of `args` (its paths are not read).
pub fn load_sources(args: &InputArgs, sources: &[Source]) -> Result<Loaded, Failure> {
    let opts = args.load_options()?;
    let progress = crate::progress::Progress::start("reading the manifests");
    let loaded = palisade_load::load(sources, &opts);
    progress.finish();
    said(loaded).map(|l| shadow(args, l))
}

/// With `--with-shadow`, the staged policies counted as enforced.
fn shadow(args: &InputArgs, mut loaded: Loaded) -> Loaded {
    if args.with_shadow {
        loaded.cluster = std::mem::take(&mut loaded.cluster).with_shadow_enforced();
    }
    loaded
}
