//! Palisade's nftables dataplane. It compiles the engine's compiled form (classes and
//! rule peer bitsets, the same the analyzer uses) into one `inet palisade` table, applies
//! it atomically through `nft -f` in the current network namespace, and decodes the NFLOG
//! flow log it produces.
//!
//! Two halves: [`plan`] decides (rules as data, changes between rulesets, flow records)
//! and needs no privileges; [`kernel`] sends what was decided and reads NFLOG.

pub mod kernel;
pub mod plan;

pub use kernel::nflog as flowlog;
pub use kernel::{apply, netlink, set_elements};
pub use plan::{delta, flow, incremental, render, rule, ruleset, structure};

pub use apply::{apply, flush, Applied, ApplyError};
pub use delta::{ElementDelta, ElementOp};
pub use flow::{Decoder, FlowEnd, FlowRecord, Packet, Verdict};
pub use incremental::{Change, NodeTable, Path};
pub use render::{render, Options, AUDIT_ANNOTATION};
pub use rule::{End, Expr, LogTag, Rule};
pub use ruleset::{LogMeaning, RuleRef, Ruleset, TABLE};
pub use set_elements::NftSocket;
