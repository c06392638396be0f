//! The path canonicalizer and the route matcher: no input may panic, and the canonical spelling of a path reads
//! back as the same path (one reading, whichever spelling arrives).
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

fn catalog() -> &'static catalog::Catalog {
    static CATALOG: OnceLock<catalog::Catalog> = OnceLock::new();
    CATALOG.get_or_init(|| catalog::Catalog::builtin().expect("the built-in catalog"))
}

fuzz_target!(|data: &[u8]| {
    let Ok(target) = std::str::from_utf8(data) else { return };
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (target, None),
    };
    let Ok(canonical) = catalog::canonical_path(path) else { return };
    let spelled = canonical.to_string();
    let again = catalog::canonical_path(&spelled).expect("a canonical spelling is readable");
    assert_eq!(again, canonical, "{spelled}");
    assert_eq!(again.to_string(), spelled);
    for method in ["GET", "POST", "PUT", "DELETE"] {
        let first = catalog().find(method, &canonical, query).map(|m| m.route.template.clone());
        let second = catalog().find(method, &again, query).map(|m| m.route.template.clone());
        assert_eq!(first, second);
    }
});
