//! Kernel I/O, small on purpose: running `nft -f` for whole-table transactions, nf_tables
//! set-element batches over netlink, and the NFLOG socket of the flow log. What to send
//! is decided in [`crate::plan`].

pub mod apply;
pub(crate) mod netlink;
pub mod nflog;
pub mod set_elements;
