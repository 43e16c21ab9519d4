//! The audit trail: every transition, written with the change itself, readable per name.

use http::{Method, StatusCode, header};
use pdm_tests::{LB_IP, POOL, TestApp, raw_request};
use serde_json::{Value, json};
use sqlx::PgPool;

fn events(history: &Value) -> Vec<(String, String)> {
    history["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let event = e["event"].as_str().unwrap().to_owned();
            let actor = e["actor"].as_str().unwrap().to_owned();
            (event, actor)
        })
        .collect()
}

fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected
        .iter()
        .map(|(e, a)| (e.to_string(), a.to_string()))
        .collect()
}

#[sqlx::test(migrator = "pdm_core::MIGRATOR")]
async fn every_transition_is_recorded_with_its_actor(db: PgPool) {
    // Arrange + Act: a whole life, with a failed DNS write, a takeover and an expiry.
    let app = TestApp::new(db);
    app.reserve_token("gone").await;
    app.lapse("gone").await;
    app.pdm().maintain().await.unwrap();
    let first = app.reserve_token("acme").await;
    app.lapse("acme").await;
    let token = app.reserve_token("acme").await;
    app.dns().set_failing(true);
    assert_eq!(
        app.commit("acme", &token, LB_IP).await.status,
        StatusCode::ACCEPTED
    );
    app.dns().set_failing(false);
    app.make_pending_due().await;
    app.pdm().maintain().await.unwrap();
    assert_eq!(app.release("acme").await.status, StatusCode::OK);
    assert_ne!(first, token);

    // Assert
    let acme = app
        .get(&format!("/api/v1/pool/{POOL}/history?sub=acme"))
        .await;
    let gone = app
        .get(&format!("/api/v1/pool/{POOL}/history?sub=gone"))
        .await;
    assert_eq!(acme.status, StatusCode::OK);
    assert_eq!(
        events(&acme.body),
        pairs(&[
            ("reserved", "tests"),
            ("taken-over", "tests"),
            ("committed", "anonymous"),
            ("dns-failed", "anonymous"),
            ("dns-synced", "reconciler"),
            ("release-requested", "anonymous"),
            ("released", "anonymous"),
        ])
    );
    assert_eq!(
        events(&gone.body),
        pairs(&[("reserved", "tests"), ("expired", "sweeper")])
    );
    let committed = &acme.body["events"][2];
    assert_eq!(committed["detail"], LB_IP);
    assert!(committed["requestId"].is_string());
    assert!(
        acme.body["events"][3]["detail"]
            .as_str()
            .unwrap()
            .starts_with("dns-unavailable:"),
        "a classified error of PDM's own, not the provider's text"
    );
}

contract_test!(
    history_names_the_token_and_the_request,
    ["PDM_API_TOKENS" = "catalyst=hist-token"],
    |app| {
        // Arrange
        let authorized = [
            (header::CONTENT_TYPE, "application/json"),
            (header::AUTHORIZATION, "Bearer hist-token"),
            (pdm_core::http::REQUEST_ID, "req-42"),
        ];
        let body = json!({"subdomain": "acme", "createdBy": "catalyst-api/user@x"}).to_string();
        let reserve = format!("/api/v1/pool/{POOL}/reserve");
        let history = format!("/api/v1/pool/{POOL}/history?sub=acme");

        // Act
        let reserved = app
            .send(raw_request(Method::POST, &reserve, &body, &authorized))
            .await;
        let open = app.get(&history).await;
        let read = app
            .send(raw_request(Method::GET, &history, "", &authorized))
            .await;
        let bad_name = app
            .send(raw_request(
                Method::GET,
                &format!("/api/v1/pool/{POOL}/history?sub=-x"),
                "",
                &authorized,
            ))
            .await;

        // Assert
        assert_eq!(reserved.status, StatusCode::CREATED);
        assert_eq!(
            open.status,
            StatusCode::UNAUTHORIZED,
            "history reveals who did what"
        );
        assert_eq!(read.status, StatusCode::OK);
        assert_eq!(read.body["subdomain"], "acme");
        let event = &read.body["events"][0];
        assert_eq!(event["event"], "reserved");
        assert_eq!(event["actor"], "catalyst");
        assert_eq!(event["requestId"], "req-42");
        assert_eq!(bad_name.error(), "invalid-format");
    }
);
