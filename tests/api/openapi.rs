//! The served contract: `/openapi.json` and `/openapi.yaml` describe exactly the routes this
//! build has, with the process's pools, and which operations need a token.

use std::collections::BTreeSet;

use http::{StatusCode, header};
use pdm_core::http::{Guard, ROUTES};
use serde_json::Value;

/// `(METHOD, path)` of every operation in a served document.
fn operations(spec: &Value) -> BTreeSet<(String, String)> {
    let mut found = BTreeSet::new();
    for (path, item) in spec["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("path item").keys() {
            found.insert((method.to_uppercase(), path.clone()));
        }
    }
    found
}

contract_test!(
    the_served_spec_describes_exactly_the_route_table,
    ["DYNADOT_MANAGED_DOMAINS" = "openova.io,omani.works"],
    |app| {
        // Act
        let json = app.get("/openapi.json").await;
        let yaml = app.get("/openapi.yaml").await;

        // Assert
        assert_eq!(json.status, StatusCode::OK);
        let spec = &json.body;
        let table: BTreeSet<(String, String)> = ROUTES
            .iter()
            .map(|route| (route.method.to_string(), route.path.to_owned()))
            .collect();
        assert_eq!(operations(spec), table);
        assert_eq!(
            spec["components"]["parameters"]["Domain"]["schema"]["enum"],
            serde_json::json!(["omani.works", "openova.io"])
        );
        assert_eq!(yaml.status, StatusCode::OK);
        assert_eq!(yaml.headers[header::CONTENT_TYPE], "application/yaml");
        assert_eq!(&yaml.body, spec, "the YAML is the same document");
    }
);

contract_test!(
    operations_say_they_need_a_token_exactly_where_the_route_table_guards_them,
    ["PDM_API_TOKENS" = "catalyst=spec-token"],
    |app| {
        // Act
        let spec = app.get("/openapi.json").await.body;

        // Assert
        for route in &ROUTES {
            let method = route.method.as_str().to_ascii_lowercase();
            let operation = &spec["paths"][route.path][method.as_str()];
            let guarded = operation.get("security").is_some();
            assert_eq!(guarded, route.guard != Guard::Open, "{route:?}");
            let documents_401 = operation["responses"].get("401").is_some();
            assert_eq!(documents_401, route.guard != Guard::Open, "{route:?}");
        }
    }
);

#[test]
fn every_operation_has_an_id_and_every_link_names_one() {
    let domains = pdm_core::domain::ManagedDomains::parse("omani.works").unwrap();
    let spec = pdm_core::http::handlers::openapi::document(&domains, false, &["godaddy"]);

    let mut ids = BTreeSet::new();
    let mut linked = BTreeSet::new();
    for item in spec["paths"].as_object().unwrap().values() {
        for operation in item.as_object().unwrap().values() {
            let id = operation["operationId"].as_str().expect("an operationId");
            assert!(ids.insert(id.to_owned()), "{id} is unique");
            for response in operation["responses"].as_object().unwrap().values() {
                for link in response["links"].as_object().into_iter().flatten() {
                    linked.insert(link.1["operationId"].as_str().unwrap().to_owned());
                }
            }
        }
    }
    assert!(linked.is_subset(&ids), "{linked:?} ⊄ {ids:?}");
    for followed in [
        "commit",
        "release",
        "check",
        "history",
        "allocation",
        "list",
    ] {
        assert!(
            linked.contains(followed),
            "{followed} is reachable by a link"
        );
    }
}
