//! PDM's requests answered by the least a server can do: hyper, one tokio-postgres connection
//! per HTTP connection, one statement per request, and no routing table, validation, logging,
//! metrics, timeouts, pool or DNS. `scripts/bench` measures it beside PDM, so the table shows
//! what an HTTP hop over PostgreSQL costs on the machine at hand.
//!
//! - `GET …/check?sub=` runs PDM's check statement itself (the store's file);
//! - `POST …/reserve`, `POST …/commit` and `DELETE …/release?sub=` run the three statements of
//!   `cycle/` (a sovereign's life with nothing but its rows and audit events), answering what
//!   `cycle.lua` reads from PDM's answers.
//!
//!     PORT=18090 DATABASE="host=127.0.0.1 user=postgres dbname=pdm_bench" pdm-reference

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tokio_postgres::{Client, Statement};

/// PDM's check statement itself (the store's file), so that the two differ only in what
/// surrounds it.
const CHECK: &str = include_str!("../../../../shared/src/store/sql/postgres/check_name.sql");

struct Statements {
    check: Statement,
    reserve: Statement,
    commit: Statement,
    release: Statement,
}

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
        let prepare = |sql| client.prepare(sql);
        let statements = Arc::new(Statements {
            check: prepare(CHECK).await.expect("check prepares"),
            reserve: prepare(include_str!("../cycle/reserve.sql")).await.expect("reserve prepares"),
            commit: prepare(include_str!("../cycle/commit.sql")).await.expect("commit prepares"),
            release: prepare(include_str!("../cycle/release.sql")).await.expect("release prepares"),
        });
        let client = Arc::new(client);
        let service = hyper::service::service_fn(move |request| {
            let (client, statements) = (client.clone(), statements.clone());
            async move { Ok::<_, Infallible>(answer(&client, &statements, request).await) }
        });
        tokio::spawn(
            hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service),
        );
    }
}

async fn answer(client: &Client, s: &Statements, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let path = request.uri().path().to_owned();
    let pool = path.split('/').nth(4).unwrap_or_default().to_owned();
    let sub = request
        .uri()
        .query()
        .and_then(|q| q.split('&').find_map(|p| p.strip_prefix("sub=")))
        .unwrap_or_default()
        .to_owned();
    let method = request.method().clone();
    let body = request.into_body().collect().await.expect("body").to_bytes();
    let body = std::str::from_utf8(&body).unwrap_or_default();
    let (status, answer) = match (method, path.rsplit('/').next().unwrap_or_default()) {
        (Method::GET, "check") => {
            let row = client.query_one(&s.check, &[&pool, &sub, &6_i32]).await.expect("check");
            let state: Option<String> = row.get("state");
            (StatusCode::OK, format!(r#"{{"available":{},"fqdn":"{sub}.{pool}"}}"#, state.is_none()))
        }
        (Method::POST, "reserve") => {
            let sub = field(body, "subdomain");
            let row = client.query_one(&s.reserve, &[&pool, &sub]).await.expect("reserve");
            let token: String = row.get(0);
            (StatusCode::CREATED, format!(r#"{{"subdomain":"{sub}","reservationToken":"{token}"}}"#))
        }
        (Method::POST, "commit") => {
            let (sub, token) = (field(body, "subdomain"), field(body, "reservationToken"));
            let (fqdn, ip) = (format!("{sub}.{pool}"), field(body, "loadBalancerIP"));
            client
                .query_one(&s.commit, &[&pool, &sub, &token, &fqdn, &ip])
                .await
                .expect("commit");
            (StatusCode::OK, format!(r#"{{"subdomain":"{sub}","state":"active"}}"#))
        }
        (Method::DELETE, "release") => {
            client.query_one(&s.release, &[&pool, &sub]).await.expect("release");
            (StatusCode::OK, format!(r#"{{"fqdn":"{sub}.{pool}"}}"#))
        }
        _ => (StatusCode::NOT_FOUND, String::new()),
    };
    let mut response = Response::new(Full::new(Bytes::from(answer)));
    *response.status_mut() = status;
    response
}

/// A string field of a flat JSON body, as PDM's clients send it.
fn field<'a>(body: &'a str, name: &str) -> &'a str {
    let key = format!(r#""{name}":""#);
    body.split_once(&key)
        .and_then(|(_, rest)| rest.split_once('"'))
        .map_or("", |(value, _)| value)
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
