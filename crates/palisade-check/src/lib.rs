//! Policy checks for CI, on top of the engine (never a second reading of the YAML):
//! `diff` of two sets of manifests, `test` assertions, `lint` findings and the zero-trust
//! `scaffold`. Pure functions from clusters to answers; the
//! CLI reads the files and prints.

pub mod assertions;
pub mod diff;
pub mod lint;
pub mod scaffold;
