//! The `palisade` command: Kubernetes NetworkPolicy analysis from manifests.

#[cfg(feature = "agent")]
mod agent;
mod analyze;
mod assert;
mod bench_growth;
mod dataplane;
mod demo;
mod diff;
mod explain;
mod flows;
mod inputs;
mod lab;
mod lint;
mod port_view;
mod sarif;
mod scaffold;
mod synth;
mod text;

use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use inputs::Failure;

// The analysis allocates and frees many classes²-bit buffers from worker threads;
// mimalloc keeps that from turning into page-fault churn (see README, Performance).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser, Debug)]
#[command(
    name = "palisade",
    version,
    about = "Kubernetes NetworkPolicy, exactly: which pods can reach which, and why"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Connectivity of every pod pair (or one port's matrix with --port).
    Analyze(analyze::AnalyzeArgs),
    /// Whether one connection is allowed, and why.
    Explain(explain::ExplainArgs),
    /// Findings about the policies (table, JSON, SARIF); exit 1 at or above --fail-on.
    Lint(lint::LintArgs),
    /// Check reachability assertions (exit 1 when one fails); --junit for CI reports.
    Test(assert::TestArgs),
    /// What a change of manifests opens and closes (exit 1 when something changes).
    Diff(diff::DiffArgs),
    /// Starting policy sets (`zero-trust`), with what they would close.
    #[command(subcommand)]
    Scaffold(scaffold::ScaffoldCommand),
    /// The nftables dataplane: render, apply, flush, log.
    #[command(subcommand)]
    Dataplane(dataplane::DataplaneCommand),
    /// The node agent: keeps this node's nftables table equal to the cluster's policies.
    #[cfg(feature = "agent")]
    Agent(agent::AgentArgs),
    /// Tail and filter an agent's flow log.
    Flows(flows::FlowsArgs),
    /// Real pods in network namespaces, enforced and probed: up, run, probe, down.
    #[command(subcommand)]
    Lab(lab::LabCommand),
    /// Analyze the bundled example: a three-tier shop with default deny, DNS egress and monitoring.
    Demo,
    /// Write a seeded synthetic cluster (namespaces, pods, policies) as manifests.
    Synth(synth::SynthArgs),
    /// Benchmarks against the targets: analyze (default), growth, yaml.
    Bench(synth::BenchArgs),
}

fn print(s: &str) {
    let mut out = std::io::stdout().lock();
    // A closed pipe (`| head`) is not an error worth a panic.
    let _ = out.write_all(s.as_bytes());
}

fn fail(f: Failure) -> ExitCode {
    match f {
        Failure::Input(diags) => {
            for d in &diags {
                eprintln!("{d}");
            }
            eprintln!(
                "error: {} problem(s) in the input; nothing was analysed",
                diags.len()
            );
            ExitCode::from(2)
        }
        Failure::Other(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Prints a command's output; exit 0, or 1 when the command says its check failed.
fn finish(result: Result<(String, bool), Failure>) -> ExitCode {
    match result {
        Ok((s, ok)) => {
            print(&s);
            if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(f) => fail(f),
    }
}

fn main() -> ExitCode {
    let code = run_cli();
    // For benchmarks that run palisade as a child: its own peak memory.
    if std::env::var_os("PALISADE_PEAK_RSS").is_some() {
        if let Some(mib) = analyze::peak_rss_mib() {
            eprintln!("palisade peak memory MiB: {mib:.1}");
        }
    }
    code
}

fn run_cli() -> ExitCode {
    let cli = Cli::parse();
    let ok = |s: String| (s, true);
    finish(match cli.command {
        Command::Analyze(args) => {
            // Written as it is produced (the --port matrix can be gigabytes).
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            analyze::run(&args, &mut out).map(|()| {
                // A closed pipe (`| head`) is not an error.
                let _ = out.flush();
                ok(String::new())
            })
        }
        Command::Explain(args) => explain::run(&args).map(|(s, _)| (s, true)),
        Command::Diff(args) => diff::run(&args),
        Command::Test(args) => assert::run(&args),
        Command::Lint(args) => lint::run(&args),
        #[cfg(feature = "agent")]
        Command::Agent(args) => agent::run(&args),
        Command::Flows(args) => flows::flows(&args),
        Command::Scaffold(cmd) => scaffold::run(&cmd),
        Command::Dataplane(cmd) => dataplane::run(&cmd).map(ok),
        Command::Lab(cmd) => lab::run(&cmd),
        Command::Synth(args) => Ok(ok(synth::synth(&args))),
        Command::Bench(args) if args.what.as_deref() == Some("growth") => {
            bench_growth::run(args.only.as_deref())
                .map(ok)
                .map_err(Failure::Other)
        }
        Command::Bench(args) if args.what.as_deref() == Some("yaml") => {
            synth::bench_yaml(&args).map_err(Failure::Other)
        }
        Command::Bench(args) => synth::bench(&args).map_err(Failure::Other),
        Command::Demo => demo::run().map(ok),
    })
}
