//! JSON bodies exactly as the contract spells them. Note the two names that are not plain
//! camelCase: `sovereignFQDN` and `loadBalancerIP`.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::store::{Allocation, DnsState, Event, State};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReserveRequest {
    pub subdomain: String,
    #[serde(default)]
    pub created_by: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CommitRequest {
    pub subdomain: String,
    pub reservation_token: String,
    #[serde(rename = "sovereignFQDN", default)]
    pub sovereign_fqdn: Option<String>,
    #[serde(rename = "loadBalancerIP", default)]
    pub load_balancer_ip: Option<String>,
    /// An isolated console gateway: `PDM_CONSOLE_HOSTS` point here instead.
    #[serde(rename = "consoleLoadBalancerIP", default)]
    pub console_load_balancer_ip: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReleaseRequest {
    /// May come from `?sub=` instead.
    #[serde(default)]
    pub subdomain: Option<String>,
    /// When given, it must be the allocation's (403 `token-mismatch` otherwise).
    #[serde(default)]
    pub reservation_token: Option<String>,
}

/// The registrar routes' body: the customer's domain and token (used for this request only).
#[derive(Deserialize)]
pub struct RegistrarRequest {
    /// Missing is 422, as an empty one is.
    #[serde(default)]
    pub domain: String,
    #[serde(default)]
    pub token: String,
    #[serde(default)]
    pub nameservers: Option<Vec<String>>,
    #[serde(default)]
    pub records: Option<Vec<crate::registrar::Record>>,
}

impl std::fmt::Debug for RegistrarRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistrarRequest")
            .field("domain", &self.domain)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Serialize)]
pub struct ValidateResponse<'a> {
    pub valid: bool,
    pub registrar: &'a str,
    pub domain: &'a str,
}

#[derive(Debug, Serialize)]
pub struct SetNsResponse<'a> {
    pub success: bool,
    pub registrar: &'a str,
    pub domain: &'a str,
    /// As the registrar holds them after the change (read back).
    pub nameservers: Vec<String>,
    pub propagation: &'a str,
}

#[derive(Debug, Serialize)]
pub struct SetDnsResponse<'a> {
    pub success: bool,
    pub registrar: &'a str,
    pub domain: &'a str,
    pub records: usize,
    pub propagation: &'a str,
}

/// `POST /api/v1/release`: the sovereign by its FQDN.
#[derive(Debug, Deserialize)]
pub struct ReleaseFqdnRequest {
    #[serde(rename = "sovereignFQDN")]
    pub sovereign_fqdn: String,
}

/// `POST /api/v1/force-release`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ForceReleaseRequest {
    #[serde(rename = "sovereignFQDN")]
    pub sovereign_fqdn: String,
    #[serde(default)]
    pub reason: String,
    #[serde(default)]
    pub grace_confirmed: bool,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AllocationBody<'a> {
    pub pool_domain: &'a str,
    pub subdomain: &'a str,
    pub state: State,
    #[serde(with = "time::serde::rfc3339")]
    pub reserved_at: OffsetDateTime,
    #[serde(
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub expires_at: Option<OffsetDateTime>,
    #[serde(rename = "sovereignFQDN", skip_serializing_if = "Option::is_none")]
    pub sovereign_fqdn: Option<&'a str>,
    #[serde(rename = "loadBalancerIP", skip_serializing_if = "Option::is_none")]
    pub load_balancer_ip: Option<&'a str>,
    #[serde(
        rename = "consoleLoadBalancerIP",
        skip_serializing_if = "Option::is_none"
    )]
    pub console_load_balancer_ip: Option<&'a str>,
    /// Only in the reserve response: whoever lists a pool must not be able to commit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reservation_token: Option<Uuid>,
    pub created_by: &'a str,
    /// The credential that reserved it (absent when PDM was open).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<&'a str>,
    /// Set once release was asked for: the name stays taken until its records are gone.
    #[serde(
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub releasing_since: Option<OffsetDateTime>,
    pub dns: DnsBody<'a>,
}

/// Whether DNS holds what the row says, so a caller given 202 can follow the change to
/// `synced` instead of guessing.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DnsBody<'a> {
    pub state: DnsState,
    /// Failed attempts so far at the owed change.
    pub attempts: i32,
    /// When the owed change is next tried.
    #[serde(
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub retry_at: Option<OffsetDateTime>,
    /// Why the owed change failed last, in PDM's words (`dns-unavailable: …`), while pending.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<&'a str>,
}

impl<'a> AllocationBody<'a> {
    /// Without the reservation token.
    pub fn public(allocation: &'a Allocation) -> Self {
        Self {
            pool_domain: &allocation.pool_domain,
            subdomain: &allocation.subdomain,
            state: allocation.state,
            reserved_at: allocation.reserved_at,
            expires_at: allocation.expires_at,
            sovereign_fqdn: allocation.sovereign_fqdn.as_deref(),
            load_balancer_ip: allocation.load_balancer_ip.as_deref(),
            console_load_balancer_ip: allocation.console_load_balancer_ip.as_deref(),
            reservation_token: None,
            created_by: &allocation.created_by,
            owner: allocation.owner.as_deref(),
            releasing_since: allocation.releasing_since,
            dns: DnsBody {
                state: allocation.dns_state,
                attempts: allocation.dns_attempts,
                retry_at: allocation.dns_retry_at,
                last_error: allocation
                    .dns_last_error
                    .as_deref()
                    .filter(|_| allocation.dns_state == DnsState::Pending),
            },
        }
    }

    /// With the reservation token, for the one who reserved.
    pub fn for_holder(allocation: &'a Allocation) -> Self {
        Self {
            reservation_token: Some(allocation.reservation_token),
            ..Self::public(allocation)
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckResponse<'a> {
    pub available: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<&'a str>,
    pub fqdn: &'a str,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListResponse<'a> {
    pub pool_domain: &'a str,
    pub allocations: Vec<AllocationBody<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<&'a str>,
}

/// `POST /api/v1/tokens`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewCredentialRequest {
    pub name: String,
    pub scopes: Vec<String>,
    #[serde(default)]
    pub quota: Option<u32>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
}

/// A stored credential as it is listed: never its secret or digest.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CredentialBody<'a> {
    pub name: &'a str,
    pub scopes: Vec<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quota: Option<i32>,
    #[serde(
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub expires_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub last_used_at: Option<OffsetDateTime>,
}

impl<'a> From<&'a crate::store::StoredCredential> for CredentialBody<'a> {
    fn from(stored: &'a crate::store::StoredCredential) -> Self {
        Self {
            name: &stored.name,
            scopes: stored.scopes.split('+').collect(),
            quota: stored.quota,
            expires_at: stored.expires_at,
            created_at: stored.created_at,
            last_used_at: stored.last_used_at,
        }
    }
}

/// The create answer: the credential and, this once, its secret.
#[derive(Debug, Serialize)]
pub struct NewCredential<'a> {
    pub token: &'a str,
    #[serde(flatten)]
    pub credential: CredentialBody<'a>,
}

#[derive(Debug, Serialize)]
pub struct CredentialList<'a> {
    pub tokens: Vec<CredentialBody<'a>>,
}

/// `POST /api/v1/pool/{domain}/freeze`.
#[derive(Debug, Deserialize)]
pub struct FreezeRequest {
    #[serde(default)]
    pub reason: String,
}

/// A pool's freeze as it stands after the call.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FreezeResponse<'a> {
    pub pool_domain: &'a str,
    pub frozen: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frozen_by: Option<&'a str>,
    #[serde(
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub frozen_at: Option<OffsetDateTime>,
}

impl<'a> FreezeResponse<'a> {
    pub fn frozen(freeze: &'a crate::store::Freeze) -> Self {
        Self {
            pool_domain: &freeze.pool_domain,
            frozen: true,
            reason: Some(&freeze.reason),
            frozen_by: Some(&freeze.frozen_by),
            frozen_at: Some(freeze.frozen_at),
        }
    }

    pub fn lifted(pool_domain: &'a str) -> Self {
        Self {
            pool_domain,
            frozen: false,
            reason: None,
            frozen_by: None,
            frozen_at: None,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct ReleaseResponse<'a> {
    pub freed: &'a str,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthResponse<'a> {
    pub status: &'static str,
    pub managed_domains: Vec<&'a str>,
}

/// A probe's answer.
#[derive(Debug, Serialize)]
pub struct Status {
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl Status {
    pub fn ok() -> Self {
        Self {
            status: "ok",
            detail: None,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct ReservedResponse {
    pub reserved: &'static [&'static str],
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryResponse<'a> {
    pub pool_domain: &'a str,
    pub subdomain: &'a str,
    pub events: Vec<EventBody<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allocation: Option<AllocationBody<'a>>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventBody<'a> {
    pub event: &'a str,
    pub actor: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<&'a str>,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

impl<'a> From<&'a Event> for EventBody<'a> {
    fn from(event: &'a Event) -> Self {
        Self {
            event: &event.event,
            actor: &event.actor,
            request_id: event.request_id.as_deref(),
            detail: event.detail.as_deref(),
            at: event.at,
        }
    }
}
