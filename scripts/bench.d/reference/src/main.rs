//! `GET /…/check?sub=NAME` answered by PDM's check statement and nothing else: no routing,
//! validation, logging, metrics, timeouts or pool. `scripts/bench` measures it beside PDM, so
//! the table shows what an HTTP hop over PostgreSQL costs on the machine at hand.
//!
//!     PORT=18090 DATABASE="host=127.0.0.1 user=postgres dbname=pdm_bench" check-reference

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

/// PDM's check statement itself (the store's file), so that the two differ only in what
/// surrounds it.
const CHECK: &str = include_str!("../../../../shared/src/store/sql/postgres/check_name.sql");

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let port = std::env::var("PORT").unwrap_or_else(|_| "18090".into());
    let database = std::env::var("DATABASE").expect("DATABASE: a libpq connection string");
    let tls = tokio_postgres_rustls::MakeRustlsConnect::new(any_certificate());
    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}"))
        .await
        .expect("the port is free");
    loop {
        let (stream, _) = listener.accept().await.expect("accept");
        let (client, connection) = tokio_postgres::connect(&database, tls.clone())
            .await
            .expect("PostgreSQL answers");
        tokio::spawn(connection);
        let statement = client.prepare(CHECK).await.expect("the SELECT prepares");
        let client = Arc::new(client);
        let service = hyper::service::service_fn(move |request: Request<_>| {
            let (client, statement) = (client.clone(), statement.clone());
            async move {
                let sub = request
                    .uri()
                    .query()
                    .and_then(|q| q.split('&').find_map(|p| p.strip_prefix("sub=")))
                    .unwrap_or_default()
                    .to_owned();
                let row = client
                    .query_one(&statement, &[&"omani.works", &sub, &6_i32])
                    .await
                    .expect("query");
                let state: Option<String> = row.get("state");
                let body = format!(
                    r#"{{"available":{},"fqdn":"{sub}.omani.works"}}"#,
                    state.is_none()
                );
                Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(body))))
            }
        });
        tokio::spawn(
            hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service),
        );
    }
}

/// TLS without verifying the server, as PDM's and pgbench's default `sslmode=prefer` does.
fn any_certificate() -> rustls::ClientConfig {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("ring supports the default versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
        .with_no_client_auth()
}

#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
