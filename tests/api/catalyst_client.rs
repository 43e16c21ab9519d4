//! catalyst-api's PDM client (`products/catalyst/bootstrap/api/internal/pdm/client.go` in
//! openova-io/openova), reproduced call for call: Basic credentials from
//! `CATALYST_PDM_BASIC_AUTH_USER` / `_PASS` when set, the body keys it sends, and the statuses
//! it maps to its sentinel errors. Run with tokens on and off, on every runtime.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::{Method, StatusCode, header};
use pdm_tests::{LB_IP, POOL, TestApp, raw_request};
use serde_json::{Value, json};

/// An address of the sovereign's isolated console gateway.
const CONSOLE_IP: &str = "94.130.0.20";

/// What the client turns a PDM answer into.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Ok(Value),
    Conflict,
    NotFound,
    Expired,
    TokenMismatch,
    NotManaged,
    /// Anything else: its `pdm … status N` error, retried with backoff where it retries.
    Other(u16),
}

/// The client, with the basic-auth pair catalyst-api reads from its environment.
struct CatalystClient<'a> {
    app: &'a TestApp,
    basic_auth: Option<(&'a str, &'a str)>,
}

impl CatalystClient<'_> {
    async fn send(&self, method: Method, uri: &str, body: Option<Value>) -> (StatusCode, Value) {
        let authorization = self
            .basic_auth
            .map(|(user, pass)| format!("Basic {}", STANDARD.encode(format!("{user}:{pass}"))));
        let mut headers = vec![(header::CONTENT_TYPE, "application/json")];
        if let Some(value) = &authorization {
            headers.push((header::AUTHORIZATION, value.as_str()));
        }
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let reply = self
            .app
            .send(raw_request(method, uri, &body, &headers))
            .await;
        (reply.status, reply.body)
    }

    /// `Check`: any status below 500 is decoded as the check's answer.
    async fn check(&self, sub: &str) -> Outcome {
        let uri = format!("/api/v1/pool/{POOL}/check?sub={sub}");
        match self.send(Method::GET, &uri, None).await {
            (status, _) if status.is_server_error() => Outcome::Other(status.as_u16()),
            (_, body) => Outcome::Ok(body),
        }
    }

    /// `Reserve`: 201 or `ErrConflict` on 409.
    async fn reserve(&self, sub: &str) -> Outcome {
        let uri = format!("/api/v1/pool/{POOL}/reserve");
        let body = json!({"subdomain": sub, "createdBy": "catalyst-api"});
        match self.send(Method::POST, &uri, Some(body)).await {
            (StatusCode::CREATED, body) => Outcome::Ok(body),
            (StatusCode::CONFLICT, _) => Outcome::Conflict,
            (status, _) => Outcome::Other(status.as_u16()),
        }
    }

    /// `Commit`: every key always sent, `sovereignFQDN` possibly empty, and
    /// `consoleLoadBalancerIP` only with an isolated console gateway.
    async fn commit(&self, sub: &str, token: &str, console: Option<&str>) -> Outcome {
        let uri = format!("/api/v1/pool/{POOL}/commit");
        let mut body = json!({
            "subdomain": sub,
            "reservationToken": token,
            "sovereignFQDN": "",
            "loadBalancerIP": LB_IP,
        });
        if let Some(console) = console {
            body["consoleLoadBalancerIP"] = json!(console);
        }
        match self.send(Method::POST, &uri, Some(body)).await {
            (StatusCode::OK | StatusCode::ACCEPTED, body) => Outcome::Ok(body),
            (StatusCode::NOT_FOUND, _) => Outcome::NotFound,
            (StatusCode::GONE, _) => Outcome::Expired,
            (StatusCode::FORBIDDEN, _) => Outcome::TokenMismatch,
            (StatusCode::CONFLICT, _) => Outcome::Conflict,
            (status, _) => Outcome::Other(status.as_u16()),
        }
    }

    /// `Release` (and each try of `ReleaseWithRetry`): DELETE with the subdomain in the body.
    async fn release(&self, pool: &str, sub: &str) -> Outcome {
        let uri = format!("/api/v1/pool/{pool}/release");
        let body = json!({"subdomain": sub});
        match self.send(Method::DELETE, &uri, Some(body)).await {
            (StatusCode::OK | StatusCode::ACCEPTED, body) => Outcome::Ok(body),
            (StatusCode::NOT_FOUND, _) => Outcome::NotFound,
            (StatusCode::UNPROCESSABLE_ENTITY, _) => Outcome::NotManaged,
            (status, _) => Outcome::Other(status.as_u16()),
        }
    }
}

/// The provisioning of two sovereigns and their decommissioning, as catalyst-api runs them,
/// with every sentinel the client maps on the way.
async fn provision_and_decommission(client: &CatalystClient<'_>) {
    // The wizard's check, then the reservation before `tofu apply`.
    let Outcome::Ok(check) = client.check("acme").await else {
        panic!("check answers");
    };
    assert_eq!(check["available"], true, "{check}");
    let Outcome::Ok(reserved) = client.reserve("acme").await else {
        panic!("reserve answers 201");
    };
    let token = reserved["reservationToken"].as_str().unwrap().to_owned();
    assert_eq!(client.reserve("acme").await, Outcome::Conflict);

    // Commits it can recover from by reserving again.
    let wrong = "00000000-0000-4000-8000-000000000000";
    assert_eq!(
        client.commit("acme", wrong, None).await,
        Outcome::TokenMismatch
    );
    assert_eq!(
        client.commit("nobody", wrong, None).await,
        Outcome::NotFound
    );

    // The commit with an isolated console gateway, retried as CommitWithRetry may.
    let Outcome::Ok(committed) = client.commit("acme", &token, Some(CONSOLE_IP)).await else {
        panic!("commit answers 200 or 202");
    };
    assert_eq!(committed["loadBalancerIP"], LB_IP);
    assert_eq!(committed["consoleLoadBalancerIP"], CONSOLE_IP);
    assert_eq!(committed["sovereignFQDN"], "acme.omani.works");
    assert!(matches!(
        client.commit("acme", &token, Some(CONSOLE_IP)).await,
        Outcome::Ok(_)
    ));
    // The same token with another console address is another sovereign's commit.
    assert_eq!(
        client.commit("acme", &token, Some("94.130.0.21")).await,
        Outcome::Conflict
    );

    // A reservation that ran out before its commit.
    let Outcome::Ok(late) = client.reserve("late").await else {
        panic!("reserve answers 201");
    };
    client.app.lapse("late").await;
    let late_token = late["reservationToken"].as_str().unwrap();
    assert_eq!(
        client.commit("late", late_token, None).await,
        Outcome::Expired
    );

    // `tofu destroy`: ReleaseWithRetry until freed; then nothing is left to release.
    assert!(matches!(client.release(POOL, "acme").await, Outcome::Ok(_)));
    assert_eq!(client.release(POOL, "acme").await, Outcome::NotFound);
    assert_eq!(
        client.release("example.com", "acme").await,
        Outcome::NotManaged
    );
}

contract_test!(
    catalyst_api_with_basic_credentials_provisions_and_decommissions,
    ["PDM_API_TOKENS" = "catalyst=pdm-basic-pass,ops=other-token"],
    |app| {
        let client = CatalystClient {
            app: &app,
            basic_auth: Some(("catalyst", "pdm-basic-pass")),
        };
        provision_and_decommission(&client).await;

        // The audit trail names the entry, as with a bearer token.
        let history = app
            .send(raw_request(
                Method::GET,
                &format!("/api/v1/pool/{POOL}/history?sub=late"),
                "",
                &[(header::AUTHORIZATION, "Bearer pdm-basic-pass")],
            ))
            .await;
        let events = history.body.to_string();
        assert!(events.contains(r#""actor":"catalyst""#), "{events}");

        // Without credentials, or with another entry's user, the client gets no sentinel: it
        // reports `pdm … status 401` and retries, never touching the table.
        for basic_auth in [None, Some(("ops", "pdm-basic-pass"))] {
            let refused = CatalystClient {
                app: &app,
                basic_auth,
            };
            assert_eq!(refused.reserve("intruder").await, Outcome::Other(401));
            assert_eq!(refused.release(POOL, "late").await, Outcome::Other(401));
        }
        assert_eq!(app.check("intruder").await.body["available"], true);
    }
);

contract_test!(catalyst_api_without_credentials_on_an_open_pdm, |app| {
    let client = CatalystClient {
        app: &app,
        basic_auth: None,
    };
    provision_and_decommission(&client).await;
});

contract_test!(catalyst_api_credentials_are_ignored_by_an_open_pdm, |app| {
    let client = CatalystClient {
        app: &app,
        basic_auth: Some(("catalyst", "whatever")),
    };
    provision_and_decommission(&client).await;
});
