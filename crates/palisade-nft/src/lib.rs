//! Palisade's nftables dataplane. It compiles the engine's compiled form (classes and
//! rule peer bitsets, the same the analyzer uses) into one `inet palisade` table, applies
//! it atomically through `nft -f` in the current network namespace, and decodes the NFLOG
//! flow log it produces.

pub mod apply;
pub mod elements;
pub mod flow;
pub mod flowlog;
pub mod incremental;
pub mod netlink;
pub mod render;
pub mod rule;
pub mod ruleset;
pub mod structure;

pub use apply::{apply, flush, Applied, ApplyError};
pub use elements::{ElementDelta, ElementOp, NftSocket};
pub use flow::{Decoder, FlowEnd, FlowRecord, Packet, Verdict};
pub use incremental::{Change, NodeTable, Path};
pub use render::{render, Options, AUDIT_ANNOTATION};
pub use rule::{End, Expr, LogTag, Rule};
pub use ruleset::{LogMeaning, RuleRef, Ruleset, TABLE};
