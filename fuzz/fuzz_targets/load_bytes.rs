//! Any bytes as a manifest file: the loader never panics, and every problem it reports
//! names a position in the file (the only problem without one is an option's: a
//! `--pod-cidr` too small for the pods).
#![no_main]

use libfuzzer_sys::fuzz_target;
use palisade_load::{load, walk::text_of, LoadOptions, Source};

fuzz_target!(|data: &[u8]| {
    let text = match text_of("fuzz.yaml", data.to_vec()) {
        Ok(t) => t,
        Err(d) => {
            assert!(d.pos.is_some(), "{d}");
            return;
        }
    };
    let sources = [Source::Text {
        name: "fuzz.yaml".into(),
        text,
    }];
    if let Err(e) = load(&sources, &LoadOptions::default()) {
        for d in e.0 {
            assert!(d.pos.is_some() || d.file == "--pod-cidr", "no position: {d}");
        }
    }
});
