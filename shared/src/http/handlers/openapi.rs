//! `GET /openapi.json` and `/openapi.yaml`: the contract as this process serves it. The
//! spec file describes what is fixed; what depends on the process or lives in code is filled
//! in here from its one source: the managed pools (the enum of `{domain}`), the reserved
//! labels (refused by the subdomain schema) and, from the route table, which operations need
//! credentials, Bearer or Basic (only when tokens are configured, since otherwise none does).

use http::StatusCode;
use serde_json::{Value, json};

use super::Call;
use crate::Error;
use crate::domain::{ManagedDomains, PoolDomain, RESERVED_LABELS};
use crate::http::response::{self, HttpResponse};
use crate::http::routes::{Guard, ROUTES};

/// `shared/openapi.yaml` as JSON, converted by build.rs.
const SPEC: &str = include_str!(concat!(env!("OUT_DIR"), "/openapi.json"));

/// The spec as a process with these pools, tokens and registrars serves it.
pub fn document(domains: &ManagedDomains, guarded: bool, registrars: &[&str]) -> Value {
    let mut spec: Value = serde_json::from_str(SPEC).unwrap_or_default();
    if let Some(schema) = spec.pointer_mut("/components/parameters/Domain/schema") {
        schema["enum"] = domains.iter().map(PoolDomain::as_str).collect();
    }
    if let Some(schema) = spec.pointer_mut("/components/parameters/Registrar/schema") {
        schema["enum"] = registrars.iter().copied().collect();
    }
    if let Some(schema) = spec.pointer_mut("/components/schemas/Subdomain") {
        schema["not"] = json!({ "pattern": reserved_pattern() });
    }
    // Every route but the probes and the metrics spends from a rate limit.
    for route in ROUTES.iter().filter(|r| r.shed && r.function.is_some()) {
        let method = route.method.as_str().to_ascii_lowercase();
        if let Some(responses) = spec
            .pointer_mut(&format!(
                "/paths/{}/{method}/responses",
                pointer_escaped(route.path)
            ))
            .and_then(Value::as_object_mut)
        {
            responses
                .entry("429")
                .or_insert_with(|| json!({ "$ref": "#/components/responses/RateLimited" }));
        }
    }
    if guarded {
        for route in &ROUTES {
            let Guard::Scoped(scope) = route.guard else {
                continue;
            };
            let method = route.method.as_str().to_ascii_lowercase();
            if let Some(operation) = spec
                .get_mut("paths")
                .and_then(|paths| paths.get_mut(route.path)?.get_mut(method.as_str()))
            {
                operation["security"] = json!([{ "bearer": [] }, { "basic": [] }]);
                operation["x-required-scope"] = json!(scope.as_str());
                // Credentials without the scope: 403 `insufficient-scope`.
                if operation["responses"].get("403").is_none() {
                    operation["responses"]["403"] =
                        json!({ "$ref": "#/components/responses/Error" });
                }
            }
        }
    }
    spec
}

/// `path` as one JSON Pointer token (RFC 6901).
fn pointer_escaped(path: &str) -> String {
    path.replace('~', "~0").replace('/', "~1")
}

/// Matches any reserved label in any case (`[aA][pP][iI]`): labels are compared lowercase,
/// and a pattern has no case-insensitive flag that every JSON Schema dialect reads.
fn reserved_pattern() -> String {
    let any_case = |label: &str| -> String {
        label
            .chars()
            .map(|c| {
                if c.is_ascii_alphabetic() {
                    format!("[{}{}]", c, c.to_ascii_uppercase())
                } else {
                    c.to_string()
                }
            })
            .collect()
    };
    let labels: Vec<String> = RESERVED_LABELS
        .iter()
        .map(|label| any_case(label))
        .collect();
    format!("^({})$", labels.join("|"))
}

async fn served(call: &Call) -> Result<Value, Error> {
    let open = call.ctx.credentials.none(call.pdm().store()).await?;
    Ok(document(
        call.pdm().domains(),
        !open,
        &call.ctx.registrars.names(),
    ))
}

pub async fn json(call: Call) -> Result<HttpResponse, Error> {
    Ok(response::json(StatusCode::OK, &served(&call).await?))
}

/// The same document. JSON is YAML (1.2), so no YAML writer ships in the binary for it.
pub async fn yaml(call: Call) -> Result<HttpResponse, Error> {
    let text = serde_json::to_vec_pretty(&served(&call).await?).unwrap_or_default();
    Ok(response::bytes_with_type(
        StatusCode::OK,
        "application/yaml",
        text,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reserved_pattern_names_every_label_in_any_case() {
        let pattern = reserved_pattern();
        assert!(pattern.starts_with("^([aA][dD][mM][iI][nN]|"), "{pattern}");
        assert!(pattern.contains("|[kK]8[sS]|"), "{pattern}");
        assert_eq!(pattern.matches('|').count(), RESERVED_LABELS.len() - 1);
    }

    #[test]
    fn guarded_operations_need_a_token_only_when_tokens_are_configured() {
        let domains = ManagedDomains::parse("omani.works,openova.io").unwrap();
        let registrars = ["godaddy"];
        let open = document(&domains, false, &registrars);
        let guarded = document(&domains, true, &registrars);

        let reserve = "/paths/~1api~1v1~1pool~1{domain}~1reserve/post/security";
        let check = "/paths/~1api~1v1~1pool~1{domain}~1check/get/security";
        assert_eq!(open.pointer(reserve), None);
        assert_eq!(
            guarded.pointer(reserve),
            Some(&json!([{ "bearer": [] }, { "basic": [] }]))
        );
        assert_eq!(guarded.pointer(check), None);
        assert_eq!(
            guarded.pointer("/components/parameters/Domain/schema/enum"),
            Some(&json!(["omani.works", "openova.io"]))
        );
    }
}
