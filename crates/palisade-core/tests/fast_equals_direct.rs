//! Property: the class/bitset matrix equals the direct pair-by-pair evaluator
//! (`explain`) on random clusters, for every ordered endpoint pair and a set of probe
//! ports, in both `--ipblock-pods` modes. The generator and the comparison live in
//! palisade-synth (`small`), shared with the fuzz target.

use palisade_core::{IpBlockPods, Options};
use palisade_synth::small::{cluster, matrix_equals_direct, XorShift};
use proptest::prelude::*;

fn check(seed: u64, mode: IpBlockPods) {
    let c = cluster(&mut XorShift(seed | 1));
    let options = Options { ipblock_pods: mode };
    if let Err(e) = matrix_equals_direct(&c, &options) {
        panic!("seed {seed}: {e}\n{c:#?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]
    #[test]
    fn matrix_equals_direct_evaluation(seed in any::<u64>()) {
        check(seed, IpBlockPods::Match);
        check(seed, IpBlockPods::Ignore);
    }
}
