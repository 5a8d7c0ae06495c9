//! `palisade scaffold zero-trust PATH…`: a starting policy set per namespace, then what it
//! would close (diff against the input) and its lint, so nobody applies it blind.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use palisade_check::lint::{self, LintOptions, Severity};
use palisade_check::scaffold::{zero_trust, zero_trust_cluster_wide, ScaffoldOptions};
use palisade_load::Source;

use crate::inputs::{self, Failure, InputArgs};

#[derive(Subcommand, Debug)]
pub enum ScaffoldCommand {
    /// Default deny, DNS egress and same-namespace traffic for every namespace with pods.
    ZeroTrust(ZeroTrustArgs),
}

#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  palisade scaffold zero-trust examples/shop --monitoring monitoring\n  palisade scaffold zero-trust ./manifests/ --out ./policies/ --internet-egress\n  palisade scaffold zero-trust --cluster --cluster-wide"
)]
pub struct ZeroTrustArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Also allow egress to the internet on TCP 443 (private ranges excepted).
    #[arg(long = "internet-egress")]
    pub internet_egress: bool,
    /// Allow metrics scraping from this namespace (on the ports pods name `*metrics*`).
    #[arg(long, value_name = "NAMESPACE")]
    pub monitoring: Option<String>,
    /// Write one file per namespace here (`NAMESPACE.yaml`) instead of printing the YAML;
    /// the report then goes to standard output.
    #[arg(long = "out", value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Scaffold kube-system, kube-public and kube-node-lease too.
    #[arg(long = "include-system")]
    pub include_system: bool,
    /// One set of ClusterNetworkPolicies for the whole cluster (Admin: DNS and monitoring
    /// scrapes; Baseline: same namespace, default deny) instead of NetworkPolicies per
    /// namespace; written as `cluster-wide.yaml` with `--out`.
    #[arg(long = "cluster-wide")]
    pub cluster_wide: bool,
}

pub fn run(cmd: &ScaffoldCommand) -> Result<(String, bool), Failure> {
    let ScaffoldCommand::ZeroTrust(args) = cmd;
    let loaded = inputs::load(&args.input)?;
    let mut opts = ScaffoldOptions {
        internet_egress: args.internet_egress,
        monitoring: args.monitoring.clone(),
        ..Default::default()
    };
    if args.include_system {
        opts.skip_namespaces.clear();
    }
    let files = if args.cluster_wide {
        zero_trust_cluster_wide(&loaded.cluster, &opts)
    } else {
        zero_trust(&loaded.cluster, &opts)
    };
    // The input plus the scaffold, loaded back through the same validation.
    let scaffold: Vec<Source> = files
        .iter()
        .map(|(ns, yaml)| Source::Text {
            name: format!("scaffold/{ns}.yaml"),
            text: yaml.clone(),
        })
        .collect();
    let after = if args.input.live.cluster {
        // The cluster (with any files) is read once: the scaffold goes over what was read.
        let scaffold = inputs::load_sources(&args.input, &scaffold)?;
        inputs::overlay(&args.input, loaded.clone(), scaffold)
    } else {
        inputs::load_with(&args.input, scaffold)?
    };
    let d = palisade_check::diff::diff(&loaded.cluster, &after.cluster, &args.input.options())?;
    let mut lint_opts = LintOptions {
        engine: args.input.options(),
        ..Default::default()
    };
    if args.include_system {
        lint_opts.skip_namespaces.clear();
    }
    let findings = lint::lint(&after.cluster, &lint_opts).findings;
    let errors = findings.iter().filter(|f| f.severity == Severity::Error).count();
    let mut report = format!(
        "# palisade scaffold zero-trust: {}\n# What applying it would change (palisade diff):\n",
        if args.cluster_wide {
            "cluster-wide".to_string()
        } else {
            format!("{} namespace(s)", files.len())
        }
    );
    for line in d.table().lines() {
        report.push_str(&format!("#   {line}\n"));
    }
    report.push_str(&format!(
        "# Lint of the input with the scaffold: {} finding(s), {errors} error(s){}\n",
        findings.len(),
        if findings.is_empty() {
            ""
        } else {
            " (run palisade lint on the result for details)"
        }
    ));
    let yaml: String = files.iter().map(|(_, y)| y.as_str()).collect();
    match &args.out {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| anyhow::anyhow!("{}: {e}", dir.display()))?;
            for (ns, y) in &files {
                let path = dir.join(format!("{ns}.yaml"));
                std::fs::write(&path, y).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            }
            Ok((report, errors == 0))
        }
        None => {
            eprint!("{report}");
            Ok((yaml, errors == 0))
        }
    }
}
