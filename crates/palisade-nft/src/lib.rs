//! Palisade's nftables dataplane. It compiles the engine's compiled form (classes and
//! rule peer bitsets, the same the analyzer uses) into one `inet palisade` table, applies
//! it atomically through `nft -f` in the current network namespace, and decodes the NFLOG
//! flow log it produces.
//!
//! Two halves: [`plan`] decides (rules as data, changes between rulesets, flow records)
//! and needs no privileges; [`kernel`] sends what was decided and reads NFLOG.
//!
//! ```
//! use palisade_core::{CompiledCluster, Options as Engine};
//! use palisade_load::{load, LoadOptions, Source};
//! use palisade_nft::{render, Decoder, Options, Packet, Verdict};
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
//! let cluster = CompiledCluster::new(&loaded.cluster, &Engine::default());
//! let ruleset = render(&cluster, &Options::default());
//! let script = ruleset.replace_script(); // what `nft -f` is given
//! assert!(script.contains("table inet palisade"));
//!
//! // A packet the kernel logged, decoded into a flow record naming pods and policy.
//! let (tag, meaning) = ruleset.logs.iter().next().unwrap();
//! let packet = Packet {
//!     prefix: tag.to_string(),
//!     mark: 0,
//!     src: "10.244.0.1".parse().unwrap(),
//!     dst: "10.244.0.2".parse().unwrap(),
//!     protocol: Some(palisade_core::Protocol::Tcp),
//!     port: Some(22),
//! };
//! let record = Decoder::new(&loaded.cluster, &ruleset).decode(&packet, 0.0);
//! assert_eq!(record.src.to_string(), "shop/web");
//! assert_eq!(record.verdict, Verdict::Denied, "{meaning:?}");
//! assert_eq!(record.isolated_by, Some(vec!["shop/db-ingress".to_string()]));
//! ```

#![warn(missing_docs)]

pub mod kernel;
pub mod plan;

pub use kernel::nflog as flowlog;
pub use kernel::{apply, set_elements};
pub use plan::{delta, flow, incremental, render, rule, ruleset, structure};

pub use apply::{apply, flush, Applied, ApplyError};
pub use delta::{ElementDelta, ElementOp};
pub use flow::{Decoder, FlowEnd, FlowRecord, Packet, Verdict};
pub use incremental::{Change, NodeTable, Path};
pub use render::{render, Options, AUDIT_ANNOTATION};
pub use rule::{End, Expr, LogTag, Rule};
pub use ruleset::{LogMeaning, RuleRef, Ruleset, TABLE};
pub use set_elements::NftSocket;
