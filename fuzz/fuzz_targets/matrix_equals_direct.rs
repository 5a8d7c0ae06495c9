//! A small cluster chosen by the fuzzer's bytes: the compiled matrices equal the direct
//! evaluator on every pair, protocol and probe port, in both ipBlock modes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use palisade_core::{IpBlockPods, Options};
use palisade_synth::small::{cluster, matrix_equals_direct, Bytes};

fuzz_target!(|data: &[u8]| {
    let c = cluster(&mut Bytes(data));
    for ipblock_pods in [IpBlockPods::Match, IpBlockPods::Ignore] {
        if let Err(e) = matrix_equals_direct(&c, &Options { ipblock_pods }) {
            panic!("{e}\n{c:#?}");
        }
    }
});
