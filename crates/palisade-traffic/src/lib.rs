//! Observed traffic against policy. Flow records — Palisade's own JSON lines (agent,
//! `dataplane log`, lab) or Hubble's `hubble observe -o json` — are read into
//! [`Observation`]s, folded into [`Connections`] (one per source, destination, protocol
//! and port, with counts and first and last seen), and replayed against policy sets
//! through the compiled form ([`replay()`]): which real connections a change would cut, and
//! which it would newly allow; and least-privilege policies advised from them
//! ([`advise()`]). No I/O: callers hand in the text and the clusters.
//!
//! ```
//! use palisade_traffic::{observed, Connections};
//!
//! let line = r#"{"time":1.5,"src":"shop/frontend","dst":"shop/backend","src_ip":"10.0.0.1","dst_ip":"10.0.0.2","protocol":"TCP","port":8080,"verdict":"allowed"}"#;
//! let o = observed::parse_line(line).unwrap().unwrap();
//! let mut c = Connections::default();
//! c.add(o.clone());
//! c.add(o);
//! assert_eq!(c.len(), 1);
//! assert_eq!(c.iter().next().unwrap().1.count, 2);
//! ```

#![warn(missing_docs)]

pub mod advise;
pub mod connections;
pub mod observed;
pub mod replay;

pub use advise::{advise, advise_cluster_wide, Advice, AdviseOptions, Advised};
pub use connections::{Connection, Connections, Key};
pub use observed::{Observation, Peer, Seen};
pub use replay::{replay, Replay, Replayed};
