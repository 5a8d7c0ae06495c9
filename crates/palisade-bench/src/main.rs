//! `palisade-bench`: the root-only benchmarks of the node side, kept out of the shipped
//! `palisade` command. `dataplane`: apply time, pod churn, and the connection rate and
//! CPU cost per connection through a node with the ruleset; `agent`: policy change to
//! enforcement and the agent's memory. Run as root after `cargo build --release` (the
//! agent benchmark starts the `palisade` binary next to this one).

mod agent;
mod dataplane;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "palisade-bench",
    version,
    about = "Root-only benchmarks of the dataplane and the agent"
)]
struct Cli {
    #[command(subcommand)]
    what: What,
}

#[derive(Subcommand, Debug)]
enum What {
    /// Apply time and pod churn on a synthetic cluster; new connections per second and CPU
    /// per connection through a node, with no table, conntrack only and the ruleset.
    Dataplane(dataplane::Args),
    /// Policy file change to enforcement, and the agent's memory.
    Agent,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.what {
        What::Dataplane(args) => dataplane::run(&args),
        What::Agent => agent::run(),
    };
    match result {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(3)
        }
    }
}
