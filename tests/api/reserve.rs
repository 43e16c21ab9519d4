use http::{Method, StatusCode, header};
use pdm_tests::{LB_IP, POOL, raw_request};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

fn timestamp(value: &Value) -> OffsetDateTime {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("not a timestamp: {value}"));
    assert!(text.ends_with('Z'), "not UTC: {text}");
    OffsetDateTime::parse(text, &Rfc3339).unwrap()
}

contract_test!(
    reserve_returns_201_with_a_token_and_the_ttl_deadline,
    ["PDM_RESERVATION_TTL" = "90s"],
    |app| {
        // Arrange

        // Act
        let reply = app.reserve("Acme").await;

        // Assert
        assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
        let body = &reply.body;
        assert_eq!(body["poolDomain"], POOL);
        assert_eq!(body["subdomain"], "acme");
        assert_eq!(body["state"], "reserved");
        assert_eq!(body["createdBy"], "tests");
        let token = body["reservationToken"].as_str().unwrap();
        assert_eq!(uuid::Uuid::parse_str(token).unwrap().get_version_num(), 4);
        let ttl = timestamp(&body["expiresAt"]) - timestamp(&body["reservedAt"]);
        assert_eq!(ttl, time::Duration::seconds(90));
        assert!(body.get("sovereignFQDN").is_none() && body.get("loadBalancerIP").is_none());
    }
);

contract_test!(
    reserve_returns_409_when_the_name_is_held_or_active,
    [],
    |app| {
        app.reserve_token("held").await;
        app.allocate("taken").await;

        for sub in ["held", "HELD", "taken"] {
            let reply = app.reserve(sub).await;

            assert_eq!(reply.status, StatusCode::CONFLICT, "{sub}");
            assert_eq!(reply.error(), "conflict", "{sub}");
        }
    }
);

contract_test!(
    reserve_takes_over_a_lapsed_reservation_with_a_new_token,
    [],
    |app| {
        // Arrange
        let first = app.reserve_token("acme").await;
        app.lapse("acme").await;

        // Act
        let second = app.reserve_token("acme").await;

        // Assert: the old holder has lost it, the new one can commit.
        assert_ne!(first, second);
        let stale = app.commit("acme", &first, LB_IP).await;
        assert_eq!(stale.status, StatusCode::FORBIDDEN);
        assert_eq!(stale.error(), "token-mismatch");
        let fresh = app.commit("acme", &second, LB_IP).await;
        assert_eq!(fresh.status, StatusCode::OK);
        assert_eq!(app.row_count().await, 1);
    }
);

contract_test!(
    reserve_refuses_bad_names_with_422_and_writes_nothing,
    [],
    |app| {
        let cases = [
            (POOL, "api", "reserved"),
            (POOL, "www", "reserved"),
            (POOL, "1abc", "invalid-format"),
            (POOL, "xn--p1ai", "invalid-format"),
            (POOL, "bücher", "invalid-format"),
            ("example.com", "acme", "unsupported-pool"),
        ];

        for (pool, sub, code) in cases {
            let reply = app
                .call(
                    Method::POST,
                    &format!("/api/v1/pool/{pool}/reserve"),
                    Some(json!({"subdomain": sub})),
                )
                .await;

            assert_eq!(
                reply.status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{pool}/{sub}"
            );
            assert_eq!(reply.error(), code, "{pool}/{sub}");
            assert!(reply.body["detail"].is_string(), "{pool}/{sub}");
        }
        assert_eq!(app.row_count().await, 0);
    }
);

contract_test!(
    reserve_answers_malformed_requests_with_400_bad_request,
    [],
    |app| {
        let uri = format!("/api/v1/pool/{POOL}/reserve");
        let json = [(header::CONTENT_TYPE, "application/json")];
        let cases: [(&str, &[_], &str); 6] = [
            ("{not json", &json, "malformed JSON"),
            ("", &json, "empty body"),
            (r#"{"createdBy":"x"}"#, &json, "missing subdomain"),
            (r#"{"subdomain":7}"#, &json, "subdomain not a string"),
            (r#"["acme"]"#, &[], "not an object"),
            (
                r#"{"subdomain":"acme"}"#,
                &[(header::CONTENT_TYPE, "text/plain")],
                "wrong content type",
            ),
        ];

        for (body, headers, why) in cases {
            let reply = app
                .send(raw_request(Method::POST, &uri, body, headers))
                .await;

            assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{why}");
            assert_eq!(reply.error(), "bad-request", "{why}");
        }
        assert_eq!(app.row_count().await, 0);
    }
);

contract_test!(
    reserve_accepts_a_body_without_content_type_or_with_a_charset,
    [],
    |app| {
        let uri = format!("/api/v1/pool/{POOL}/reserve");
        let charset = [(header::CONTENT_TYPE, "application/json; charset=utf-8")];

        for (sub, headers) in [("plain", &[][..]), ("charset", &charset[..])] {
            let body = json!({"subdomain": sub}).to_string();

            let reply = app
                .send(raw_request(Method::POST, &uri, &body, headers))
                .await;

            assert_eq!(reply.status, StatusCode::CREATED, "{sub}: {:?}", reply.body);
            assert_eq!(reply.body["createdBy"], "", "{sub}");
        }
    }
);

contract_test!(reserve_refuses_oversized_bodies_and_fields, [], |app| {
    let uri = format!("/api/v1/pool/{POOL}/reserve");

    let huge = app
        .call(
            Method::POST,
            &uri,
            Some(json!({"subdomain": "acme", "createdBy": "x".repeat(20_000)})),
        )
        .await;
    let long_creator = app
        .call(
            Method::POST,
            &uri,
            Some(json!({"subdomain": "acme", "createdBy": "x".repeat(257)})),
        )
        .await;

    assert_eq!(huge.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(huge.error(), "payload-too-large");
    assert_eq!(long_creator.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(long_creator.error(), "invalid-format");
    assert_eq!(app.row_count().await, 0);
});
