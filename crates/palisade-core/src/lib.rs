//! The Palisade semantics core: Kubernetes NetworkPolicy (networking.k8s.io/v1) as a
//! pure function from a cluster (namespaces, pods, policies) to reachability.
//! No I/O, no YAML, no Linux: the loader builds a [`Cluster`], [`compile`] folds it into
//! equivalence classes, the matrix answers for all pairs at once, and [`explain`]
//! decides one connection with the reasons.

pub mod bits;
pub mod compile;
pub mod explain;
pub mod ip;
pub mod matrix;
pub mod model;
pub mod nodes;
pub mod ranges;
pub mod report;
pub mod segments;
pub mod select;
pub mod selector;
pub mod summary;
pub mod twin;

pub use compile::{compile, ClassKind, Compiled, CompiledCluster};
pub use explain::{allowed, explain, Endpoint, Explanation};
pub use ip::Cidr;
pub use model::*;
pub use selector::{LabelSelector, Operator, Requirement};
pub use summary::{summarize, Summary};
