//! The `palisade` command: Kubernetes NetworkPolicy analysis from manifests.

mod advise;
#[cfg(feature = "agent")]
mod agent;
mod analyze;
mod assert;
mod bench_growth;
mod dataplane;
mod demo;
mod diff;
mod explain;
mod filter;
mod flows;
mod inputs;
mod lab;
mod lint;
mod port_view;
mod progress;
mod sarif;
mod scaffold;
mod shell;
mod synth;
mod text;
#[cfg(feature = "ui")]
mod ui;

use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use inputs::Failure;

// The analysis allocates and frees many classes²-bit buffers from worker threads;
// mimalloc keeps that from turning into page-fault churn (see README, Performance).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `palisade --version`: the crate version, the git commit and the build date.
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("PALISADE_COMMIT"),
    ", built ",
    env!("PALISADE_BUILD_DATE"),
    ")"
);

/// The exit codes, as every command's `--help` and README state them.
pub const EXIT_CODES: &str = "\
Exit codes:
  0  success: nothing found, no difference, allowed, every assertion passed
  1  a finding at or above --fail-on, a difference (diff), a denied connection
     (explain --exit-code), a failed assertion (test)
  2  bad input or usage: a manifest problem (file:line:column), an unreadable file, a
     cluster that cannot be read, options that do not go together
  3  runtime failure: the kernel refused rules, a lab or agent could not run";

#[derive(Parser, Debug)]
#[command(
    name = "palisade",
    version = VERSION,
    about = "Kubernetes NetworkPolicy, exactly: which pods can reach which, and why",
    after_help = EXIT_CODES,
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// No progress indicator and no notes on stderr (warnings and errors still).
    #[arg(short = 'q', long, global = true)]
    quiet: bool,
    /// Colour verdicts and severities: when stdout is a terminal (auto; off when NO_COLOR
    /// is set), always, or never.
    #[arg(long, value_enum, global = true, default_value = "auto", value_name = "WHEN")]
    color: shell::ColorWhen,
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
    /// Least-privilege NetworkPolicies from observed flows, with the evidence.
    Advise(advise::AdviseArgs),
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
    #[command(after_help = "Examples:\n  palisade demo\n  palisade demo --color always | less -R")]
    Demo,
    /// Write a seeded synthetic cluster (namespaces, pods, policies) as manifests.
    Synth(synth::SynthArgs),
    /// Benchmarks against the targets: analyze (default), growth, yaml.
    Bench(synth::BenchArgs),
    /// A local web application: map, namespace matrix and explain over the same engine.
    #[cfg(feature = "ui")]
    Ui(ui::UiArgs),
    /// A shell completion script on stdout (bash, zsh, fish, powershell, elvish).
    Completion(shell::CompletionArgs),
    /// Man pages (palisade.1 and one per subcommand) written into a directory.
    Manpages(shell::ManpagesArgs),
}

fn print(s: &str) {
    // Colour codes pass through to a terminal and are stripped otherwise (anstream).
    let mut out = anstream::stdout().lock();
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
        Failure::Usage(e) => {
            eprintln!("error: {e}\n\nFor more information, try '--help'.");
            ExitCode::from(2)
        }
        Failure::Runtime(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(3)
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
    progress::set_quiet(cli.quiet);
    cli.color.apply();
    let ok = |s: String| (s, true);
    finish(match cli.command {
        Command::Analyze(args) => {
            // Written as it is produced (the --port matrix can be gigabytes).
            let mut out = std::io::BufWriter::new(anstream::stdout().lock());
            analyze::run(&args, &mut out).map(|()| {
                // A closed pipe (`| head`) is not an error.
                let _ = out.flush();
                ok(String::new())
            })
        }
        Command::Explain(args) => explain::run(&args),
        Command::Diff(args) => diff::run(&args),
        Command::Test(args) => assert::run(&args),
        Command::Lint(args) => lint::run(&args),
        #[cfg(feature = "agent")]
        Command::Agent(args) => agent::run(&args),
        Command::Flows(args) => flows::flows(&args),
        Command::Scaffold(cmd) => scaffold::run(&cmd),
        Command::Advise(args) => advise::run(&args),
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
        #[cfg(feature = "ui")]
        Command::Ui(args) => ui::run(&args),
        Command::Completion(args) => Ok(ok(shell::completion::<Cli>(&args))),
        Command::Manpages(args) => shell::manpages::<Cli>(&args).map(ok).map_err(Failure::Other),
    })
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// Every command that does work, with its path (`lab up`), recursively.
    fn commands(cmd: &clap::Command, path: String, out: &mut Vec<(String, clap::Command)>) {
        for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
            let p = format!("{path} {}", sub.get_name()).trim().to_string();
            if sub.has_subcommands() {
                commands(sub, p, out);
            } else {
                out.push((p, sub.clone()));
            }
        }
    }

    #[test]
    fn every_option_is_described_and_every_command_has_examples() {
        let mut all = Vec::new();
        commands(&super::Cli::command(), String::new(), &mut all);
        let mut missing = Vec::new();
        for (path, cmd) in &all {
            let examples = cmd.get_after_help().map(|h| h.to_string()).unwrap_or_default();
            if cmd.is_hide_set() {
                continue;
            }
            let shown = examples
                .lines()
                .filter(|l| l.starts_with("  ") && l.contains("palisade "))
                .count();
            if shown < 2 {
                missing.push(format!("{path}: fewer than two examples"));
            }
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if id == "help" || id == "version" {
                    continue;
                }
                if arg.get_help().is_none_or(|h| h.to_string().trim().is_empty()) {
                    missing.push(format!("{path}: {id} has no description"));
                }
            }
        }
        assert!(missing.is_empty(), "{}", missing.join("\n"));
    }

    #[test]
    fn the_command_line_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
