//! The one error type of PDM. Each variant has the contract's error code here; only
//! `http::response` knows status codes.

/// Everything an operation can refuse or fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    InvalidFormat(String),
    #[error("{0}")]
    UnsupportedPool(String),
    #[error("{0} is reserved for the platform")]
    Reserved(String),
    #[error("{0}")]
    MissingLbIp(String),
    #[error("the name is held by a reservation or already allocated")]
    Conflict,
    #[error("{0}")]
    PoolFull(String),
    /// The credential holds as many live allocations as its quota allows.
    #[error("this credential holds {live} live allocations; its quota is {limit}")]
    QuotaExceeded { limit: u32, live: i64 },
    /// An operator froze the pool: no reservation is taken under it now.
    #[error("the pool is frozen: {0}")]
    PoolFrozen(String),
    /// Records PDM did not write stand at the sovereign's host names.
    #[error("{0}")]
    DnsConflict(String),
    #[error("the reservation token does not match")]
    TokenMismatch,
    #[error("no such allocation")]
    NotFound,
    #[error("the name is already committed")]
    AlreadyActive,
    #[error("the reservation has expired")]
    Expired,
    #[error("credentials are required: a bearer token, or Basic name:token")]
    Unauthorized,
    #[error("the credentials are not accepted")]
    InvalidToken,
    /// Too many requests of this class from this credential or address; retry after this
    /// many seconds.
    #[error("too many {class} requests; retry in {retry_after} s")]
    RateLimited {
        class: &'static str,
        retry_after: u64,
    },
    /// A credential by this name exists already.
    #[error("a credential named {0:?} exists")]
    NameTaken(String),
    /// Accepted credentials without the scope the route needs.
    #[error("these credentials lack the scope {0}")]
    InsufficientScope(crate::scope::Scope),
    /// An `allocate` credential asked to change an allocation another credential reserved.
    #[error("the allocation belongs to another credential")]
    NotOwner,
    #[error("{0}")]
    NoRoute(String),
    /// The FQDN is under no pool PDM manages (a bring-your-own sovereign: nothing to release).
    #[error("{0} is not under a pool domain PDM manages; it holds no allocation here")]
    NotManaged(String),
    /// An operator's last resort needs its confirmation header.
    #[error("force-release needs the header X-Force-Release-Confirm: yes")]
    ConfirmationRequired,
    /// A force-release before the allocation is `PDM_FORCE_RELEASE_GRACE` old.
    /// When it would be allowed (RFC 3339).
    #[error("the allocation is younger than the force-release grace; allowed from {0}")]
    GraceNotElapsed(String),
    /// The customer's registrar did not do what was asked (bring-your-own domains).
    #[error(transparent)]
    Registrar(#[from] crate::registrar::RegistrarError),
    /// No adapter for the `{registrar}` of the path; the ones there are.
    #[error("PDM has no adapter for the registrar {0:?}")]
    UnsupportedRegistrar(String, Vec<&'static str>),
    /// A force-release of a sovereign whose FQDN still answers with its own address.
    #[error("{0} still resolves to an address of its own: the sovereign looks alive")]
    StillResolves(String),
    /// A force-release whose liveness check got no answer: nothing is freed on a guess.
    #[error("whether the sovereign is alive is unknown, the resolver failed: {0}")]
    LivenessUnknown(String),
    #[error("this path only answers {0}")]
    MethodNotAllowed(String),
    #[error("the request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    /// The client did not send its body in time; it never took a slot meanwhile.
    #[error("the request body did not arrive within {0:?}")]
    BodyTimeout(std::time::Duration),
    /// A dependency (the database, or the DNS provider when PDM must ask it) cannot be
    /// reached right now; the client may retry.
    #[error("{0} is unavailable")]
    Unavailable(&'static str, #[source] anyhow::Error),
    /// Too many requests at once: refused rather than queued without bound.
    #[error("too many requests at once; retry shortly")]
    Overloaded,
    #[error("the request took longer than {0:?}")]
    Timeout(std::time::Duration),
    /// A bug or an unforeseen failure: its chain is logged, never sent.
    #[error("internal error")]
    Unexpected(#[from] anyhow::Error),
}

impl Error {
    /// The contract's error code (`{"error": code}`, and check's `reason`).
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadRequest(_) => "bad-request",
            Self::InvalidFormat(_) => "invalid-format",
            Self::UnsupportedPool(_) => "unsupported-pool",
            Self::Reserved(_) => "reserved",
            Self::MissingLbIp(_) => "missing-lb-ip",
            Self::Conflict => "conflict",
            Self::PoolFull(_) => "pool-full",
            Self::PoolFrozen(_) => "pool-frozen",
            Self::QuotaExceeded { .. } => "quota-exceeded",
            Self::DnsConflict(_) => "dns-conflict",
            Self::TokenMismatch => "token-mismatch",
            Self::NotFound => "not-found",
            Self::AlreadyActive => "already-active",
            Self::Expired => "expired",
            Self::Unauthorized => "unauthorized",
            Self::InvalidToken => "unauthorized",
            Self::InsufficientScope(_) => "insufficient-scope",
            Self::NameTaken(_) => "name-taken",
            Self::RateLimited { .. } => "rate-limited",
            Self::NotOwner => "not-owner",
            Self::NoRoute(_) => "not-found",
            Self::NotManaged(_) => "not-managed",
            Self::ConfirmationRequired => "confirmation-required",
            Self::GraceNotElapsed(_) => "grace-not-elapsed",
            Self::StillResolves(_) => "fqdn-still-resolves",
            Self::LivenessUnknown(_) => "liveness-unknown",
            Self::Registrar(error) => error.code(),
            Self::UnsupportedRegistrar(..) => "unsupported-registrar",
            Self::MethodNotAllowed(_) => "method-not-allowed",
            Self::PayloadTooLarge(_) => "payload-too-large",
            Self::BodyTimeout(_) => "request-timeout",
            Self::Unavailable(..) => "unavailable",
            Self::Overloaded => "overloaded",
            Self::Timeout(_) => "timeout",
            Self::Unexpected(_) => "internal",
        }
    }
}

impl From<sqlx::Error> for Error {
    fn from(error: sqlx::Error) -> Self {
        let sqlstate = error
            .as_database_error()
            .and_then(|e| e.code())
            .map(|code| code.into_owned());
        match (error, sqlstate.as_deref()) {
            // Connectivity, not logic: answer 503 so callers retry instead of giving up.
            (
                error @ (sqlx::Error::PoolTimedOut
                | sqlx::Error::PoolClosed
                | sqlx::Error::Io(_)
                | sqlx::Error::Tls(_)),
                _,
            ) => Self::Unavailable("the database", error.into()),
            (error, Some(code)) if refuses_connections(code) || refuses_for_now(code) => {
                Self::Unavailable("the database", error.into())
            }
            // No table yet: the server listens before its migrations are applied.
            (error, Some("42P01")) => Self::Unavailable("the database schema", error.into()),
            // Text PostgreSQL cannot store (a NUL byte): the input's fault, should any reach it.
            (_, Some("22021" | "22P05")) => {
                Self::BadRequest("the request holds text the database cannot store".to_owned())
            }
            (other, _) => {
                Self::Unexpected(anyhow::Error::new(other).context("database query failed"))
            }
        }
    }
}

/// SQLSTATEs of a statement the database refused for now, which a retry may pass: a read-only
/// transaction (25006, a failover in progress), a statement timeout or cancellation (57014),
/// a serialization failure (40001) or a deadlock (40P01).
fn refuses_for_now(code: &str) -> bool {
    matches!(code, "25006" | "57014" | "40001" | "40P01")
}

/// SQLSTATEs of a database that will not serve this connection now: connection exceptions
/// (08), refused authorization (28), an unknown database (3D000), exhausted resources such as
/// too many connections (53), and a server shutting down or starting up (57P01–57P04).
fn refuses_connections(code: &str) -> bool {
    code.starts_with("08")
        || code.starts_with("28")
        || code.starts_with("53")
        || code.starts_with("57P0")
        || code == "3D000"
}
