//! Palisade's loader: Kubernetes manifests (YAML or JSON files, directories, stdin;
//! multi-document streams and `List` kinds) into the core's [`palisade_core::Cluster`].
//! Objects go through the real Kubernetes types (k8s-openapi) and are validated as
//! the API server would; every problem comes back at once with file, line, column
//! and field path.

mod block;
pub mod convert;
pub mod diagnostic;
pub mod emit;
mod json;
pub mod kinds;
pub mod load;
pub mod names;
mod objects;
pub mod path;
pub mod split;
pub mod strict;
pub mod walk;
pub mod yaml;

pub use diagnostic::{Diagnostic, ErrorKind};
pub use load::{
    assign_addresses, from_objects, load, LoadError, LoadOptions, Loaded, Object, Source, Validation,
    API_SOURCE, NAMESPACE_NAME_LABEL, NOT_MANIFESTS,
};
