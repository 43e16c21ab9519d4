use http::StatusCode;
use pdm_tests::POOL;

contract_test!(
    check_answers_200_with_the_right_reason_for_every_case,
    [],
    |app| {
        // Arrange
        app.reserve_token("held").await;
        app.allocate("taken").await;
        app.reserve_token("lapsed").await;
        app.lapse("lapsed").await;
        let too_long = "a".repeat(64);
        let cases: &[(&str, &str, Option<&str>, &str)] = &[
            (POOL, "fresh", None, "fresh.omani.works"),
            (POOL, "FRESH", None, "fresh.omani.works"),
            (POOL, "lapsed", None, "lapsed.omani.works"),
            (POOL, "held", Some("reserved-state"), "held.omani.works"),
            (POOL, "taken", Some("active-state"), "taken.omani.works"),
            (POOL, "console", Some("reserved"), "console.omani.works"),
            (
                POOL,
                "xn--abc",
                Some("invalid-format"),
                "xn--abc.omani.works",
            ),
            (POOL, "-abc", Some("invalid-format"), "-abc.omani.works"),
            (POOL, &too_long, Some("invalid-format"), ""),
            (POOL, "", Some("invalid-format"), ".omani.works"),
            (
                "example.com",
                "fresh",
                Some("unsupported-pool"),
                "fresh.example.com",
            ),
        ];

        for (pool, sub, reason, fqdn) in cases {
            // Act
            let reply = app
                .get(&format!("/api/v1/pool/{pool}/check?sub={sub}"))
                .await;

            // Assert
            let case = format!("{pool}/{sub}");
            assert_eq!(reply.status, StatusCode::OK, "{case}");
            assert_eq!(
                reply.body["available"],
                reason.is_none(),
                "{case}: {:?}",
                reply.body
            );
            assert_eq!(reply.body["reason"].as_str(), *reason, "{case}");
            assert_eq!(reply.body["detail"].is_string(), reason.is_some(), "{case}");
            if !fqdn.is_empty() {
                assert_eq!(reply.body["fqdn"], *fqdn, "{case}");
            }
        }
    }
);

contract_test!(check_without_sub_is_still_200_invalid_format, [], |app| {
    let reply = app.get(&format!("/api/v1/pool/{POOL}/check")).await;

    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body["available"], false);
    assert_eq!(reply.body["reason"], "invalid-format");
});

contract_test!(check_decodes_the_query_and_never_writes, [], |app| {
    let reply = app
        .get(&format!("/api/v1/pool/{POOL}/check?other=1&sub=a%63me"))
        .await;

    assert_eq!(reply.body["fqdn"], "acme.omani.works");
    assert_eq!(reply.body["available"], true);
    assert_eq!(app.row_count().await, 0);
});
