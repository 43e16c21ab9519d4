//! Names PDM hands out, parsed once at the edge: holding a `Subdomain` proves the label is
//! well-formed, holding a `PoolDomain` proves the pool is managed.

use std::collections::BTreeSet;
use std::fmt;

use crate::Error;

/// Labels that are never reservable: platform hosts of every pool. Sorted, served as-is by
/// `/api/v1/reserved`.
pub const RESERVED_LABELS: [&str; 21] = [
    "admin", "api", "app", "catalyst", "console", "docs", "flux", "gitea", "harbor", "imap", "k8s",
    "keycloak", "mail", "openbao", "openova", "smtp", "status", "system", "vault", "vpn", "www",
];

/// The longest name DNS can carry (RFC 1035, without the root dot).
const MAX_FQDN_LEN: usize = 253;
const MAX_LABEL_LEN: usize = 63;

/// One DNS label under a pool domain, e.g. `acme` in `acme.omani.works`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Subdomain(String);

impl Subdomain {
    /// Lowercases (ASCII only, so that no Unicode character folds into an ASCII one) and
    /// validates: 1–63 of `[a-z0-9-]`, a letter first, no `-` last, no `??--` prefix.
    pub fn parse(raw: &str) -> Result<Self, Error> {
        let label = raw.to_ascii_lowercase();
        let invalid = |why: &str| Err(Error::InvalidFormat(format!("subdomain {why}")));
        if label.is_empty() {
            return invalid("is empty");
        }
        if label.len() > MAX_LABEL_LEN {
            return invalid("is longer than 63 characters");
        }
        if let Some(bad) = label
            .chars()
            .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
        {
            return invalid(&format!(
                "contains {bad:?}; only a-z, 0-9 and '-' are allowed"
            ));
        }
        if !label.starts_with(|c: char| c.is_ascii_lowercase()) {
            return invalid("must start with a letter");
        }
        if label.ends_with('-') {
            return invalid("must not end with '-'");
        }
        // `xn--` (punycode) and every other `??--` prefix are reserved by IDNA (RFC 5891).
        if label.get(2..4) == Some("--") {
            return invalid("must not have '-' in both its third and fourth characters");
        }
        Ok(Self(label))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the label belongs to the platform (see [`RESERVED_LABELS`]).
    pub fn is_reserved(&self) -> bool {
        RESERVED_LABELS.binary_search(&self.0.as_str()).is_ok()
    }
}

impl fmt::Display for Subdomain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Who asked for a reservation, as the caller names itself (`createdBy`): printable text of
/// at most 256 characters, since it is stored, listed and logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedBy(String);

/// Checks text a caller gives that ends up in the audit trail and on operators' terminals
/// (`createdBy`, a force-release `reason`): printable (no control characters, so no escape
/// sequences and no forged lines) and at most 256 characters.
pub fn printable_text(field: &str, raw: &str) -> Result<(), Error> {
    const MAX_CHARS: usize = 256;
    if raw.chars().count() > MAX_CHARS {
        return Err(Error::InvalidFormat(format!(
            "{field} is longer than {MAX_CHARS} characters"
        )));
    }
    if raw.chars().any(char::is_control) {
        return Err(Error::InvalidFormat(format!(
            "{field} must be printable text (no control characters)"
        )));
    }
    Ok(())
}

impl CreatedBy {
    pub fn parse(raw: &str) -> Result<Self, Error> {
        printable_text("createdBy", raw)?;
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A pool domain PDM manages, e.g. `omani.works`. Only [`ManagedDomains::resolve`] makes one.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PoolDomain(String);

impl PoolDomain {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `sub.pool`, refused when it would exceed what DNS can carry.
    pub fn fqdn(&self, sub: &Subdomain) -> Result<String, Error> {
        let fqdn = format!("{sub}.{self}");
        if fqdn.len() > MAX_FQDN_LEN {
            return Err(Error::InvalidFormat(format!(
                "{fqdn} is longer than {MAX_FQDN_LEN} characters"
            )));
        }
        Ok(fqdn)
    }
}

impl fmt::Display for PoolDomain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The set of pool domains this PDM is the authority for, lowercased, sorted, de-duplicated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagedDomains(BTreeSet<PoolDomain>);

impl ManagedDomains {
    /// Parses a comma- and/or whitespace-separated list such as `openova.io, omani.works`.
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut domains = BTreeSet::new();
        for raw in list.split(|c: char| c == ',' || c.is_whitespace()) {
            let name = raw.trim_end_matches('.').to_ascii_lowercase();
            if name.is_empty() {
                continue;
            }
            if !is_hostname(&name) || !name.contains('.') {
                return Err(format!("{raw:?} is not a domain name"));
            }
            domains.insert(PoolDomain(name));
        }
        if domains.is_empty() {
            return Err("no managed domain given".to_owned());
        }
        Ok(Self(domains))
    }

    /// The managed pool named `raw` (compared lowercase), or `unsupported-pool`.
    pub fn resolve(&self, raw: &str) -> Result<PoolDomain, Error> {
        let wanted = PoolDomain(raw.trim_end_matches('.').to_ascii_lowercase());
        if self.0.contains(&wanted) {
            Ok(wanted)
        } else {
            Err(Error::UnsupportedPool(format!(
                "{raw:?} is not a pool domain managed here"
            )))
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = &PoolDomain> {
        self.0.iter()
    }
}

/// A syntactically valid host name: dot-separated LDH labels, at most 253 characters.
pub fn is_hostname(name: &str) -> bool {
    name.len() <= MAX_FQDN_LEN
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= MAX_LABEL_LEN
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_labels_are_sorted_and_unique() {
        assert!(RESERVED_LABELS.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn every_reserved_label_is_itself_well_formed_and_reserved() {
        for label in RESERVED_LABELS {
            let sub = Subdomain::parse(label).expect(label);
            assert!(sub.is_reserved(), "{label}");
        }
        assert!(!Subdomain::parse("acme").unwrap().is_reserved());
    }

    #[test]
    fn label_rules() {
        let max = format!("a{}", "b".repeat(62));
        let too_long = format!("a{}", "b".repeat(63));
        let cases: &[(&str, Option<&str>, &str)] = &[
            ("acme", Some("acme"), "plain label"),
            ("ACME", Some("acme"), "uppercase is lowercased"),
            ("a", Some("a"), "one letter"),
            ("a1-b2", Some("a1-b2"), "digits and inner hyphen"),
            ("ab-c", Some("ab-c"), "hyphen in third place alone is fine"),
            (
                "abc--d",
                Some("abc--d"),
                "double hyphen after the fourth char is fine",
            ),
            (&max, Some(&max), "63 characters"),
            (&too_long, None, "64 characters"),
            ("", None, "empty"),
            ("1acme", None, "starts with a digit"),
            ("-acme", None, "starts with a hyphen"),
            ("acme-", None, "ends with a hyphen"),
            ("xn--bcher-kva", None, "punycode prefix"),
            ("ab--cd", None, "any ??-- prefix"),
            ("ac_me", None, "underscore"),
            ("ac.me", None, "dot"),
            ("ac me", None, "space"),
            (" acme", None, "leading space"),
            ("bücher", None, "non-ASCII letter"),
            (
                "\u{212A}elvin",
                None,
                "Kelvin sign, which Unicode lowercases to ASCII k",
            ),
            ("аcme", None, "Cyrillic a homograph"),
        ];
        for (raw, expected, why) in cases {
            let parsed = Subdomain::parse(raw);
            match expected {
                Some(label) => assert_eq!(parsed.unwrap().as_str(), *label, "{why}"),
                None => assert!(
                    matches!(parsed, Err(Error::InvalidFormat(_))),
                    "{why}: {raw:?} was accepted"
                ),
            }
        }
    }

    #[test]
    fn fqdn_is_refused_beyond_253_characters() {
        let long_pool = format!(
            "{}.{}.{}.works",
            "p".repeat(63),
            "q".repeat(63),
            "r".repeat(60)
        );
        let domains = ManagedDomains::parse(&long_pool).unwrap();
        let pool = domains.resolve(&long_pool).unwrap();
        let short = Subdomain::parse("a").unwrap();
        let long = Subdomain::parse(&"a".repeat(63)).unwrap();
        assert!(pool.fqdn(&short).is_ok());
        assert!(matches!(pool.fqdn(&long), Err(Error::InvalidFormat(_))));
    }

    #[test]
    fn managed_domains_are_split_lowercased_sorted_and_deduplicated() {
        let domains = ManagedDomains::parse(" openova.io,Omani.Works  omani.works,,").unwrap();
        let names: Vec<_> = domains.iter().map(PoolDomain::as_str).collect();
        assert_eq!(names, ["omani.works", "openova.io"]);
    }

    #[test]
    fn managed_domains_refuse_garbage_and_emptiness() {
        assert!(ManagedDomains::parse("").is_err());
        assert!(ManagedDomains::parse(" , ").is_err());
        assert!(ManagedDomains::parse("localhost").is_err());
        assert!(ManagedDomains::parse("omani.works,bad_domain.io").is_err());
    }

    #[test]
    fn resolve_compares_lowercase_and_rejects_unknown_pools() {
        let domains = ManagedDomains::parse("omani.works").unwrap();
        assert_eq!(
            domains.resolve("OMANI.works").unwrap().as_str(),
            "omani.works"
        );
        assert!(matches!(
            domains.resolve("example.com"),
            Err(Error::UnsupportedPool(_))
        ));
    }
}
