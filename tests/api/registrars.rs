//! Bring-your-own domains through each registrar adapter, against a fake of that registrar
//! written from its documentation: validate, set-ns (with read-back), set-dns, every error
//! class, and the customer's token in no answer and no log line.

use http::{Method, StatusCode, header};
use pdm_tests::fake_registrars::{self, FakeRegistrar};
use pdm_tests::{LogCapture, Reply, TestApp, config};
use serde_json::{Value, json};
use sqlx::PgPool;

const GODADDY_KEY: &str = "gdkey-5f1c2a";
const GODADDY_SECRET: &str = "gdsecret-88e0b4";
const CLOUDFLARE_TOKEN: &str = "cf-token-3b9d71e2";
const NAMECHEAP_USER: &str = "customer42";
const NAMECHEAP_KEY: &str = "nckey-0c4f9e7a";
const NAMECHEAP_CLIENT_IP: &str = "198.51.100.7";
const OVH_APPLICATION: &str = "ovhapp-61a2";
const OVH_SECRET: &str = "ovhsecret-9f3e";
const OVH_CONSUMER: &str = "ovhconsumer-4d8b";
const DOMAIN: &str = "customer-owned.com";

struct Registrars {
    godaddy: FakeRegistrar,
    cloudflare: FakeRegistrar,
    namecheap: FakeRegistrar,
    ovh: FakeRegistrar,
    app: TestApp,
}

impl Registrars {
    /// Each registrar with the right token for it, and its fake.
    fn all(&self) -> [(&'static str, String, &FakeRegistrar); 4] {
        [
            ("godaddy", godaddy_token(), &self.godaddy),
            ("cloudflare", CLOUDFLARE_TOKEN.to_owned(), &self.cloudflare),
            (
                "namecheap",
                format!("{NAMECHEAP_USER}:{NAMECHEAP_KEY}"),
                &self.namecheap,
            ),
            (
                "ovh",
                format!("{OVH_APPLICATION}:{OVH_SECRET}:{OVH_CONSUMER}"),
                &self.ovh,
            ),
        ]
    }
}

async fn registrars(db: PgPool) -> Registrars {
    let godaddy = fake_registrars::godaddy(GODADDY_KEY, GODADDY_SECRET).await;
    let cloudflare = fake_registrars::cloudflare(CLOUDFLARE_TOKEN).await;
    let namecheap =
        fake_registrars::namecheap(NAMECHEAP_USER, NAMECHEAP_KEY, NAMECHEAP_CLIENT_IP).await;
    let ovh = fake_registrars::ovh(OVH_APPLICATION, OVH_SECRET, OVH_CONSUMER).await;
    // `someone-else.net` is in no fake's account.
    for fake in [&godaddy, &cloudflare, &namecheap, &ovh] {
        fake.add_domain(DOMAIN, &["ns1.parking.example", "ns2.parking.example"]);
    }
    let namecheap_url = format!("{}/xml.response", namecheap.url);
    let ovh_url = format!("{}/1.0", ovh.url);
    let app = TestApp::with_config(
        db,
        &config(&[
            ("GODADDY_API_URL", godaddy.url.as_str()),
            ("CLOUDFLARE_API_URL", cloudflare.url.as_str()),
            ("NAMECHEAP_API_URL", namecheap_url.as_str()),
            ("NAMECHEAP_CLIENT_IP", NAMECHEAP_CLIENT_IP),
            ("OVH_API_URL", ovh_url.as_str()),
        ]),
    );
    Registrars {
        godaddy,
        cloudflare,
        namecheap,
        ovh,
        app,
    }
}

fn godaddy_token() -> String {
    format!("{GODADDY_KEY}:{GODADDY_SECRET}")
}

async fn post(app: &TestApp, registrar: &str, action: &str, body: Value) -> Reply {
    app.call(
        Method::POST,
        &format!("/api/v1/registrar/{registrar}/{action}"),
        Some(body),
    )
    .await
}

#[sqlx::test(migrator = "pdm_core::MIGRATOR")]
async fn validate_confirms_the_token_and_the_domain_at_each_registrar(db: PgPool) {
    let r = registrars(db).await;
    for (registrar, token) in [
        ("godaddy", godaddy_token()),
        ("cloudflare", CLOUDFLARE_TOKEN.to_owned()),
    ] {
        // Act
        let valid = post(
            &r.app,
            registrar,
            "validate",
            json!({"domain": DOMAIN, "token": token}),
        )
        .await;
        let wrong = post(
            &r.app,
            registrar,
            "validate",
            json!({"domain": DOMAIN, "token": "x:y-wrong"}),
        )
        .await;
        let elsewhere = post(
            &r.app,
            registrar,
            "validate",
            json!({"domain": "someone-else.net", "token": token}),
        )
        .await;
        let missing = post(&r.app, registrar, "validate", json!({"domain": DOMAIN})).await;

        // Assert
        assert_eq!(
            valid.status,
            StatusCode::OK,
            "{registrar}: {:?}",
            valid.body
        );
        assert_eq!(
            valid.body,
            json!({"valid": true, "registrar": registrar, "domain": DOMAIN})
        );
        assert_eq!(wrong.status, StatusCode::UNAUTHORIZED, "{registrar}");
        assert_eq!(wrong.error(), "invalid-token");
        assert_eq!(elsewhere.status, StatusCode::FORBIDDEN, "{registrar}");
        assert_eq!(elsewhere.error(), "domain-not-in-account");
        assert_eq!(
            missing.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{registrar}"
        );
    }
}

#[sqlx::test(migrator = "pdm_core::MIGRATOR")]
async fn rate_limits_outages_and_unknown_registrars_are_classified(db: PgPool) {
    // Arrange
    let r = registrars(db.clone()).await;
    r.godaddy.limit_to(0);
    r.cloudflare.set_down(true);
    let unreachable =
        TestApp::with_config(db, &config(&[("GODADDY_API_URL", "http://127.0.0.1:9")]));
    let body = json!({"domain": DOMAIN, "token": godaddy_token()});

    // Act
    let limited = post(&r.app, "godaddy", "validate", body.clone()).await;
    let down = post(
        &r.app,
        "cloudflare",
        "validate",
        json!({"domain": DOMAIN, "token": CLOUDFLARE_TOKEN}),
    )
    .await;
    let away = post(&unreachable, "godaddy", "validate", body.clone()).await;
    let unknown = post(&r.app, "registrar-of-doom", "validate", body).await;

    // Assert
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(limited.error(), "rate-limited");
    assert_eq!(limited.headers[header::RETRY_AFTER], "30");
    for (registrar, token, fake) in [&r.all()[2], &r.all()[3]] {
        fake.limit_to(0);
        let refused = post(
            &r.app,
            registrar,
            "validate",
            json!({"domain": DOMAIN, "token": token}),
        )
        .await;
        assert_eq!(
            refused.status,
            StatusCode::TOO_MANY_REQUESTS,
            "{registrar}: {:?}",
            refused.body
        );
        assert!(
            refused.headers.contains_key(header::RETRY_AFTER),
            "{registrar}"
        );
    }
    assert_eq!(down.status, StatusCode::BAD_GATEWAY);
    assert_eq!(down.error(), "api-unavailable");
    assert_eq!(away.status, StatusCode::BAD_GATEWAY);
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown.error(), "unsupported-registrar");
    assert_eq!(
        unknown.body["supported"],
        json!(["cloudflare", "dynadot", "godaddy", "namecheap", "ovh"])
    );
}

#[sqlx::test(migrator = "pdm_core::MIGRATOR")]
async fn set_ns_points_the_domain_at_the_fleet_and_reads_it_back(db: PgPool) {
    let r = registrars(db).await;
    let token = godaddy_token();

    // Act
    let set = post(
        &r.app,
        "godaddy",
        "set-ns",
        json!({"domain": DOMAIN, "token": token, "nameservers": [" NS1.OpenOva.io. ", "ns2.openova.io", "ns1.openova.io"]}),
    )
    .await;
    let empty = post(
        &r.app,
        "godaddy",
        "set-ns",
        json!({"domain": DOMAIN, "token": token, "nameservers": []}),
    )
    .await;
    let cloudflare = post(
        &r.app,
        "cloudflare",
        "set-ns",
        json!({"domain": DOMAIN, "token": CLOUDFLARE_TOKEN, "nameservers": ["ns1.openova.io"]}),
    )
    .await;

    // Assert
    assert_eq!(set.status, StatusCode::OK, "{:?}", set.body);
    assert_eq!(set.body["success"], true);
    assert_eq!(
        set.body["nameservers"],
        json!(["ns1.openova.io", "ns2.openova.io"])
    );
    assert!(set.body["propagation"].as_str().unwrap().contains("hours"));
    assert_eq!(
        r.godaddy.domain(DOMAIN).nameservers,
        ["ns1.openova.io", "ns2.openova.io"]
    );
    assert_eq!(empty.status, StatusCode::UNPROCESSABLE_ENTITY);
    for (registrar, token, fake) in [&r.all()[2], &r.all()[3]] {
        let set = post(
            &r.app,
            registrar,
            "set-ns",
            json!({"domain": DOMAIN, "token": token, "nameservers": ["ns1.openova.io", "ns2.openova.io"]}),
        )
        .await;
        assert_eq!(set.status, StatusCode::OK, "{registrar}: {:?}", set.body);
        assert_eq!(
            set.body["nameservers"],
            json!(["ns1.openova.io", "ns2.openova.io"])
        );
        assert_eq!(
            fake.domain(DOMAIN).nameservers,
            ["ns1.openova.io", "ns2.openova.io"]
        );
    }
    assert_eq!(cloudflare.status, StatusCode::NOT_IMPLEMENTED);
    assert_eq!(cloudflare.error(), "set-ns-not-supported");
    assert_eq!(
        r.cloudflare.domain(DOMAIN).nameservers,
        ["ns1.parking.example", "ns2.parking.example"],
        "nothing was changed"
    );
}

#[sqlx::test(migrator = "pdm_core::MIGRATOR")]
async fn set_dns_writes_valid_records_and_refuses_bad_ones_before_any_call(db: PgPool) {
    let r = registrars(db).await;
    let records = json!([
        {"type": "A", "name": "@", "value": "94.130.0.10", "ttl": 600},
        {"type": "CNAME", "name": "www", "value": "acme.omani.works.", "ttl": 600},
        {"type": "MX", "name": "@", "value": "mail.customer-owned.com", "ttl": 3600, "priority": 10},
        {"type": "TXT", "name": "_dmarc", "value": "v=DMARC1; p=none", "ttl": 3600},
    ]);
    for (registrar, token, fake) in r.all() {
        // Act
        let written = post(
            &r.app,
            registrar,
            "set-dns",
            json!({"domain": DOMAIN, "token": token, "records": records}),
        )
        .await;
        let again = post(
            &r.app,
            registrar,
            "set-dns",
            json!({"domain": DOMAIN, "token": token, "records": records}),
        )
        .await;
        let before = fake.requests();
        let bad = post(
            &r.app,
            registrar,
            "set-dns",
            json!({"domain": DOMAIN, "token": token, "records": [{"type": "A", "name": "@", "value": "2001:db8::1"}]}),
        )
        .await;

        // Assert
        assert_eq!(
            written.status,
            StatusCode::OK,
            "{registrar}: {:?}",
            written.body
        );
        assert_eq!(written.body["records"], 4);
        assert_eq!(
            again.status,
            StatusCode::OK,
            "{registrar}: writing again replaces"
        );
        let held = fake.domain(DOMAIN).records;
        assert_eq!(held.len(), 4, "{registrar}: {held:?}");
        assert!(held.iter().any(|(kind, name, value, _, priority)| {
            kind == "MX"
                && name == "@"
                && value == "mail.customer-owned.com"
                && *priority == Some(10)
        }));
        assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{registrar}");
        assert_eq!(
            fake.requests(),
            before,
            "{registrar}: refused before any call"
        );
    }
}

#[sqlx::test(migrator = "pdm_core::MIGRATOR")]
async fn the_customers_token_reaches_no_answer_and_no_log_line(db: PgPool) {
    // Arrange: the fakes echo the credentials they were sent in their error bodies.
    let logs = LogCapture::default();
    let _capture = logs.install();
    let r = registrars(db.clone()).await;
    let wrong_godaddy = "gdkey-wrong-7a7a:gdsecret-wrong-9c9c";
    let wrong_cloudflare = "cf-wrong-token-1d1d";
    let wrong_namecheap = "customer42:nckey-wrong-5e5e";
    let wrong_ovh = "ovhapp-61a2:ovhsecret-wrong-2b2b:ovhconsumer-4d8b";
    let mut answers = Vec::new();

    // Act: every error path of every adapter.
    for (registrar, token) in [
        ("godaddy", wrong_godaddy),
        ("cloudflare", wrong_cloudflare),
        ("godaddy", GODADDY_KEY),
        ("namecheap", wrong_namecheap),
        ("ovh", wrong_ovh),
    ] {
        for action in ["validate", "set-ns", "set-dns"] {
            let body = json!({"domain": DOMAIN, "token": token, "nameservers": ["ns1.openova.io"],
                              "records": [{"type": "A", "name": "@", "value": "94.130.0.10", "ttl": 600}]});
            answers.push(post(&r.app, registrar, action, body).await.body.to_string());
        }
    }
    r.godaddy.limit_to(0);
    r.cloudflare.set_down(true);
    for (registrar, token) in [
        ("godaddy", godaddy_token()),
        ("cloudflare", CLOUDFLARE_TOKEN.to_owned()),
    ] {
        let body = json!({"domain": DOMAIN, "token": token});
        answers.push(
            post(&r.app, registrar, "validate", body)
                .await
                .body
                .to_string(),
        );
    }

    // Assert
    let logged = logs.text();
    assert!(
        logged.contains("registrar refused"),
        "the refusals were logged"
    );
    for secret in [
        wrong_godaddy,
        "gdkey-wrong-7a7a",
        "gdsecret-wrong-9c9c",
        wrong_cloudflare,
        GODADDY_KEY,
        GODADDY_SECRET,
        CLOUDFLARE_TOKEN,
    ] {
        assert!(!logged.contains(secret), "{secret} was logged");
        for answer in &answers {
            assert!(!answer.contains(secret), "{secret} in {answer}");
        }
    }
    let tables: i64 = sqlx::query_scalar(
        "select count(*) from allocation_events where detail like '%gdkey%' or detail like '%cf-%'",
    )
    .fetch_one(&db)
    .await
    .unwrap();
    assert_eq!(tables, 0, "nothing of it is stored");
}

#[sqlx::test(migrator = "pdm_core::MIGRATOR")]
async fn the_cli_points_a_domain_with_the_token_from_the_environment(db: PgPool) {
    // Arrange
    let r = registrars(db.clone()).await;
    let env = vec![
        ("PDM_DATABASE_URL", pdm_tests::served::database_url(&db)),
        ("GODADDY_API_URL", r.godaddy.url.clone()),
        ("PDM_REGISTRAR_TOKEN", godaddy_token()),
        ("PDM_LOG_LEVEL", "warn".to_owned()),
    ];
    let args = [
        "--json",
        "registrar",
        "set-ns",
        "godaddy",
        DOMAIN,
        "NS1.openova.io",
        "ns2.openova.io",
    ];

    // Act
    let output = pdm_tests::served::run_pdm(env, &args).await;

    // Assert
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let answer: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        answer["nameservers"],
        json!(["ns1.openova.io", "ns2.openova.io"])
    );
    assert_eq!(
        r.godaddy.domain(DOMAIN).nameservers,
        ["ns1.openova.io", "ns2.openova.io"]
    );
    assert!(!stdout.contains(GODADDY_SECRET));
}

#[sqlx::test(migrator = "pdm_core::MIGRATOR")]
async fn dynadot_validates_points_and_writes_with_the_customers_own_api3_key(db: PgPool) {
    use pdm_tests::fake_dynadot::{FakeDynadot, FakeRecord, FakeZone};
    // Arrange: the customer's own Dynadot account, its failures quoting the request.
    let logs = LogCapture::default();
    let _capture = logs.install();
    let customer_key = "customer-api3-key-6e0f";
    let fake = FakeDynadot::start(customer_key).await;
    fake.seed(DOMAIN, FakeZone::with_foreign_records());
    fake.set_echo_requests(true);
    let app = TestApp::with_config(db, &config(&[("DYNADOT_API_URL", fake.url.as_str())]));
    let body = |token: &str, extra: Value| {
        let mut body = json!({"domain": DOMAIN, "token": token});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        body
    };

    // Act
    let valid = post(&app, "dynadot", "validate", body(customer_key, json!({}))).await;
    let wrong = post(
        &app,
        "dynadot",
        "validate",
        body("not-the-key-1234", json!({})),
    )
    .await;
    let elsewhere = post(
        &app,
        "dynadot",
        "validate",
        json!({"domain": "someone-else.net", "token": customer_key}),
    )
    .await;
    let pointed = post(
        &app,
        "dynadot",
        "set-ns",
        body(
            customer_key,
            json!({"nameservers": ["ns1.openova.io", "ns2.openova.io"]}),
        ),
    )
    .await;
    let foreign_before = fake.zone(DOMAIN).sub.len();
    let written = post(
        &app,
        "dynadot",
        "set-dns",
        body(
            customer_key,
            json!({"records": [{"type": "CNAME", "name": "shop", "value": "acme.omani.works.", "ttl": 3600}]}),
        ),
    )
    .await;

    fake.set_fault_rate(1.0);
    let away = post(&app, "dynadot", "validate", body(customer_key, json!({}))).await;

    // Assert
    assert_eq!(valid.status, StatusCode::OK, "{:?}", valid.body);
    assert_eq!(wrong.error(), "invalid-token");
    assert_eq!(away.status, StatusCode::BAD_GATEWAY, "{:?}", away.body);
    assert!(
        logs.text().contains("registrar refused"),
        "the quoting failure was logged"
    );
    assert_eq!(elsewhere.error(), "domain-not-in-account");
    assert_eq!(pointed.status, StatusCode::OK, "{:?}", pointed.body);
    assert_eq!(
        pointed.body["nameservers"],
        json!(["ns1.openova.io", "ns2.openova.io"])
    );
    assert_eq!(
        fake.nameservers(DOMAIN),
        ["ns1.openova.io", "ns2.openova.io"]
    );
    assert_eq!(written.status, StatusCode::OK, "{:?}", written.body);
    let zone = fake.zone(DOMAIN);
    assert_eq!(
        zone.sub.len(),
        foreign_before + 1,
        "set_dns2 kept every other record"
    );
    assert_eq!(
        zone.at("shop"),
        [&FakeRecord::sub("shop", "CNAME", "acme.omani.works.", None)]
    );
    let logged = logs.text();
    for answer in [&valid, &wrong, &elsewhere, &pointed, &written, &away] {
        assert!(!answer.body.to_string().contains(customer_key));
    }
    assert!(!logged.contains(customer_key), "the key was logged");
    assert!(
        !logged.contains("not-the-key-1234"),
        "the wrong key was logged"
    );
}

#[sqlx::test(migrator = "pdm_core::MIGRATOR")]
async fn ovh_set_dns_creates_before_it_deletes_so_a_refused_create_keeps_the_customers_record(
    db: PgPool,
) {
    // Arrange: www holds the customer's record; OVHcloud's rate limit will refuse the call
    // after the lookup and the first signed write.
    let r = registrars(db).await;
    let token = format!("{OVH_APPLICATION}:{OVH_SECRET}:{OVH_CONSUMER}");
    let set = |value: &str| json!({"domain": DOMAIN, "token": token, "records": [{"type": "A", "name": "www", "value": value, "ttl": 600}]});
    let first = post(&r.app, "ovh", "set-dns", set("94.130.0.10")).await;
    r.ovh.limit_to(4);

    // Act
    let refused = post(&r.app, "ovh", "set-dns", set("94.130.0.11")).await;

    // Assert
    assert_eq!(first.status, StatusCode::OK, "{:?}", first.body);
    assert_eq!(
        refused.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{:?}",
        refused.body
    );
    let held = r.ovh.domain(DOMAIN).records;
    assert!(
        held.iter()
            .any(|(kind, name, value, ..)| kind == "A" && name == "www" && value == "94.130.0.10"),
        "the customer's record is still there: {held:?}"
    );
}

#[sqlx::test(migrator = "pdm_core::MIGRATOR")]
async fn set_dns_takes_at_most_twenty_records_before_any_call(db: PgPool) {
    let r = registrars(db).await;
    let records: Vec<Value> = (0..21)
        .map(|i| json!({"type": "A", "name": format!("h{i}"), "value": "94.130.0.10"}))
        .collect();
    let before = r.ovh.requests();

    let refused = post(
        &r.app,
        "ovh",
        "set-dns",
        json!({"domain": DOMAIN, "token": format!("{OVH_APPLICATION}:{OVH_SECRET}:{OVH_CONSUMER}"), "records": records}),
    )
    .await;

    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.ovh.requests(), before, "no call was made");
}

#[sqlx::test(migrator = "pdm_core::MIGRATOR")]
async fn a_token_no_header_can_carry_and_an_address_for_a_domain_are_422_before_any_call(
    db: PgPool,
) {
    let r = registrars(db).await;
    let before = r.godaddy.requests();

    let control = post(
        &r.app,
        "godaddy",
        "validate",
        json!({"domain": DOMAIN, "token": "gd-key\r\nX-Injected: 1:gd-secret"}),
    )
    .await;
    let nul = post(
        &r.app,
        "godaddy",
        "validate",
        json!({"domain": DOMAIN, "token": "gd-key\u{0}:gd-secret"}),
    )
    .await;
    let address = post(
        &r.app,
        "godaddy",
        "validate",
        json!({"domain": "127.0.0.1", "token": godaddy_token()}),
    )
    .await;

    for refused in [&control, &nul, &address] {
        refused.assert_refused(StatusCode::UNPROCESSABLE_ENTITY, "invalid-format");
    }
    assert_eq!(r.godaddy.requests(), before, "no call was made");
}
