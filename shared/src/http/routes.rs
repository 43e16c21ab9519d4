//! The one route table. Resolving a path, the function binaries, the tests that keep
//! openapi.yaml and the manifests in step, and the metrics labels all read it: adding an
//! endpoint is one row here, one handler file and its function crate.

use futures::future::BoxFuture;
use http::Method;

use super::handlers::{self, Call};
use super::response::HttpResponse;
use crate::Error;
use crate::scope::Scope;

/// An endpoint's handler: parses the call into domain types and asks the core.
pub type Handler = fn(Call) -> BoxFuture<'static, Result<HttpResponse, Error>>;

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guard {
    Open,
    /// Credentials holding this scope, when any are configured.
    Scoped(Scope),
}

/// One row of the table.
pub struct Route {
    /// Short and fixed: the metrics label and the log field.
    pub name: &'static str,
    pub method: Method,
    /// As the contract and openapi.yaml write it.
    pub path: &'static str,
    pub guard: Guard,
    /// The function binary that serves it; `None`: every process (each has its own metrics).
    pub function: Option<&'static str>,
    /// Refused (503 `overloaded`) when every slot is taken. Probes never are: an orchestrator
    /// must see a busy process as alive.
    pub shed: bool,
    pub handler: Handler,
}

impl std::fmt::Debug for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} ({})", self.method, self.path, self.name)
    }
}

const fn probe(name: &'static str, path: &'static str, handler: Handler) -> Route {
    Route {
        name,
        method: Method::GET,
        path,
        guard: Guard::Open,
        function: Some("pdm-health"),
        shed: false,
        handler,
    }
}

const fn endpoint(
    name: &'static str,
    method: Method,
    path: &'static str,
    guard: Guard,
    function: &'static str,
    handler: Handler,
) -> Route {
    Route {
        name,
        method,
        path,
        guard,
        function: Some(function),
        shed: true,
        handler,
    }
}

pub static ROUTES: [Route; 24] = [
    probe("health", "/healthz", |call| {
        Box::pin(handlers::health::handle(call))
    }),
    probe("livez", "/livez", |call| {
        Box::pin(handlers::livez::handle(call))
    }),
    probe("readyz", "/readyz", |call| {
        Box::pin(handlers::readyz::handle(call))
    }),
    endpoint(
        "reserved",
        Method::GET,
        "/api/v1/reserved",
        Guard::Open,
        "pdm-reserved",
        |call| Box::pin(handlers::reserved::handle(call)),
    ),
    endpoint(
        "check",
        Method::GET,
        "/api/v1/pool/{domain}/check",
        Guard::Open,
        "pdm-check",
        |call| Box::pin(handlers::check::handle(call)),
    ),
    endpoint(
        "reserve",
        Method::POST,
        "/api/v1/pool/{domain}/reserve",
        Guard::Scoped(Scope::Allocate),
        "pdm-reserve",
        |call| Box::pin(handlers::reserve::handle(call)),
    ),
    endpoint(
        "commit",
        Method::POST,
        "/api/v1/pool/{domain}/commit",
        Guard::Scoped(Scope::Allocate),
        "pdm-commit",
        |call| Box::pin(handlers::commit::handle(call)),
    ),
    endpoint(
        "release",
        Method::DELETE,
        "/api/v1/pool/{domain}/release",
        Guard::Scoped(Scope::Allocate),
        "pdm-release",
        |call| Box::pin(handlers::release::handle(call)),
    ),
    endpoint(
        "release-fqdn",
        Method::POST,
        "/api/v1/release",
        Guard::Scoped(Scope::Allocate),
        "pdm-release",
        |call| Box::pin(handlers::decommission::release(call)),
    ),
    endpoint(
        "force-release",
        Method::POST,
        "/api/v1/force-release",
        Guard::Scoped(Scope::Operate),
        "pdm-release",
        |call| Box::pin(handlers::decommission::force_release(call)),
    ),
    endpoint(
        "freeze",
        Method::POST,
        "/api/v1/pool/{domain}/freeze",
        Guard::Scoped(Scope::Operate),
        // Freezing stops reservations: it lives with them.
        "pdm-reserve",
        |call| Box::pin(handlers::freeze::freeze(call)),
    ),
    endpoint(
        "unfreeze",
        Method::DELETE,
        "/api/v1/pool/{domain}/freeze",
        Guard::Scoped(Scope::Operate),
        "pdm-reserve",
        |call| Box::pin(handlers::freeze::unfreeze(call)),
    ),
    endpoint(
        "token-create",
        Method::POST,
        "/api/v1/tokens",
        Guard::Scoped(Scope::Operate),
        "pdm-reserve",
        |call| Box::pin(handlers::tokens::create(call)),
    ),
    endpoint(
        "token-list",
        Method::GET,
        "/api/v1/tokens",
        Guard::Scoped(Scope::Operate),
        "pdm-reserve",
        |call| Box::pin(handlers::tokens::list(call)),
    ),
    endpoint(
        "token-revoke",
        Method::DELETE,
        "/api/v1/tokens/{name}",
        Guard::Scoped(Scope::Operate),
        "pdm-reserve",
        |call| Box::pin(handlers::tokens::revoke(call)),
    ),
    endpoint(
        "list",
        Method::GET,
        "/api/v1/pool/{domain}/list",
        Guard::Scoped(Scope::Read),
        "pdm-list",
        |call| Box::pin(handlers::list::handle(call)),
    ),
    endpoint(
        "allocation",
        Method::GET,
        "/api/v1/pool/{domain}/allocation",
        Guard::Scoped(Scope::Read),
        // The pool's reads share one function.
        "pdm-list",
        |call| Box::pin(handlers::allocation::handle(call)),
    ),
    endpoint(
        "history",
        Method::GET,
        "/api/v1/pool/{domain}/history",
        Guard::Scoped(Scope::Read),
        "pdm-history",
        |call| Box::pin(handlers::history::handle(call)),
    ),
    endpoint(
        "openapi-json",
        Method::GET,
        "/openapi.json",
        Guard::Open,
        "pdm-health",
        |call| Box::pin(handlers::openapi::json(call)),
    ),
    endpoint(
        "openapi-yaml",
        Method::GET,
        "/openapi.yaml",
        Guard::Open,
        "pdm-health",
        |call| Box::pin(handlers::openapi::yaml(call)),
    ),
    endpoint(
        "registrar-validate",
        Method::POST,
        "/api/v1/registrar/{registrar}/validate",
        Guard::Scoped(Scope::Registrar),
        "pdm-registrar",
        |call| Box::pin(handlers::registrar::validate(call)),
    ),
    endpoint(
        "registrar-set-ns",
        Method::POST,
        "/api/v1/registrar/{registrar}/set-ns",
        Guard::Scoped(Scope::Registrar),
        "pdm-registrar",
        |call| Box::pin(handlers::registrar::set_ns(call)),
    ),
    endpoint(
        "registrar-set-dns",
        Method::POST,
        "/api/v1/registrar/{registrar}/set-dns",
        Guard::Scoped(Scope::Registrar),
        "pdm-registrar",
        |call| Box::pin(handlers::registrar::set_dns(call)),
    ),
    Route {
        name: "metrics",
        method: Method::GET,
        path: "/metrics",
        guard: Guard::Open,
        function: None,
        shed: true,
        handler: |call| Box::pin(handlers::metrics::handle(call)),
    },
];

/// The route for `method` (HEAD as GET) whose template matches `path`, else the first route
/// at that path (whose method then answers 405), and the segment its one parameter
/// (`{domain}` or `{registrar}`) names, empty for routes without one. A trailing slash is
/// ignored.
pub fn resolve<'p>(method: &Method, path: &'p str) -> Option<(&'static Route, &'p str)> {
    let method = if method == Method::HEAD {
        &Method::GET
    } else {
        method
    };
    at(path)
        .find(|(route, _)| route.method == method)
        .or_else(|| at(path).next())
}

/// The methods the routes at `path` answer, as `Allow` lists them.
pub fn allowed_at(path: &str) -> String {
    let methods: Vec<&str> = at(path).map(|(route, _)| route.method.as_str()).collect();
    methods.join(", ")
}

/// Every route whose template matches `path`, with its parameter.
fn at(path: &str) -> impl Iterator<Item = (&'static Route, &str)> {
    let path = path.strip_suffix('/').unwrap_or(path);
    ROUTES.iter().filter_map(move |route| {
        let mut parameter = "";
        let mut given = path.split('/');
        for expected in route.path.split('/') {
            let segment = given.next()?;
            match expected {
                p if p.starts_with('{') && !segment.is_empty() => parameter = segment,
                literal if literal == segment => {}
                _ => return None,
            }
        }
        given.next().is_none().then_some((route, parameter))
    })
}

/// The routes of one function binary (with `/metrics`, which every process serves).
pub fn of_function(function: &str) -> Vec<&'static Route> {
    ROUTES
        .iter()
        .filter(|route| route.function.is_none_or(|f| f == function))
        .collect()
}

/// Every function binary, in table order.
pub fn functions() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = Vec::new();
    for name in ROUTES.iter().filter_map(|route| route.function) {
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_resolves_to_its_own_row_and_names_are_unique() {
        for route in &ROUTES {
            let path = route
                .path
                .replace("{domain}", "omani.works")
                .replace("{registrar}", "godaddy");
            let (found, parameter) = resolve(&route.method, &path).unwrap();
            assert_eq!(found.name, route.name);
            assert_eq!(parameter.is_empty(), !route.path.contains('{'));
            assert_eq!(ROUTES.iter().filter(|r| r.name == route.name).count(), 1);
        }
        assert!(resolve(&Method::GET, "/api/v1/pool/omani.works/check/extra").is_none());
        assert!(resolve(&Method::GET, "/api/v1/pool//check").is_none());
        assert!(resolve(&Method::HEAD, "/healthz/").is_some());
    }

    #[test]
    fn a_function_serves_its_rows_and_the_metrics() {
        let names: Vec<&str> = of_function("pdm-health").iter().map(|r| r.name).collect();
        assert_eq!(
            names,
            [
                "health",
                "livez",
                "readyz",
                "openapi-json",
                "openapi-yaml",
                "metrics"
            ]
        );
        assert_eq!(functions().len(), 9);
    }
}
