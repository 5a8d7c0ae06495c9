//! Planning, pure and testable without root: from the engine's compiled form to a
//! [`Ruleset`](ruleset::Ruleset) of rules as data, the changes between two rulesets
//! (elements, or sets and chains), a node's table kept in step with pod churn, and what a
//! logged packet means ([`flow`]). Nothing here talks to the kernel.

pub mod delta;
pub mod flow;
pub mod incremental;
pub mod render;
pub mod rule;
pub mod ruleset;
pub mod structure;
