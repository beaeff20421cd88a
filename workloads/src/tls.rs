//! TLS for `https://` targets: which certificate authorities a run trusts, and the client certificate it
//! shows for mutual TLS. Both HTTP clients take the same [`Tls`], so they trust and present the same
//! things.
//!
//! rustls with the ring provider (no OpenSSL to find on the machine; see workloads/Cargo.toml for why
//! ring). Without a CA file, the system's trust store is used, as a browser would.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// The files a run's TLS is made from (`--ca-cert`, `--client-cert`, `--client-key`, or a cluster spec's
/// `[tls]`). All PEM.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsFiles {
    /// The certificate authorities to trust instead of the system's.
    pub ca_cert: Option<PathBuf>,
    /// The certificate chain to present to servers that ask for one (mutual TLS).
    pub client_cert: Option<PathBuf>,
    /// The client certificate's private key (PKCS#8, PKCS#1 or SEC1).
    pub client_key: Option<PathBuf>,
}

impl TlsFiles {
    pub fn is_empty(&self) -> bool {
        self == &TlsFiles::default()
    }

    /// Each file given in `self` wins over the one in `fallback` (flags over a cluster spec).
    pub fn or(self, fallback: &TlsFiles) -> TlsFiles {
        TlsFiles {
            ca_cert: self.ca_cert.or_else(|| fallback.ca_cert.clone()),
            client_cert: self.client_cert.or_else(|| fallback.client_cert.clone()),
            client_key: self.client_key.or_else(|| fallback.client_key.clone()),
        }
    }
}

/// A loaded TLS client configuration, cheap to clone.
#[derive(Clone, Debug)]
pub struct Tls {
    config: Arc<rustls::ClientConfig>,
}

impl Tls {
    /// Reads and checks every file; errors name the file and what was expected.
    pub fn load(files: &TlsFiles) -> Result<Tls, String> {
        let mut roots = rustls::RootCertStore::empty();
        match &files.ca_cert {
            Some(path) => {
                for cert in certificates(path)? {
                    roots.add(cert).map_err(|e| format!("{}: not a usable CA certificate: {e}", path.display()))?;
                }
            }
            None => {
                let native = rustls_native_certs::load_native_certs();
                let (added, _) = roots.add_parsable_certificates(native.certs);
                if added == 0 {
                    return Err("no CA certificates in the system's trust store; give the one that signed the \
                                targets' certificates with --ca-cert FILE"
                        .into());
                }
            }
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS: {e}"))?
            .with_root_certificates(roots);
        let mut config = match (&files.client_cert, &files.client_key) {
            (None, None) => builder.with_no_client_auth(),
            (Some(cert), Some(key_file)) => {
                let chain = certificates(cert)?;
                let key = PrivateKeyDer::from_pem_file(key_file).map_err(|e| {
                    format!("{}: expected a PEM private key (-----BEGIN PRIVATE KEY-----): {e}", key_file.display())
                })?;
                builder.with_client_auth_cert(chain, key).map_err(|e| {
                    format!("{} and {}: not a certificate and its key: {e}", cert.display(), key_file.display())
                })?
            }
            (Some(_), None) => return Err("a client certificate needs its key: give --client-key FILE too".into()),
            (None, Some(_)) => return Err("a client key needs its certificate: give --client-cert FILE too".into()),
        };
        // Both clients speak HTTP/1.1 only; saying so keeps a server that also serves HTTP/2 (etcd's gRPC
        // port) from choosing h2.
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Tls { config: Arc::new(config) })
    }

    /// A run's TLS: loaded when it has `https://` nodes; none otherwise, and then TLS files are a mistake
    /// worth saying (a `--ca-cert` given for `http://` targets protects nothing).
    pub fn for_run(files: &TlsFiles, https: bool) -> Result<Option<Tls>, String> {
        match (https, files.is_empty()) {
            (true, _) => Tls::load(files).map(Some),
            (false, true) => Ok(None),
            (false, false) => Err("--ca-cert, --client-cert and --client-key are for https:// targets, and every \
                                   target here is http://"
                .into()),
        }
    }

    pub fn config(&self) -> &Arc<rustls::ClientConfig> {
        &self.config
    }
}

/// Every certificate in a PEM file; at least one.
fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("{}: expected PEM certificates (-----BEGIN CERTIFICATE-----): {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no certificate in it (expected -----BEGIN CERTIFICATE-----)", path.display()));
    }
    Ok(certs)
}

/// Whether `error`, or anything that caused it, is TLS refusing the connection (an untrusted certificate,
/// a name that does not match, an alert from the server) rather than the network.
pub fn is_tls_error(error: &(dyn std::error::Error + 'static)) -> bool {
    if error.downcast_ref::<rustls::Error>().is_some() {
        return true;
    }
    // An io::Error reports its inner error's source, not the inner error itself (the rustls error
    // tokio-rustls wraps): look inside it.
    let inner = error
        .downcast_ref::<std::io::Error>()
        .and_then(|io| io.get_ref())
        .map(|e| e as &(dyn std::error::Error + 'static));
    inner.is_some_and(is_tls_error) || error.source().is_some_and(is_tls_error)
}
