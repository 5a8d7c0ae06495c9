//! Palisade's lab: the manifests as real pods on this machine. One network namespace per
//! pod (prefix `pal-`), node namespaces that route between them over veth pairs (no
//! bridge, so every packet crosses a node's forward hook), the nftables dataplane applied
//! in each node for its own pods, listeners on the pods' ports, and probes with real
//! TCP and UDP packets whose results are compared with the engine's prediction.

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
