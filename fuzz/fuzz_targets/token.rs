//! The token parser: every prefix, the routable payload, the CRC; and the pasted-secret finder. No input may panic,
//! and whatever parses must mint back to a token that parses to the same payload.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    for (prefix, default) in [("glpat-", "glpat-"), ("gldt-", "gldt-"), ("acme-glpat-", "glpat-"), ("glrt-", "glrt-")] {
        let prefix = tokens::Prefix::new(prefix, None, default);
        let checked = tokens::check(text, &prefix).is_ok();
        if let Ok((matched, payload)) = tokens::parse(text, &prefix) {
            assert!(checked, "parse accepted what check refused");
            let again = tokens::mint(matched, &[0; tokens::RANDOM_BYTES], &payload).expect("a parsed payload mints");
            let (_, reparsed) = tokens::parse(&again, &prefix).expect("a minted token parses");
            assert_eq!(reparsed, payload);
            assert!(tokens::secrets::looks_like_secret(text), "a parsed token is a secret");
        }
    }
    let _ = tokens::secrets::looks_like_secret(text);
    let _ = domain::secret_home(text, &["glpat-"]);
});
