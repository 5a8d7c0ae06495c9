//! Policy checks for CI, on top of the engine (never a second reading of the YAML):
//! `diff` of two sets of manifests, `test` assertions, `lint` findings and the zero-trust
//! `scaffold`. Pure functions from clusters to answers; the CLI reads the files and
//! prints.
//!
//! ```
//! use palisade_check::lint::{lint, LintOptions, Severity};
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
//! let report = lint(&loaded.cluster, &LintOptions::default());
//! // The shop has no default deny: web takes traffic from anywhere.
//! let names: Vec<&str> = report.findings.iter().map(|f| f.name).collect();
//! assert_eq!(names, ["no-default-deny-ingress", "no-default-deny-egress"]);
//! assert_eq!(report.findings[0].object_text(), "Namespace shop");
//! assert_eq!(report.findings[0].severity, Severity::Warning);
//!
//! // What removing the policy would open.
//! let mut open = loaded.cluster.clone();
//! open.policies.clear();
//! let d = palisade_check::diff::diff(&loaded.cluster, &open, &Default::default()).unwrap();
//! assert!(d.closed.is_empty());
//! // web reached db on 5432 only; now on every other TCP port too.
//! let web_db = d.opened.iter().find(|c| c.example == ("shop/web".into(), "shop/db".into()));
//! assert_eq!(web_db.unwrap().ports, "1-5431,5433-65535");
//! ```

#![warn(missing_docs)]

pub mod assertions;
pub mod diff;
pub mod lint;
pub mod scaffold;
