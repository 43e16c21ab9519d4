use std::collections::BTreeSet;

use http::{Method, StatusCode, header};
use pdm_core::http::{Endpoint, Guard, ROUTES};
use pdm_tests::{POOL, TestApp, config, raw_request};
use serde_json::json;
use sqlx::PgPool;

contract_test!(
    unknown_routes_are_404_and_wrong_methods_405_in_the_error_shape,
    [],
    |app| {
        let cases = [
            (Method::GET, "/".to_owned(), 404, "not-found", None),
            (
                Method::GET,
                "/api/v1/pool".to_owned(),
                404,
                "not-found",
                None,
            ),
            (
                Method::GET,
                format!("/api/v1/pool/{POOL}/frobnicate"),
                404,
                "not-found",
                None,
            ),
            (
                Method::GET,
                "/api/v1/pool//check".to_owned(),
                404,
                "not-found",
                None,
            ),
            (
                Method::POST,
                "/healthz".to_owned(),
                405,
                "method-not-allowed",
                Some("GET"),
            ),
            (
                Method::GET,
                format!("/api/v1/pool/{POOL}/reserve"),
                405,
                "method-not-allowed",
                Some("POST"),
            ),
            (
                Method::POST,
                format!("/api/v1/pool/{POOL}/release"),
                405,
                "method-not-allowed",
                Some("DELETE"),
            ),
        ];

        for (method, uri, status, code, allow) in cases {
            let reply = app.call(method.clone(), &uri, None).await;

            assert_eq!(reply.status.as_u16(), status, "{method} {uri}");
            assert_eq!(reply.error(), code, "{method} {uri}");
            assert!(reply.body["detail"].is_string(), "{method} {uri}");
            assert_eq!(
                reply
                    .headers
                    .get(header::ALLOW)
                    .map(|v| v.to_str().unwrap()),
                allow,
                "{method} {uri}"
            );
        }
    }
);

contract_test!(a_trailing_slash_reaches_the_same_route, [], |app| {
    let reply = app
        .get(&format!("/api/v1/pool/{POOL}/check/?sub=acme"))
        .await;

    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body["available"], true);
});

#[sqlx::test(migrator = "pdm_core::MIGRATOR")]
async fn a_single_route_endpoint_serves_only_its_route(db: PgPool) {
    // Arrange: what a per-endpoint function serves.
    let app = TestApp::new(db.clone());
    let ctx = pdm_core::Ctx::with_pool(&config(&[]), &db, app.memory_dns.clone().unwrap());
    let check_only = app.with_endpoint(Endpoint::function(ctx, "pdm-check"));

    // Act
    let check = check_only.check("acme").await;
    let reserve = check_only.reserve("acme").await;

    // Assert
    assert_eq!(check.status, StatusCode::OK);
    assert_eq!(reserve.status, StatusCode::NOT_FOUND);
    assert_eq!(reserve.error(), "not-found");
}

contract_test!(
    bearer_tokens_guard_every_mutating_or_revealing_route,
    ["PDM_API_TOKENS" = "catalyst=right-token"],
    |app| {
        // Arrange
        let reserve = |sub: &str, authorization: &str| {
            let mut headers = vec![(header::CONTENT_TYPE, "application/json")];
            if !authorization.is_empty() {
                headers.push((header::AUTHORIZATION, authorization));
            }
            let body = json!({"subdomain": sub}).to_string();
            raw_request(
                Method::POST,
                &format!("/api/v1/pool/{POOL}/reserve"),
                &body,
                &headers,
            )
        };

        // Act
        let missing = app.send(reserve("a1", "")).await;
        let not_bearer = app.send(reserve("a2", "Basic cmlnaHQtdG9rZW4=")).await;
        let wrong = app.send(reserve("a3", "Bearer wrong-token")).await;
        let right = app.send(reserve("a4", "Bearer right-token")).await;
        // RFC 7617, as catalyst-api sends it: base64("catalyst:right-token"), any case.
        let basic = app
            .send(reserve("a5", "basic Y2F0YWx5c3Q6cmlnaHQtdG9rZW4="))
            .await;
        let basic_wrong_user = app.send(reserve("a6", "Basic b3BzOnJpZ2h0LXRva2Vu")).await;
        let list = app.get(&format!("/api/v1/pool/{POOL}/list")).await;
        let release = app.release("a4").await;
        let release_status = release.status;

        // Assert
        assert_eq!(missing.status, StatusCode::UNAUTHORIZED);
        assert_eq!(missing.error(), "unauthorized");
        assert_eq!(
            missing.headers[header::WWW_AUTHENTICATE],
            r#"Bearer realm="pdm", Basic realm="pdm""#
        );
        assert_eq!(not_bearer.status, StatusCode::UNAUTHORIZED);
        assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
        assert_eq!(wrong.error(), "unauthorized");
        assert_eq!(
            wrong.headers[header::WWW_AUTHENTICATE],
            r#"Bearer realm="pdm", error="invalid_token", Basic realm="pdm""#
        );
        for reply in [&missing, &wrong] {
            let body = reply.body.to_string();
            assert!(
                !body.contains("right-token") && !body.contains("wrong-token"),
                "{body}"
            );
        }
        assert_eq!(right.status, StatusCode::CREATED);
        assert_eq!(basic.status, StatusCode::CREATED, "{}", basic.body);
        assert_eq!(basic_wrong_user.status, StatusCode::UNAUTHORIZED);
        assert_eq!(list.status, StatusCode::UNAUTHORIZED);
        assert_eq!(release_status, StatusCode::UNAUTHORIZED);
        assert_eq!(app.row_count().await, 2);

        // Every guarded route, each without a token, with a wrong one and with the right one:
        // the right token gets past the guard to the route's own answer.
        for route in &ROUTES {
            let uri = route.path.replace("{domain}", POOL) + "?sub=a4";
            let body =
                json!({"subdomain": "a4", "reservationToken": "x", "loadBalancerIP": "not-an-ip"});
            let send = |authorization: &'static str| {
                let mut headers = vec![(header::CONTENT_TYPE, "application/json")];
                if !authorization.is_empty() {
                    headers.push((header::AUTHORIZATION, authorization));
                }
                app.send(raw_request(
                    route.method.clone(),
                    &uri,
                    &body.to_string(),
                    &headers,
                ))
            };
            let (none, wrong, right) = (
                send("").await,
                send("Bearer nope").await,
                send("Bearer right-token").await,
            );
            let guarded = [
                "reserve",
                "commit",
                "release",
                "release-fqdn",
                "force-release",
                "freeze",
                "unfreeze",
                "token-create",
                "token-list",
                "token-revoke",
                "list",
                "allocation",
                "history",
                "registrar-validate",
                "registrar-set-ns",
                "registrar-set-dns",
            ];
            assert_eq!(guarded.contains(&route.name), route.guard != Guard::Open);
            if route.guard != Guard::Open {
                assert_eq!(none.status, StatusCode::UNAUTHORIZED, "{route:?}");
                assert_eq!(wrong.status, StatusCode::UNAUTHORIZED, "{route:?}");
                let passed = right.error() != "unauthorized";
                assert!(passed, "{route:?}: {:?}", right.body);
            } else {
                assert_eq!(none.status, wrong.status, "{route:?} is open");
            }
        }
        for open in [
            "/healthz",
            "/api/v1/reserved",
            "/api/v1/pool/omani.works/check?sub=a1",
            "/openapi.json",
        ] {
            assert_eq!(app.get(open).await.status, StatusCode::OK, "{open}");
        }
    }
);

contract_test!(a_request_id_is_honoured_or_generated_and_returned, |app| {
    // Act
    let given = app
        .send(raw_request(
            Method::GET,
            "/api/v1/reserved",
            "",
            &[(pdm_core::http::REQUEST_ID, "catalyst-7f3a.1")],
        ))
        .await;
    let generated = app.get("/api/v1/reserved").await;
    let refused = app
        .send(raw_request(
            Method::GET,
            "/nowhere",
            "",
            &[(pdm_core::http::REQUEST_ID, "bad id with spaces")],
        ))
        .await;

    // Assert
    assert_eq!(given.headers["x-request-id"], "catalyst-7f3a.1");
    let fresh = generated.headers["x-request-id"].to_str().unwrap();
    assert!(uuid::Uuid::parse_str(fresh).is_ok(), "{fresh}");
    let replaced = refused.headers["x-request-id"].to_str().unwrap();
    assert!(
        uuid::Uuid::parse_str(replaced).is_ok(),
        "unsafe ids are replaced: {replaced}"
    );
});

contract_test!(probes_say_alive_and_ready_on_a_migrated_database, |app| {
    let live = app.get("/livez").await;
    let ready = app.get("/readyz").await;

    assert_eq!(live.status, StatusCode::OK);
    assert_eq!(live.body, json!({"status": "ok"}));
    assert_eq!(ready.status, StatusCode::OK);
    assert_eq!(ready.body, json!({"status": "ok"}));
});

#[sqlx::test(migrations = false)]
async fn readyz_is_503_until_the_migrations_are_applied(db: sqlx::PgPool) {
    let app = TestApp::new(db.clone());

    let before = app.get("/readyz").await;
    pdm_core::MIGRATOR.run(&db).await.unwrap();
    let after = app.get("/readyz").await;

    assert_eq!(before.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(before.body["status"], "unavailable");
    assert!(before.body["detail"].is_string());
    assert_eq!(app.get("/livez").await.status, StatusCode::OK);
    assert_eq!(after.status, StatusCode::OK);
}

/// The template's resources: logical name → its lines.
fn sam_resources() -> Vec<(String, Vec<String>)> {
    let template = include_str!("../../template.yaml");
    let mut resources: Vec<(String, Vec<String>)> = Vec::new();
    let mut in_resources = false;
    for line in template.lines() {
        if !line.starts_with(' ') && !line.trim().is_empty() {
            in_resources = line.trim_end() == "Resources:";
            continue;
        }
        let name = line
            .strip_prefix("  ")
            .filter(|rest| !rest.starts_with(' '));
        match name {
            Some(name) if in_resources && name.ends_with(':') => {
                resources.push((name.trim_end_matches(':').to_owned(), Vec::new()));
            }
            _ => {
                if let Some((_, lines)) = resources.last_mut() {
                    lines.push(line.trim().to_owned());
                }
            }
        }
    }
    resources
}

/// `(function binary, "METHOD path")` of every API Gateway route in template.yaml.
fn sam_routes() -> BTreeSet<(String, String)> {
    let resources = sam_resources();
    let value = |lines: &[String], key: &str| {
        lines
            .iter()
            .find_map(|line| line.strip_prefix(key).map(|v| v.trim().to_owned()))
    };
    let by_name = |name: &str| {
        resources
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, lines)| lines.clone())
    };
    resources
        .iter()
        .filter_map(|(_, lines)| {
            let route_key = value(lines, "RouteKey:")?;
            let target = value(lines, "Target:")?;
            let integration = target.split("${").nth(1)?.split('}').next()?.to_owned();
            let uri = value(&by_name(&integration)?, "IntegrationUri:")?;
            let function = uri
                .split_whitespace()
                .nth(1)?
                .trim_end_matches(".Arn")
                .to_owned();
            let binary = value(&by_name(&function)?, "Binary:")?;
            Some((binary, route_key))
        })
        .collect()
}

#[test]
fn template_yaml_deploys_each_function_with_the_route_tables_routes() {
    let table: BTreeSet<(String, String)> = ROUTES
        .iter()
        .filter_map(|route| {
            let function = route.function?;
            Some((
                function.to_owned(),
                format!("{} {}", route.method, route.path),
            ))
        })
        .collect();

    let (unmatched, deployed): (Vec<_>, Vec<_>) = sam_routes()
        .into_iter()
        .partition(|(_, key)| key == "$default");
    let deployed: BTreeSet<(String, String)> = deployed.into_iter().collect();

    assert_eq!(deployed, table);
    // What no route matches reaches the function that answers the contract's 404 and 405.
    assert_eq!(
        unmatched,
        [("pdm-health".to_owned(), "$default".to_owned())]
    );
    let knative = include_str!("../../deploy/knative/functions.yaml");
    for function in pdm_core::http::routes::functions() {
        assert!(
            knative.contains(&format!("name: {function}\n")),
            "{function} has a Knative Service"
        );
    }
}

#[test]
fn template_yaml_is_secure_by_default() {
    let template = include_str!("../../template.yaml");
    let resources = sam_resources();
    let lines_of = |name: &str| {
        resources
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, lines)| lines.join("\n"))
            .unwrap_or_else(|| panic!("{name} is in the template"))
    };

    // SigV4 unless the deployer opens it.
    let api_auth = template.split("  ApiAuth:\n").nth(1).expect("ApiAuth");
    assert!(api_auth.contains("Default: AWS_IAM"), "{api_auth}");
    // No secret is a variable: they come from Secrets Manager at cold start.
    let globals = template
        .split("Globals:")
        .nth(1)
        .and_then(|rest| rest.split("Resources:").next())
        .expect("Globals");
    for secret in pdm_runtime::secrets::SECRET_KEYS {
        assert!(!globals.contains(secret), "{secret} is a plain variable");
    }
    assert!(globals.contains("PDM_SECRET_ID:"));
    // Every function runs as the one role, which may read the one secret and nothing more.
    for (name, lines) in &resources {
        if lines.iter().any(|l| l == "Type: AWS::Serverless::Function") {
            assert!(
                lines
                    .iter()
                    .any(|l| l == "Role: !GetAtt PdmFunctionRole.Arn"),
                "{name} runs as PdmFunctionRole"
            );
        }
    }
    let role = lines_of("PdmFunctionRole");
    let actions: Vec<&str> = role
        .lines()
        .filter_map(|line| line.strip_prefix("Action: "))
        .collect();
    assert_eq!(actions, ["sts:AssumeRole", "secretsmanager:GetSecretValue"]);
    assert!(role.contains("Resource: !If [CreateSecret, !Ref PdmSecret, !Ref SecretArn]"));
}
