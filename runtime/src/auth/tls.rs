//! The gRPC server's TLS: rustls (ring, no OpenSSL) with a server certificate and, for
//! mutual TLS, a CA whose client certificates are accepted. The files are read again
//! every reload interval and a changed set replaces the configuration for new connections
//! (a Kubernetes Secret rotates without a restart); a set that fails to load is logged
//! and the previous one stays.

use std::{
    io,
    path::PathBuf,
    sync::{Arc, RwLock},
    time::Duration,
};

use rustls::{RootCertStore, ServerConfig, crypto::ring, server::WebPkiClientVerifier};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
use tokio::net::TcpStream;
use tokio_rustls::{TlsAcceptor, server::TlsStream};
use tokio_stream::wrappers::ReceiverStream;

use crate::listen::{Guarded, Listener};

/// How long a client may take to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why TLS files cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file cannot be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// A file holds no usable PEM item of the kind needed.
    #[error("{path}: {what}")]
    Pem {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        what: String,
    },
    /// rustls refused the certificate, key or CA.
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
    /// The client CA cannot verify anything.
    #[error("client CA: {0}")]
    Verifier(String),
}

/// Where the server's certificate, key and (for mutual TLS) client CA are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    /// PEM certificate chain.
    pub cert: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
    /// PEM CA certificates that sign accepted client certificates.
    pub client_ca: Option<PathBuf>,
    /// Let clients without a certificate connect (they may still present a token).
    pub client_cert_optional: bool,
}

/// A TLS configuration that follows its files.
pub struct ReloadingTls {
    files: TlsFiles,
    current: RwLock<(Vec<u8>, Arc<ServerConfig>)>,
}

impl ReloadingTls {
    /// Loads the files now (an error here stops the start).
    pub fn load(files: TlsFiles) -> Result<Arc<Self>, TlsError> {
        let (stamp, config) = build(&files)?;
        Ok(Arc::new(Self { files, current: RwLock::new((stamp, config)) }))
    }

    /// An acceptor with the newest configuration.
    pub fn acceptor(&self) -> TlsAcceptor {
        let config = match self.current.read() {
            Ok(current) => current.1.clone(),
            Err(poisoned) => poisoned.into_inner().1.clone(),
        };
        TlsAcceptor::from(config)
    }

    /// Reads the files again; true when a changed set was loaded.
    pub fn reload(&self) -> bool {
        let unchanged = match (read_all(&self.files), self.current.read()) {
            (Ok(stamp), Ok(current)) => stamp == current.0,
            _ => false,
        };
        if unchanged {
            return false;
        }
        match build(&self.files) {
            Ok(fresh) => {
                if let Ok(mut current) = self.current.write() {
                    *current = fresh;
                }
                tracing::info!(cert = %self.files.cert.display(), "TLS certificates reloaded");
                true
            }
            Err(err) => {
                tracing::error!(error = %err, "new TLS files cannot be used; keeping the loaded ones");
                false
            }
        }
    }

    /// Accepts connections on `listener` and completes their handshakes (each with a
    /// time limit, off the accept loop), yielding the established streams.
    pub fn incoming(
        self: Arc<Self>,
        listener: Listener,
    ) -> ReceiverStream<io::Result<TlsStream<Guarded<TcpStream>>>> {
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        tokio::spawn(async move {
            loop {
                let (tcp, peer) = tokio::select! {
                    () = tx.closed() => return,
                    accepted = listener.accept() => accepted,
                };
                let (acceptor, tx) = (self.acceptor(), tx.clone());
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                        Ok(Ok(stream)) => {
                            let _ = tx.send(Ok(stream)).await;
                        }
                        Ok(Err(err)) => tracing::debug!(%peer, error = %err, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                });
            }
        });
        ReceiverStream::new(rx)
    }
}

fn read(path: &PathBuf) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read { path: path.clone(), source })
}

fn read_all(files: &TlsFiles) -> Result<Vec<u8>, TlsError> {
    let mut stamp = read(&files.cert)?;
    stamp.extend(read(&files.key)?);
    if let Some(ca) = &files.client_ca {
        stamp.extend(read(ca)?);
    }
    Ok(stamp)
}

fn certs(path: &PathBuf) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = |what: String| TlsError::Pem { path: path.clone(), what };
    let certs = CertificateDer::pem_slice_iter(&read(path)?)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| pem(err.to_string()))?;
    if certs.is_empty() {
        return Err(pem("holds no certificate".to_owned()));
    }
    Ok(certs)
}

fn build(files: &TlsFiles) -> Result<(Vec<u8>, Arc<ServerConfig>), TlsError> {
    let stamp = read_all(files)?;
    let chain = certs(&files.cert)?;
    let key = PrivateKeyDer::from_pem_slice(&read(&files.key)?)
        .map_err(|err| TlsError::Pem { path: files.key.clone(), what: err.to_string() })?;
    let provider = Arc::new(ring::default_provider());
    let builder =
        ServerConfig::builder_with_provider(provider.clone()).with_safe_default_protocol_versions()?;
    let mut config = match &files.client_ca {
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            for cert in certs(ca)? {
                roots.add(cert)?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            let verifier =
                if files.client_cert_optional { verifier.allow_unauthenticated() } else { verifier };
            let verifier = verifier.build().map_err(|err| TlsError::Verifier(err.to_string()))?;
            builder.with_client_cert_verifier(verifier).with_single_cert(chain, key)?
        }
        None => builder.with_no_client_auth().with_single_cert(chain, key)?,
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok((stamp, Arc::new(config)))
}

/// The identity a client certificate names: its first DNS or URI subject alternative
/// name, else its subject's common name.
pub fn identity(cert: &CertificateDer<'_>) -> Option<String> {
    use x509_parser::{extensions::GeneralName, prelude::FromDer};
    let (_, parsed) = x509_parser::certificate::X509Certificate::from_der(cert.as_ref()).ok()?;
    let san = parsed.subject_alternative_name().ok().flatten().and_then(|san| {
        san.value.general_names.iter().find_map(|name| match name {
            GeneralName::DNSName(name) | GeneralName::URI(name) => Some((*name).to_owned()),
            _ => None,
        })
    });
    san.or_else(|| parsed.subject().iter_common_name().next()?.as_str().ok().map(str::to_owned))
}
