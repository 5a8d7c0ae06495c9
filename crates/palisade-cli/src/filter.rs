//! `--from`/`--to` (and their label forms) for the commands that list pairs: analyze,
//! diff. The matching itself is palisade_core::scope's.

use clap::Args;
use palisade_core::scope::{EndpointFilter, PairFilter};

use crate::inputs::Failure;

/// Narrowing a list of pairs, as kubectl narrows with `-n` and `-l`.
#[derive(Args, Debug, Clone, Default)]
pub struct FilterArgs {
    /// Only connections from these endpoints: NAMESPACE, NAMESPACE/POD, NAMESPACE/* (`*`
    /// matches any characters, e.g. `shop/web-*`) or an external block's name; repeat for
    /// more (any may match).
    #[arg(long = "from", value_name = "WHO", help_heading = "Narrowing")]
    pub from: Vec<String>,
    /// Only connections to these endpoints (as --from).
    #[arg(long = "to", value_name = "WHO", help_heading = "Narrowing")]
    pub to: Vec<String>,
    /// Only connections from pods with these labels (kubectl -l syntax:
    /// `app=web,tier!=db,env in (a,b),!legacy`).
    #[arg(long = "from-labels", value_name = "SELECTOR", help_heading = "Narrowing")]
    pub from_labels: Option<String>,
    /// Only connections to pods with these labels (as --from-labels).
    #[arg(long = "to-labels", value_name = "SELECTOR", help_heading = "Narrowing")]
    pub to_labels: Option<String>,
}

impl FilterArgs {
    /// The pair filter; a usage error naming the option when a value does not parse.
    pub fn pair_filter(&self) -> Result<PairFilter, Failure> {
        let side = |names: &[String], labels: &Option<String>, opt: &str| {
            EndpointFilter::parse(names, labels.as_deref()).map_err(|e| Failure::Usage(format!("{opt}: {e}")))
        };
        Ok(PairFilter {
            from: side(&self.from, &self.from_labels, "--from/--from-labels")?,
            to: side(&self.to, &self.to_labels, "--to/--to-labels")?,
        })
    }
}

/// Says on stderr when a side of the filter keeps nothing (as kubectl's "No resources
/// found"): the output is then empty by choice, not by a bug.
pub fn warn_unmatched(scope: &palisade_core::scope::Scope) {
    for (option, mask) in [("--from", &scope.from), ("--to", &scope.to)] {
        if mask.as_ref().is_some_and(|m| !m.iter().any(|kept| *kept)) {
            eprintln!("warning: {option} matches no pod or external block: nothing to list");
        }
    }
}
