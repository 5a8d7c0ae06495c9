//! The live cluster through kube-rs, for every command that reads one (`--cluster`) and
//! for the agent's kube source:
//! - [`target`]: which cluster and credentials, resolved as kubectl resolves them
//!   (`--kubeconfig`, `KUBECONFIG`, `~/.kube/config`, `--context`, in-cluster);
//! - [`read`]: one consistent read of Namespaces, Nodes, Pods, NetworkPolicies and the
//!   network-policy-api kinds, in pages, with errors that name what went wrong
//!   ([`ReadError`]: unreachable, forbidden with the missing RBAC verb, …);
//! - [`trim`]: every object cut down to the fields Palisade reads the moment it arrives
//!   (no managedFields, no last-applied annotations, no container images or env);
//! - [`crd`]: the network-policy-api kinds as kube-rs resources over the loader's types;
//! - `mock` (feature `mock`): a mocked API server on loopback for tests and benchmarks.
//!
//! What comes out is the loader's [`palisade_load::Object`]: objects from the API are
//! validated and converted exactly as manifests are.

#![warn(missing_docs)]

pub mod crd;
pub mod error;
#[cfg(feature = "mock")]
pub mod mock;
pub mod read;
pub mod target;
pub mod trim;

pub use error::ReadError;
pub use read::{read_cluster, ClusterRead, Progress};
pub use target::Target;
