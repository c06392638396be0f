//! A job's `permissions:` from its `.gitlab-ci.yml`: no input may panic, and what it reads names back to the same
//! policies.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(policies) = domain::parse_job_permissions(text) {
        let names = policies.names();
        let again = domain::JobPolicies::parse_names(names.iter().map(String::as_str)).expect("its own names");
        assert_eq!(again, policies);
    }
});
