//! A client certificate's identity: arbitrary DER never panics, and an identity, when
//! found, is text the certificate itself carries (a SAN or CN is copied, never made up).
#![no_main]

use caixa_runtime::auth::tls::identity;
use libfuzzer_sys::fuzz_target;
use rustls_pki_types::CertificateDer;

fuzz_target!(|data: &[u8]| {
    if let Some(name) = identity(&CertificateDer::from(data))
        && !name.is_empty()
    {
        assert!(data.windows(name.len()).any(|w| w == name.as_bytes()), "{name:?} is not in the certificate");
    }
});
