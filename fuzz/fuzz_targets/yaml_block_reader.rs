//! Any text: when the fast block-style YAML reader takes it, the full YAML parser reads it
//! without an error to the same documents (values, indices, starting positions). The
//! full parser is the independent oracle; the fast reader may decline anything.
#![no_main]

use libfuzzer_sys::fuzz_target;
use palisade_load::yaml::{parse_block, parse_full};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Some(fast) = parse_block(text) else {
        return;
    };
    let (full, err) = parse_full(text);
    assert_eq!(err, None, "taken by the fast reader, refused by the parser:\n{text}");
    assert_eq!(fast.len(), full.len(), "{text}");
    for (a, b) in fast.iter().zip(&full) {
        assert_eq!((a.index, a.start, &a.value), (b.index, b.start, &b.value), "{text}");
    }
});
