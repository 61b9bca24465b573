//! HTTPS with a client certificate against the sandbox served with TLS (test-only fixtures).

use std::path::PathBuf;
use std::sync::Arc;

use nhiguard_nhi::rustls::pki_types::pem::PemObject;
use nhiguard_nhi::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use nhiguard_nhi::rustls::server::WebPkiClientVerifier;
use nhiguard_nhi::rustls::{self, RootCertStore, ServerConfig};
use nhiguard_nhi::{Connector, HttpConnectorConfig, LookupAnswer, NhiError, SandboxConfig, spawn_sandbox_tls};

use crate::support::{CREDENTIAL, config, connector, data, known, local, req};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

/// The sandbox's TLS settings: its server certificate, and client certificates from the test CA
/// required.
fn server_tls() -> Arc<ServerConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    roots.add(CertificateDer::from_pem_file(fixture("ca.pem")).unwrap()).unwrap();
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone()).build().unwrap();
    let certs = vec![CertificateDer::from_pem_file(fixture("server.pem")).unwrap()];
    let key = PrivateKeyDer::from_pem_file(fixture("server-key.pem")).unwrap();
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)
        .unwrap();
    Arc::new(config)
}

async fn start_tls() -> nhiguard_nhi::SandboxHandle {
    spawn_sandbox_tls(local(), SandboxConfig::new(data(), CREDENTIAL), server_tls()).await.unwrap()
}

fn https_config(endpoint: &str) -> HttpConnectorConfig {
    HttpConnectorConfig {
        client_cert_pem: Some(fixture("client.pem")),
        client_key_pem: Some(fixture("client-key.pem")),
        ca_pem: Some(fixture("ca.pem")),
        ..config(endpoint)
    }
}

#[tokio::test]
async fn https_with_the_client_certificate_works() {
    let sb = start_tls().await;
    assert!(sb.endpoint().starts_with("https://127.0.0.1:"));
    let c = connector(https_config(&sb.endpoint()));
    for _ in 0..2 {
        let answer = c.lookup(&req("INS01", known(&data()))).await.unwrap();
        assert!(matches!(answer, LookupAnswer::Found(ref r) if r.len() == 1), "{answer:?}");
    }
}

#[tokio::test]
async fn without_the_client_certificate_the_error_names_it() {
    let sb = start_tls().await;
    let c = connector(HttpConnectorConfig {
        client_cert_pem: None,
        client_key_pem: None,
        retries: 2,
        ..https_config(&sb.endpoint())
    });
    let err = c.lookup(&req("INS01", known(&data()))).await.unwrap_err();
    assert!(matches!(&err, NhiError::Config { setting, .. } if setting == "client_cert_pem"), "{err:?}");
    assert!(err.to_string().contains("client certificate"), "{err}");
}

#[tokio::test]
async fn a_server_certificate_from_another_ca_is_refused() {
    let sb = start_tls().await;
    let c = connector(HttpConnectorConfig { ca_pem: Some(fixture("other-ca.pem")), ..https_config(&sb.endpoint()) });
    let err = c.lookup(&req("INS01", known(&data()))).await.unwrap_err();
    assert!(matches!(&err, NhiError::Config { setting, .. } if setting == "ca_pem"), "{err:?}");
}

#[test]
fn unreadable_or_mismatched_pem_files_name_their_setting() {
    let setting_of = |c: HttpConnectorConfig| match nhiguard_nhi::HttpConnector::new(c) {
        Err(NhiError::Config { setting, .. }) => setting,
        other => panic!("{other:?}"),
    };
    let base = || https_config("https://127.0.0.1:9");
    assert_eq!(
        setting_of(HttpConnectorConfig { client_cert_pem: Some(fixture("nope.pem")), ..base() }),
        "client_cert_pem"
    );
    assert_eq!(
        setting_of(HttpConnectorConfig { client_key_pem: Some(fixture("nope.pem")), ..base() }),
        "client_key_pem"
    );
    assert_eq!(
        setting_of(HttpConnectorConfig { client_key_pem: Some(fixture("server-key.pem")), ..base() }),
        "client_key_pem"
    );
    assert_eq!(setting_of(HttpConnectorConfig { client_key_pem: None, ..base() }), "client_key_pem");
    assert_eq!(setting_of(HttpConnectorConfig { ca_pem: Some(fixture("client-key.pem")), ..base() }), "ca_pem");
    assert!(nhiguard_nhi::HttpConnector::new(base()).is_ok());
}
