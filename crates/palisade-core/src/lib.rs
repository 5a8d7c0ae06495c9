//! The Palisade semantics core: Kubernetes NetworkPolicy (networking.k8s.io/v1) as a
//! pure function from a cluster (namespaces, pods, policies) to reachability.
//! No I/O, no YAML, no Linux: the loader builds a [`Cluster`], [`compile()`] folds it
//! into equivalence classes, the matrix answers for all pairs at once, and
//! [`explain()`] decides one connection with the reasons (it is also the direct
//! evaluator the compiled form is tested against).
//!
//! ```
//! use palisade_core::*;
//!
//! let pod = |name: &str, ip: &str| Pod {
//!     namespace: "shop".into(),
//!     name: name.into(),
//!     labels: Labels::from([("app".into(), name.into())]),
//!     ips: vec![ip.parse().unwrap()],
//!     host_network: false,
//!     ports: vec![],
//!     node: None,
//!     workload: None,
//!     source: None,
//! };
//! // The database admits the web pod on 5432/TCP, and nothing else.
//! let policy = Policy {
//!     namespace: "shop".into(),
//!     name: "db-ingress".into(),
//!     pod_selector: LabelSelector::from_labels([("app", "db")]),
//!     types: PolicyTypes { ingress: true, egress: false },
//!     ingress: vec![Rule {
//!         peers: vec![Peer::Pods {
//!             namespace_selector: None,
//!             pod_selector: Some(LabelSelector::from_labels([("app", "web")])),
//!         }],
//!         ports: vec![PolicyPort { protocol: Protocol::Tcp, port: PortMatch::Range(5432, 5432) }],
//!     }],
//!     egress: vec![],
//! };
//! let cluster = Cluster {
//!     pods: vec![pod("web", "10.0.0.1"), pod("db", "10.0.0.2"), pod("cache", "10.0.0.3")],
//!     policies: vec![policy],
//!     ..Cluster::default()
//! };
//! let options = Options::default();
//! let (web, db, cache) = (Endpoint::Pod(0), Endpoint::Pod(1), Endpoint::Pod(2));
//!
//! let why = explain(&cluster, &options, &web, &db, Protocol::Tcp, 5432);
//! assert!(why.allowed);
//! assert!(!allowed(&cluster, &options, &cache, &db, Protocol::Tcp, 5432));
//! // The cache is selected by no policy: open in both directions.
//! assert!(allowed(&cluster, &options, &db, &cache, Protocol::Udp, 53));
//!
//! // The compiled form gives the same answers for all pairs at once.
//! let compiled = compile(&cluster, &options);
//! let m = compiled.port_matrix(Protocol::Tcp, 5432).unwrap();
//! assert!(m.get(compiled.pod_class(0), compiled.pod_class(1)));
//! assert!(!m.get(compiled.pod_class(2), compiled.pod_class(1)));
//! ```

#![warn(missing_docs)]

pub mod bits;
pub mod compile;
pub mod explain;
pub mod ip;
pub mod matrix;
pub mod model;
pub mod nodes;
pub mod ranges;
pub mod report;
pub mod scope;
pub mod segments;
pub mod select;
pub mod selector;
pub mod summary;
pub mod tiers;
pub mod twin;

pub use compile::{compile, ClassKind, Compiled, CompiledCluster};
pub use explain::{allowed, explain, Endpoint, Explanation};
pub use ip::Cidr;
pub use model::*;
pub use selector::{LabelSelector, Operator, Requirement};
pub use summary::{summarize, Summary};
pub use tiers::{Action, ClusterPolicy, CnpPeer, CnpPort, CnpRule, CnpSubject, Tier};
