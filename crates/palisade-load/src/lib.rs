//! Palisade's loader: Kubernetes manifests (YAML or JSON files, directories, stdin;
//! multi-document streams and `List` kinds) into the core's [`palisade_core::Cluster`].
//! Objects go through the real Kubernetes types (k8s-openapi) and are validated as
//! the API server would; every problem comes back at once with file, line, column
//! and field path.
//!
//! ```
//! use palisade_load::{load, LoadOptions, Source};
//!
//! let yaml = r#"
//! apiVersion: v1
//! kind: Pod
//! metadata: {name: web, namespace: shop, labels: {app: web}}
//! status: {podIP: 10.244.0.1}
//! ---
//! apiVersion: v1
//! kind: Pod
//! metadata: {name: db, namespace: shop, labels: {app: db}}
//! status: {podIP: 10.244.0.2}
//! ---
//! apiVersion: networking.k8s.io/v1
//! kind: NetworkPolicy
//! metadata: {name: db-ingress, namespace: shop}
//! spec:
//!   podSelector: {matchLabels: {app: db}}
//!   ingress:
//!   - from: [{podSelector: {matchLabels: {app: web}}}]
//!     ports: [{port: 5432}]
//! "#;
//! let source = Source::Text { name: "shop.yaml".into(), text: yaml.into() };
//! let loaded = load(&[source], &LoadOptions::default()).unwrap();
//! assert_eq!(loaded.cluster.pods.len(), 2);
//! assert_eq!(loaded.cluster.policies[0].key(), "shop/db-ingress");
//!
//! // Bad input: nothing is loaded, and each problem says where it is.
//! let bad = Source::Text {
//!     name: "bad.yaml".into(),
//!     text: "apiVersion: v1\nkind: Pod\nmetadata: {name: Web}\n".into(),
//! };
//! let err = load(&[bad], &LoadOptions::default()).unwrap_err();
//! let problem = &err.0[0];
//! assert_eq!(problem.path.to_string(), "metadata.name");
//! assert_eq!(problem.pos.map(|p| p.line), Some(3));
//! assert!(problem.to_string().starts_with("bad.yaml:3:"), "{problem}");
//! ```

#![warn(missing_docs)]

pub mod anp;
mod block;
pub mod cnp;
pub mod convert;
pub mod diagnostic;
pub mod emit;
mod json;
pub mod kinds;
pub mod load;
pub mod names;
mod objects;
pub mod overlay;
pub mod path;
pub mod split;
mod strict;
pub mod walk;
pub mod yaml;

pub use diagnostic::{Diagnostic, ErrorKind};
pub use load::{
    assign_addresses, from_objects, load, LoadError, LoadOptions, Loaded, Object, Source, Validation,
    API_SOURCE, NAMESPACE_NAME_LABEL, NOT_MANIFESTS,
};
