//! The HTTP connector's transport: TCP, and TLS with the client certificate for https endpoints
//! (rustls with the `ring` provider), plugged into hyper-util's pooled client. Also the loading of
//! the PEM files named in the settings, with errors that name the setting.
//!
//! It moves bytes only: it must never log what it carries. A TLS failure is reported as a
//! `TlsFailure` so that the connector can tell "certificate problem" (fix the settings) from
//! "network problem" (try again).

use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::Uri;
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector as TcpConnector};
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use crate::NhiError;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The connect phase (TCP and, for https, the TLS handshake) did not finish in time.
#[derive(Debug)]
pub(crate) struct ConnectTimeout;

impl std::fmt::Display for ConnectTimeout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connect timeout")
    }
}

impl std::error::Error for ConnectTimeout {}

/// Opens connections for the pooled client.
#[derive(Clone)]
pub(crate) struct Transport {
    tcp: TcpConnector,
    tls: Option<tokio_rustls::TlsConnector>,
    connect_timeout: Duration,
}

impl Transport {
    pub(crate) fn new(connect_timeout: Duration, tls: Option<Arc<rustls::ClientConfig>>) -> Self {
        let mut tcp = TcpConnector::new();
        tcp.enforce_http(false);
        tcp.set_nodelay(true);
        tcp.set_connect_timeout(Some(connect_timeout));
        Self { tcp, tls: tls.map(tokio_rustls::TlsConnector::from), connect_timeout }
    }
}

impl tower_service::Service<Uri> for Transport {
    type Response = TokioIo<Stream>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let mut tcp = self.tcp.clone();
        let tls = self.tls.clone();
        let connect_timeout = self.connect_timeout;
        Box::pin(async move {
            let https = uri.scheme_str() == Some("https");
            let connect = async {
                let stream = tcp.call(uri.clone()).await.map_err(|e| Box::new(e) as BoxError)?.into_inner();
                if !https {
                    return Ok(Stream::Plain(stream));
                }
                let Some(tls) = tls else {
                    return Err(Box::new(io::Error::other("https endpoint without a TLS configuration")) as BoxError);
                };
                let host = uri.host().unwrap_or_default().trim_start_matches('[').trim_end_matches(']').to_owned();
                let name = ServerName::try_from(host).map_err(|e| Box::new(e) as BoxError)?;
                let stream = tls.connect(name, stream).await.map_err(|e| Box::new(e) as BoxError)?;
                Ok(Stream::Tls(Box::new(stream)))
            };
            match tokio::time::timeout(connect_timeout, connect).await {
                Ok(result) => result.map(TokioIo::new),
                Err(_) => Err(Box::new(ConnectTimeout) as BoxError),
            }
        })
    }
}

/// A plain or TLS connection.
pub(crate) enum Stream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl Connection for Stream {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

impl AsyncRead for Stream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_flush(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Self::Plain(s) => s.is_write_vectored(),
            Self::Tls(s) => s.is_write_vectored(),
        }
    }
}

/// Where a CA bundle is usually found when `ca_pem` is not set.
const SYSTEM_CA_BUNDLES: &[&str] =
    &["/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/cert.pem"];

fn read_error(setting: &str, path: &Path, e: impl std::fmt::Display) -> NhiError {
    NhiError::config(setting, format!("cannot read {}: {e}", path.display()))
}

fn load_certs(setting: &str, path: &Path) -> Result<Vec<CertificateDer<'static>>, NhiError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .map_err(|e| read_error(setting, path, e))?
        .collect::<Result<_, _>>()
        .map_err(|e| read_error(setting, path, e))?;
    if certs.is_empty() {
        return Err(NhiError::config(setting, format!("{} holds no PEM certificate", path.display())));
    }
    Ok(certs)
}

/// The rustls client configuration for an https endpoint.
pub(crate) fn client_tls_config(
    client_cert_pem: Option<&Path>,
    client_key_pem: Option<&Path>,
    ca_pem: Option<&Path>,
) -> Result<Arc<rustls::ClientConfig>, NhiError> {
    let (ca_setting, ca_path): (&str, PathBuf) = match ca_pem {
        Some(p) => ("ca_pem", p.to_owned()),
        None => {
            let env = std::env::var_os("SSL_CERT_FILE").map(PathBuf::from);
            let found = env.into_iter().chain(SYSTEM_CA_BUNDLES.iter().map(PathBuf::from)).find(|p| p.is_file());
            let Some(p) = found else {
                return Err(NhiError::config("ca_pem", "no CA bundle found on this machine: set ca_pem"));
            };
            ("ca_pem", p)
        }
    };
    let mut roots = rustls::RootCertStore::empty();
    let (added, _ignored) = roots.add_parsable_certificates(load_certs(ca_setting, &ca_path)?);
    if added == 0 {
        return Err(NhiError::config(ca_setting, format!("{} holds no usable CA certificate", ca_path.display())));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| NhiError::config("endpoint", format!("TLS set-up failed: {e}")))?
        .with_root_certificates(roots);
    let mut config = match (client_cert_pem, client_key_pem) {
        (Some(cert), Some(key)) => {
            let certs = load_certs("client_cert_pem", cert)?;
            let key = PrivateKeyDer::from_pem_file(key).map_err(|e| read_error("client_key_pem", key, e))?;
            builder.with_client_auth_cert(certs, key).map_err(|e| {
                NhiError::config("client_key_pem", format!("the key does not fit the client certificate: {e}"))
            })?
        }
        (None, None) => builder.with_no_client_auth(),
        (Some(_), None) => return Err(NhiError::config("client_key_pem", "client_cert_pem is set, its key is not")),
        (None, Some(_)) => {
            return Err(NhiError::config("client_cert_pem", "client_key_pem is set, its certificate is not"));
        }
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Finds a TLS error anywhere in an error's chain (an `io::Error` hides its inner error from
/// `source()`, so that is unwrapped too).
pub(crate) fn find_tls_error<'a>(err: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = current {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        if let Some(inner) = e.downcast_ref::<io::Error>().and_then(|io| io.get_ref())
            && let Some(tls) = find_tls_error(inner)
        {
            return Some(tls);
        }
        current = e.source();
    }
    None
}

/// Finds an error of type `T` in the chain.
pub(crate) fn find_in_chain<'a, T: std::error::Error + 'static>(
    err: &'a (dyn std::error::Error + 'static),
) -> Option<&'a T> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = current {
        if let Some(t) = e.downcast_ref::<T>() {
            return Some(t);
        }
        current = e.source();
    }
    None
}
