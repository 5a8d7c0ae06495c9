//! Palisade's lab: the manifests as real pods on this machine. One network namespace per
//! pod (prefix `pal-`), node namespaces that route between them over veth pairs (no
//! bridge, so every packet crosses a node's forward hook), the nftables dataplane applied
//! in each node for its own pods, listeners on the pods' ports, and probes with real
//! TCP and UDP packets whose results are compared with the engine's prediction.
//!
//! Planning and judging need no privileges (building a lab needs root):
//!
//! ```
//! use palisade_core::{Options, Protocol};
//! use palisade_lab::{differences, Plan};
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
//! let plan = Plan::new("demo", loaded.cluster, &Options::default(), &Default::default(), &[])
//!     .unwrap();
//! let names: Vec<&str> = plan.topo.pods.iter().map(|p| p.key.as_str()).collect();
//! let web = names.iter().position(|n| *n == "shop/web").unwrap();
//! let db = names.iter().position(|n| *n == "shop/db").unwrap();
//! let predicted = plan.predicted(5432, Protocol::Tcp);
//! assert!(predicted[web][db]); // db-ingress admits web on 5432
//! assert!(predicted[db][db]); // a pod reaches itself
//!
//! // Packets that disagree with the prediction are differences.
//! let mut observed = predicted.clone();
//! observed[web][db] = false;
//! let diffs = differences(&observed, &predicted);
//! assert_eq!(diffs.len(), 1);
//! assert_eq!((diffs[0].from, diffs[0].to, diffs[0].observed), (web, db, false));
//! ```

#![warn(missing_docs)]

pub mod flows;
pub mod lab;
pub mod netns;
pub mod predict;
pub mod probe;
pub mod serve;
pub mod topology;

pub use lab::{check_name, down, load_state, save_state, up, LabError, State};
pub use predict::{differences, Difference, Plan};
pub use topology::{Topology, PREFIX};
