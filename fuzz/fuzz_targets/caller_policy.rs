//! The method policy's text: any text parses or is refused naming the rule, never a
//! panic; a parsed policy answers any caller and path; `*` allows everything, a method
//! rule exactly its method.
#![no_main]

use caixa_runtime::auth::{MethodPolicy, PolicyError};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match MethodPolicy::parse(text) {
        Ok(policy) => {
            for caller in text.split(|c: char| c == '=' || c.is_whitespace()).take(8) {
                let _ = policy.allows(caller, text);
                let _ = policy.allows(caller, "/caixa.entitlement.v1.EntitlementService/CheckAccess");
            }
        }
        Err(PolicyError::BadRule { rule }) => assert!(rule >= 1),
    }
    let path = format!("/{}", text.trim_start_matches('/'));
    let everything = MethodPolicy::parse("web = *").expect("documented rule");
    assert!(everything.allows("web", &path));
    assert!(!everything.allows("other", &path));
    let method = "caixa.billing.v1.BillingService/GetConfig";
    let one = MethodPolicy::parse(&format!("web = {method}")).expect("documented rule");
    assert_eq!(one.allows("web", &path), path == format!("/{method}"));
});
