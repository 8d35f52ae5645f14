//! Certificates for TLS tests: a CA and the leaves it signs, as PEM text and files.

use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};

/// A certificate authority made for one test.
pub struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

/// A certificate and its key, PEM encoded.
pub struct Leaf {
    /// The certificate.
    pub cert: String,
    /// Its private key.
    pub key: String,
}

impl TestCa {
    /// A new CA named `name`.
    pub fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().expect("CA key")).expect("CA");
        Self { issuer }
    }

    /// The CA certificate.
    pub fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// A certificate for `dns_name` (its subject alternative name), signed by this CA.
    pub fn leaf(&self, dns_name: &str) -> Leaf {
        self.leaf_for(&[dns_name])
    }

    /// A certificate for `dns_names` (its subject alternative names, in order; the first
    /// also its common name), signed by this CA.
    pub fn leaf_for(&self, dns_names: &[&str]) -> Leaf {
        let key = KeyPair::generate().expect("leaf key");
        let names: Vec<String> = dns_names.iter().map(|n| (*n).to_owned()).collect();
        let mut params = CertificateParams::new(names).expect("leaf params");
        params.distinguished_name.push(DnType::CommonName, dns_names[0]);
        let cert = params.signed_by(&key, &self.issuer).expect("leaf");
        Leaf { cert: cert.pem(), key: key.serialize_pem() }
    }
}

/// Writes `text` to `dir/name`, replacing the file the way a Kubernetes Secret update
/// does (a new file moved into place), and returns its path.
pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    let staging = dir.join(format!(".{name}.new"));
    std::fs::write(&staging, text).expect("write staging file");
    std::fs::rename(&staging, &path).expect("move into place");
    path
}
