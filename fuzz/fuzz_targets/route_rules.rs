//! Route rules (`METHODS PATH` allowlists): no input may panic, and a normalised rule normalises to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(rule) = policy::normalize_rule(text) {
        assert_eq!(policy::normalize_rule(&rule).as_deref(), Ok(rule.as_str()), "{text:?}");
    }
});
