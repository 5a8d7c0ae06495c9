//! `palisade dataplane`: render, apply and flush the nftables table.

use clap::{Args, Subcommand};
use palisade_core::CompiledCluster;

use crate::inputs::{self, Failure, InputArgs};

/// How the rules log and enforce, for the dataplane commands, the lab and the agent.
#[derive(Args, Debug, Clone)]
pub struct RuleFlags {
    /// Audit mode: log what would be denied (verdict `audit`) and let it through.
    #[arg(long)]
    pub audit: bool,
    /// Also log allowed new connections.
    #[arg(long = "log-allowed")]
    pub log_allowed: bool,
    /// NFLOG group of the flow log.
    #[arg(long = "log-group", default_value_t = 100)]
    pub log_group: u16,
}

impl RuleFlags {
    pub fn options(&self, node: Option<String>) -> palisade_nft::Options {
        palisade_nft::Options {
            node,
            audit: self.audit,
            log_allowed: self.log_allowed,
            log_group: self.log_group,
        }
    }
}

#[derive(Args, Debug, Clone)]
pub struct DataplaneFlags {
    /// Enforce only for the pods of this node (`spec.nodeName`); all pods when omitted.
    #[arg(long)]
    pub node: Option<String>,
    #[command(flatten)]
    pub rules: RuleFlags,
}

impl DataplaneFlags {
    pub fn options(&self) -> palisade_nft::Options {
        self.rules.options(self.node.clone())
    }
}

#[derive(Subcommand, Debug)]
pub enum DataplaneCommand {
    /// Print the nftables table for a node without touching the kernel.
    #[command(
        after_help = "Examples:\n  palisade dataplane render examples/shop --node node-1\n  palisade dataplane render --cluster --node \"$(hostname)\" --audit"
    )]
    Render {
        #[command(flatten)]
        flags: DataplaneFlags,
        #[command(flatten)]
        input: InputArgs,
    },
    /// Replace the `inet palisade` table of the current network namespace, atomically.
    #[command(
        after_help = "Examples:\n  sudo palisade dataplane apply examples/shop --node node-1\n  sudo palisade dataplane apply ./policies/ --node node-1 --audit --log-allowed"
    )]
    Apply {
        #[command(flatten)]
        flags: DataplaneFlags,
        #[command(flatten)]
        input: InputArgs,
    },
    /// Remove the `inet palisade` table from the current network namespace.
    #[command(
        after_help = "Examples:\n  sudo palisade dataplane flush\n  sudo ip netns exec node-1 palisade dataplane flush"
    )]
    Flush,
    /// Print the flow log of the current network namespace: one JSON line per logged
    /// packet, named with the manifests (give the same flags as to `apply`).
    #[command(
        after_help = "Examples:\n  sudo palisade dataplane log examples/shop --node node-1\n  sudo palisade dataplane log ./policies/ --node node-1 --seconds 10 | palisade flows - --verdict denied"
    )]
    Log {
        #[command(flatten)]
        flags: DataplaneFlags,
        /// Stop after this many seconds (default: run until interrupted).
        #[arg(long)]
        seconds: Option<f64>,
        /// Stop after this many lines.
        #[arg(long)]
        count: Option<usize>,
        #[command(flatten)]
        input: InputArgs,
    },
}

/// Loads, compiles and renders.
pub fn ruleset(input: &InputArgs, flags: &DataplaneFlags) -> Result<palisade_nft::Ruleset, Failure> {
    let loaded = inputs::load(input)?;
    let cc = CompiledCluster::new(&loaded.cluster, &input.options());
    let rs = palisade_nft::render(&cc, &flags.options());
    warn_unenforced(&rs);
    Ok(rs)
}

/// Says which ClusterNetworkPolicy rules the table cannot enforce (`domainNames`), and
/// when staged policies' differences are not logged.
pub fn warn_unenforced(rs: &palisade_nft::Ruleset) {
    for (policy, ingress, rule) in &rs.unenforced {
        eprintln!(
            "warning: ClusterNetworkPolicy {} {} rule {rule}: domainNames are not enforced by nftables; those peers match nothing",
            policy.name,
            if *ingress { "ingress" } else { "egress" }
        );
    }
    if let Some(why) = &rs.shadow_unlogged {
        eprintln!(
            "warning: the connections staged (shadow-mode) policies would change are not logged: {why}"
        );
    }
}

pub fn run(cmd: &DataplaneCommand) -> Result<String, Failure> {
    match cmd {
        DataplaneCommand::Render { flags, input } => Ok(ruleset(input, flags)?.table_text()),
        DataplaneCommand::Apply { flags, input } => {
            let rs = ruleset(input, flags)?;
            palisade_nft::apply(&rs, None).map_err(|e| Failure::Runtime(e.into()))?;
            Ok(format!(
                "applied table inet {}: {} rules, {} set and map elements\n",
                palisade_nft::TABLE,
                rs.rule_count(),
                rs.element_count()
            ))
        }
        DataplaneCommand::Log {
            flags,
            seconds,
            count,
            input,
        } => {
            let loaded = inputs::load(input)?;
            let rs = palisade_nft::render(
                &CompiledCluster::new(&loaded.cluster, &input.options()),
                &flags.options(),
            );
            warn_unenforced(&rs);
            let mut log = palisade_nft::flowlog::FlowLog::open(flags.rules.log_group)
                .map_err(|e| Failure::Runtime(e.into()))?;
            let decoder = palisade_nft::Decoder::new(&loaded.cluster, &rs);
            let deadline = seconds.map(|s| std::time::Instant::now() + std::time::Duration::from_secs_f64(s));
            let mut n = 0;
            let mut out = std::io::stdout().lock();
            while deadline.is_none_or(|d| std::time::Instant::now() < d) && count.is_none_or(|c| n < c) {
                for r in log
                    .read(std::time::Duration::from_millis(100))
                    .map_err(|e| Failure::Runtime(e.into()))?
                {
                    use std::io::Write;
                    let flow = decoder.decode(&r, palisade_nft::flow::now());
                    let _ = writeln!(
                        out,
                        "{}",
                        serde_json::to_string(&flow).expect("flow records serialize")
                    );
                    let _ = out.flush();
                    n += 1;
                }
            }
            Ok(String::new())
        }
        DataplaneCommand::Flush => {
            palisade_nft::flush().map_err(|e| Failure::Runtime(e.into()))?;
            Ok(format!("removed table inet {}\n", palisade_nft::TABLE))
        }
    }
}
