//! `palisade advise --flows FILE… PATH…`: least-privilege NetworkPolicies (or, with
//! `--cluster-wide`, ClusterNetworkPolicies) from observed
//! traffic (palisade-traffic), loaded back through the loader, with the evidence: every
//! observed connection replayed through the engine against the advice, what the advice
//! allows beyond what was seen, what it changes against the current policies (diff), its
//! lint, and a test spec asserting the observed connections.

use std::collections::BTreeSet;
use std::path::PathBuf;

use clap::Args;
use palisade_check::lint::{self, LintOptions, Severity};
use palisade_load::Source;
use palisade_traffic::{advise, Advice, AdviseOptions, Connections};

use crate::inputs::{self, Failure, InputArgs};

#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  palisade advise --flows flows.jsonl examples/shop\n  palisade advise --flows flows.jsonl ./manifests/ --shadow --out ./staged/\n  palisade advise --flows hubble.json --cluster --out ./advised/\n  palisade advise --flows flows.jsonl ./manifests/ --cidr-prefix 24 --out ./advised/\n  palisade advise --flows flows.jsonl ./manifests/ --cluster-wide --out ./advised/"
)]
pub struct AdviseArgs {
    /// The manifests (or `--cluster`) that say which pods exist with which labels.
    #[command(flatten)]
    pub input: InputArgs,
    /// Flow logs: Palisade's JSON lines (agent, `dataplane log`, lab `--flow-log`) or
    /// `hubble observe -o json` (repeatable).
    #[arg(long = "flows", value_name = "FILE", required = true)]
    pub flows: Vec<PathBuf>,
    /// Addresses outside the pods are allowed by blocks of this many bits (IPv4; IPv6
    /// addresses are allowed one by one).
    #[arg(long = "cidr-prefix", default_value_t = 32, value_parser = clap::value_parser!(u8).range(0..=32))]
    pub cidr_prefix: u8,
    /// Generalise nothing: pods selected by all their labels, each address its own block.
    #[arg(long)]
    pub strict: bool,
    /// Write the policies staged (`palisade.dev/mode: shadow`): loaded and shown, not
    /// enforced until the annotation goes (`--with-shadow` shows them enforced). The
    /// evidence is still computed as if they were enforced.
    #[arg(long)]
    pub shadow: bool,
    /// Advise ClusterNetworkPolicies instead (one file, `cluster-wide.yaml`): DNS in the
    /// Admin tier, each workload's observed traffic accepted and then everything else
    /// denied in the Baseline tier, below the namespaces' own NetworkPolicies (which stay).
    #[arg(long = "cluster-wide")]
    pub cluster_wide: bool,
    /// Skip the diff against the current policies and the lint of the advice (at 10,000
    /// pods they take most of the time); the replay of every observed connection stays.
    #[arg(long = "no-check")]
    pub no_check: bool,
    /// Write one file per namespace here (`NAMESPACE.yaml`, or `cluster-wide.yaml`), the
    /// test spec of the observed connections (`observed.test.yaml`) and the report
    /// (`report.txt`) instead of printing the YAML; the report then goes to standard output.
    #[arg(long = "out", value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// The advice as YAML files, one per namespace (or one, `cluster-wide`).
fn files(a: &Advice) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    if a.policies.iter().any(|p| p.cluster_wide) {
        let mut text = String::from(
            "# Advised for the whole cluster from observed traffic (palisade advise --cluster-wide).\n\
             # ClusterNetworkPolicy ingress peers are pods only: traffic from outside the cluster is\n\
             # left as it is; NetworkPolicies still decide for the pods they isolate.\n",
        );
        for p in &a.policies {
            text.push_str(&format!("---\n{}", palisade_load::emit::yaml(&p.object())));
        }
        return vec![("cluster-wide".into(), text)];
    }
    for p in &a.policies {
        let doc = format!("---\n{}", palisade_load::emit::yaml(&p.object()));
        match out.last_mut() {
            Some((ns, text)) if *ns == p.namespace => text.push_str(&doc),
            _ => out.push((
                p.namespace.clone(),
                format!(
                    "# Advised for namespace {} from observed traffic (palisade advise).\n{doc}",
                    p.namespace
                ),
            )),
        }
    }
    out
}

/// The observed connections the advice was made for, as `palisade test` assertions.
fn test_spec(conns: &Connections, advised: &BTreeSet<String>) -> String {
    use palisade_traffic::Peer;
    let peer = |p: &Peer| match p {
        Peer::Pod { namespace, name } => format!("{{namespace: {namespace}, name: {name}}}"),
        Peer::Address(ip) => format!("{{ip: \"{ip}\"}}"),
    };
    let mut out = String::from(
        "# Every connection palisade advise saw go through; `palisade test` asserts them.\ntests:\n",
    );
    for (k, c) in conns.iter() {
        let ns = |p: &Peer| match p {
            Peer::Pod { namespace, .. } => advised.contains(namespace),
            Peer::Address(_) => false,
        };
        if !c.went_through() || !(ns(&k.src) || ns(&k.dst)) {
            continue;
        }
        out.push_str(&format!(
            "- name: {} to {} on {}/{} (seen {} time(s))\n  from: {}\n  to: {}\n  port: {}/{}\n  expect: allow\n",
            k.src,
            k.dst,
            k.port,
            k.protocol,
            c.count,
            peer(&k.src),
            peer(&k.dst),
            k.port,
            k.protocol
        ));
    }
    out
}

/// Groups of the diff against the current policies listed in the report, per direction.
const DIFF_SHOWN: usize = 20;

pub fn run(args: &AdviseArgs) -> Result<(String, bool), Failure> {
    let t0 = std::time::Instant::now();
    let lap = |what: &str| {
        if std::env::var_os("PALISADE_TIMING").is_some() {
            eprintln!("timing: {what} at {:?}", t0.elapsed())
        }
    };
    let loaded = inputs::load(&args.input)?;
    lap("loaded");
    let conns = crate::flows::read_connections(&args.flows)?;
    lap("flows read");
    let progress = crate::progress::Progress::start("advising from the observed connections");
    let opts = AdviseOptions {
        cidr_prefix: args.cidr_prefix,
        strict: args.strict,
        shadow: args.shadow,
        ..Default::default()
    };
    let advice = if args.cluster_wide {
        palisade_traffic::advise_cluster_wide(&loaded.cluster, &conns, &opts)
    } else {
        advise(&loaded.cluster, &conns, &opts)
    };
    lap("advised");
    let files = files(&advice);
    // The advice loaded back through the same validation; it replaces the policies of the
    // namespaces it covers.
    let sources: Vec<Source> = files
        .iter()
        .map(|(ns, yaml)| Source::Text {
            name: format!("advised/{ns}.yaml"),
            text: yaml.clone(),
        })
        .collect();
    let advised_ns: BTreeSet<String> = advice.namespaces.clone();
    // The evidence is about the advice enforced, staged or not.
    let advised = inputs::load_sources(&args.input, &sources)?
        .cluster
        .with_shadow_enforced();
    let mut after = loaded.cluster.clone();
    if args.cluster_wide {
        // Beside the namespaces' own policies; replacing ClusterNetworkPolicies of the
        // same names.
        after
            .cluster_policies
            .retain(|c| !advised.cluster_policies.iter().any(|a| a.name == c.name));
        after.cluster_policies.extend(advised.cluster_policies);
    } else {
        after.policies.retain(|p| !advised_ns.contains(&p.namespace));
        after.policies.extend(advised.policies);
    }
    lap("loaded back");
    let options = args.input.options();
    // The guarantee: every connection that went through is allowed by the advice.
    let verdicts =
        palisade_traffic::replay::verdicts(&after, &options, &conns).map_err(anyhow::Error::from)?;
    let mut missed: Vec<usize> = conns
        .iter()
        .zip(&verdicts)
        .enumerate()
        .filter(|(_, ((_, c), v))| c.went_through() && **v == Some(false))
        .map(|(i, _)| i)
        .collect();
    // Cluster-wide advice sits below the namespaces' NetworkPolicies: what those deny is
    // theirs to allow, not a fault of the advice (told apart by a replay without them).
    let mut below_policies: Vec<usize> = Vec::new();
    if args.cluster_wide && !missed.is_empty() {
        let mut without = after.clone();
        without.policies.clear();
        let v =
            palisade_traffic::replay::verdicts(&without, &options, &conns).map_err(anyhow::Error::from)?;
        (below_policies, missed) = missed.into_iter().partition(|&i| v[i] == Some(true));
    }
    let keys: Vec<_> = conns.iter().map(|(k, _)| k).collect();
    let text = |list: &[usize]| -> Vec<String> {
        list.iter()
            .map(|&i| {
                let k = keys[i];
                format!("{} -> {} {}/{}", k.src, k.dst, k.port, k.protocol)
            })
            .collect()
    };
    let (missed, below_policies) = (text(&missed), text(&below_policies));
    lap("replayed");
    let checks = if args.no_check {
        None
    } else {
        // The diff (its first groups explained, the rest counted: see `palisade diff`) and
        // the lint are independent: side by side.
        let (d, findings) = rayon::join(
            || palisade_check::diff::diff_first(&loaded.cluster, &after, &options, DIFF_SHOWN),
            || {
                lint::lint(
                    &after,
                    &LintOptions {
                        engine: options.clone(),
                        ..Default::default()
                    },
                )
                .findings
            },
        );
        let d = d?;
        lap("diffed and linted");
        Some((d, findings))
    };
    progress.finish();
    let mut report = format!(
        "# palisade advise: {} flow record(s), {} connection(s); advised for {} that went through ({} only denied, not advised; {} left out)\n",
        conns.records,
        conns.len(),
        advice.connections,
        advice.denied_only,
        advice.left_out.len()
    );
    for l in &advice.left_out {
        report.push_str(&format!("#   left out: {l}\n"));
    }
    if !below_policies.is_empty() {
        report.push_str(&format!(
            "# Denied by the namespaces' NetworkPolicies, which decide before the Baseline tier ({}): theirs to allow:\n",
            below_policies.len()
        ));
        for m in &below_policies {
            report.push_str(&format!("#   {m}\n"));
        }
    }
    if missed.is_empty() && below_policies.is_empty() {
        report.push_str(
            "# Every connection that went through is allowed by the advice (replayed through the engine).\n",
        );
    } else if missed.is_empty() {
        report.push_str("# Every other connection that went through is allowed by the advice (replayed through the engine).\n");
    } else {
        report.push_str(&format!(
            "# NOT allowed by the advice ({}), a fault in palisade advise:\n",
            missed.len()
        ));
        for m in &missed {
            report.push_str(&format!("#   {m}\n"));
        }
    }
    if advice.beyond.is_empty() {
        report.push_str("# Beyond what was seen it allows nothing more.\n");
    } else {
        report.push_str("# Beyond what was seen it also allows:\n");
        for b in &advice.beyond {
            report.push_str(&format!("#   {b}\n"));
        }
    }
    match &checks {
        Some((d, findings)) => {
            report.push_str("# Against the current policies (palisade diff):\n");
            for line in d.table().lines() {
                report.push_str(&format!("#   {line}\n"));
            }
            let count = |s: Severity| findings.iter().filter(|f| f.severity == s).count();
            report.push_str(&format!(
                "# Lint of the advice: {} error(s), {} warning(s), {} info\n",
                count(Severity::Error),
                count(Severity::Warning),
                count(Severity::Info)
            ));
        }
        None => report.push_str("# Not compared with the current policies nor linted (--no-check).\n"),
    }
    let spec = test_spec(&conns, &advised_ns);
    let ok = missed.is_empty();
    match &args.out {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| anyhow::anyhow!("{}: {e}", dir.display()))?;
            let write = |name: &str, text: &str| -> Result<(), Failure> {
                let path = dir.join(name);
                std::fs::write(&path, text)
                    .map_err(|e| Failure::Other(anyhow::anyhow!("{}: {e}", path.display())))
            };
            for (ns, y) in &files {
                write(&format!("{ns}.yaml"), y)?;
            }
            write("observed.test.yaml", &spec)?;
            write("report.txt", &report)?;
            Ok((report, ok))
        }
        None => {
            eprint!("{report}");
            Ok((files.iter().map(|(_, y)| y.as_str()).collect(), ok))
        }
    }
}
