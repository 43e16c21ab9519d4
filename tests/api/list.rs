use http::StatusCode;
use pdm_tests::POOL;
use serde_json::Value;

fn subdomains(body: &Value) -> Vec<&str> {
    body["allocations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["subdomain"].as_str().unwrap())
        .collect()
}

contract_test!(
    list_returns_live_allocations_by_subdomain_without_tokens,
    [],
    |app| {
        // Arrange
        app.allocate("zeta").await;
        app.reserve_token("alpha").await;
        app.reserve_token("a-b").await;
        app.reserve_token("gone").await;
        app.lapse("gone").await;

        // Act
        let reply = app.get(&format!("/api/v1/pool/{POOL}/list")).await;

        // Assert
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.body["poolDomain"], POOL);
        assert_eq!(subdomains(&reply.body), ["a-b", "alpha", "zeta"]);
        assert!(reply.body.get("next").is_none());
        for allocation in reply.body["allocations"].as_array().unwrap() {
            assert!(allocation.get("reservationToken").is_none(), "{allocation}");
        }
        let zeta = &reply.body["allocations"][2];
        assert_eq!(zeta["state"], "active");
        assert_eq!(zeta["loadBalancerIP"], pdm_tests::LB_IP);
        assert!(zeta.get("expiresAt").is_none());
        let alpha = &reply.body["allocations"][1];
        assert_eq!(alpha["state"], "reserved");
        assert!(alpha["expiresAt"].is_string());
        assert!(alpha.get("loadBalancerIP").is_none());
    }
);

contract_test!(
    list_pages_with_limit_after_and_next_until_the_end,
    [],
    |app| {
        // Arrange
        let names = ["a1", "b2", "c3", "d4", "e5"];
        for name in names {
            app.reserve_token(name).await;
        }

        // Act: follow `next` from the first page to the last.
        let mut seen = Vec::new();
        let mut pages = 0;
        let mut uri = format!("/api/v1/pool/{POOL}/list?limit=2");
        loop {
            let reply = app.get(&uri).await;
            assert_eq!(reply.status, StatusCode::OK, "{uri}");
            pages += 1;
            seen.extend(subdomains(&reply.body).into_iter().map(str::to_owned));
            match reply.body["next"].as_str() {
                Some(next) => uri = format!("/api/v1/pool/{POOL}/list?limit=2&after={next}"),
                None => break,
            }
        }

        // Assert
        assert_eq!(seen, names);
        assert_eq!(pages, 3);
    }
);

contract_test!(list_of_an_exactly_full_page_has_no_next, [], |app| {
    app.reserve_token("a1").await;
    app.reserve_token("b2").await;

    let reply = app.get(&format!("/api/v1/pool/{POOL}/list?limit=2")).await;

    assert_eq!(subdomains(&reply.body), ["a1", "b2"]);
    assert!(reply.body.get("next").is_none());
});

contract_test!(list_refuses_bad_parameters_and_pools, [], |app| {
    let cases = [
        (
            format!("/api/v1/pool/{POOL}/list?limit=0"),
            400,
            "bad-request",
        ),
        (
            format!("/api/v1/pool/{POOL}/list?limit=1001"),
            400,
            "bad-request",
        ),
        (
            format!("/api/v1/pool/{POOL}/list?limit=ten"),
            400,
            "bad-request",
        ),
        (
            "/api/v1/pool/example.com/list".to_owned(),
            422,
            "unsupported-pool",
        ),
    ];

    for (uri, status, code) in cases {
        let reply = app.get(&uri).await;

        assert_eq!(reply.status.as_u16(), status, "{uri}");
        assert_eq!(reply.error(), code, "{uri}");
    }
});

contract_test!(list_shows_only_its_own_pool, [], |app| {
    app.reserve_token("acme").await;

    let reply = app.get("/api/v1/pool/OPENOVA.IO/list").await;

    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body["poolDomain"], "openova.io");
    assert!(subdomains(&reply.body).is_empty());
});
