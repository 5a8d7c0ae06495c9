//! The `palisade` command: Kubernetes NetworkPolicy analysis from manifests.

mod analyze;
mod bench_dataplane;
mod dataplane;
mod demo;
mod explain;
mod inputs;
mod lab;
mod report;
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
    /// The nftables dataplane: render, apply, flush.
    #[command(subcommand)]
    Dataplane(dataplane::DataplaneCommand),
    /// Real pods in network namespaces, enforced and probed: up, run, probe, down.
    #[command(subcommand)]
    Lab(lab::LabCommand),
    /// Analyze the bundled example: a three-tier shop with default deny, DNS egress and monitoring.
    Demo,
    /// Write a seeded synthetic cluster (namespaces, pods, policies) as manifests.
    Synth(synth::SynthArgs),
    /// Measure `analyze -o summary` on synthetic clusters against the performance targets.
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Analyze(args) => match analyze::run(&args) {
            Ok(s) => {
                print(&s);
                ExitCode::SUCCESS
            }
            Err(f) => fail(f),
        },
        Command::Explain(args) => match explain::run(&args) {
            Ok((s, _)) => {
                print(&s);
                ExitCode::SUCCESS
            }
            Err(f) => fail(f),
        },
        Command::Dataplane(cmd) => match dataplane::run(&cmd) {
            Ok(s) => {
                print(&s);
                ExitCode::SUCCESS
            }
            Err(f) => fail(f),
        },
        Command::Lab(cmd) => match lab::run(&cmd) {
            Ok((s, agree)) => {
                print(&s);
                if agree {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                }
            }
            Err(f) => fail(f),
        },
        Command::Synth(args) => {
            print(&synth::synth(&args));
            ExitCode::SUCCESS
        }
        Command::Bench(args) if args.what.as_deref() == Some("dataplane") => {
            match bench_dataplane::run(
                args.pods.unwrap_or(10_000),
                args.policies.unwrap_or(2_000),
                args.seconds,
            ) {
                Ok(s) => {
                    print(&s);
                    ExitCode::SUCCESS
                }
                Err(e) => fail(Failure::Other(e)),
            }
        }
        Command::Bench(args) => match synth::bench(&args) {
            Ok((s, ok)) => {
                print(&s);
                if ok {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                }
            }
            Err(e) => fail(Failure::Other(e)),
        },
        Command::Demo => match demo::run() {
            Ok(s) => {
                print(&s);
                ExitCode::SUCCESS
            }
            Err(f) => fail(f),
        },
    }
}
