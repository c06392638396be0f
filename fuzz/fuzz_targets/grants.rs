//! `granular_scopes` as a client sends it, through the JSON reader and the grant checks of shape, and the stored
//! form of grants: no input may panic, and checked grants read back from their stored form as written.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(data)
        && let Ok(Some(requested)) = authority::requested_grants(Some(&value))
        && let Ok(grants) = authority::read_grants(&requested)
    {
        let stored = domain::Grant::to_stored(&grants);
        assert_eq!(domain::Grant::from_stored(&stored), grants, "{stored}");
    }
    // Stored text is only ever written by `to_stored` of checked grants (above); any other text must not panic.
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = domain::Grant::from_stored(text);
    }
});
