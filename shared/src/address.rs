//! Which load balancer addresses PDM may publish into a public zone: globally routable unicast
//! only, after IPv4-mapped IPv6 is unwrapped (else `::ffff:127.0.0.1` would pass as IPv6).
//! Private and shared ranges only for fleets that opt in, for internal zones. The ranges are
//! IANA's special-purpose registries (RFC 6890 and its updates).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::Error;

/// Parses `raw` and returns the address to publish, or the rule it breaks.
pub fn publishable(raw: &str, allow_private: bool) -> Result<IpAddr, Error> {
    publishable_as("loadBalancerIP", raw, allow_private)
}

/// The same for the commit's `field`; text that is no address is `missing-lb-ip` for
/// `loadBalancerIP` (the contract's code) and `invalid-format` for any other field.
pub fn publishable_as(field: &str, raw: &str, allow_private: bool) -> Result<IpAddr, Error> {
    let ip = raw.trim().parse::<IpAddr>().map_err(|_| {
        let problem = format!("{field} is not an IPv4 or IPv6 address");
        if field == "loadBalancerIP" {
            Error::MissingLbIp(problem)
        } else {
            Error::InvalidFormat(problem)
        }
    })?;
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    };
    let refused = match ip {
        IpAddr::V4(v4) => v4_refusal(v4, allow_private),
        IpAddr::V6(v6) => v6_refusal(v6, allow_private),
    };
    match refused {
        None => Ok(ip),
        Some(range) => Err(Error::InvalidFormat(format!(
            "{field} {ip} is {range}; only globally routable unicast addresses are \
             published{}",
            if is_private(ip) {
                " (private and shared ranges need PDM_ALLOW_PRIVATE_LB=true)"
            } else {
                ""
            }
        ))),
    }
}

fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_private() || in_v4(v4, [100, 64, 0, 0], 10),
        IpAddr::V6(v6) => in_v6(v6, 0xfc00, 7),
    }
}

/// What `ip` is, when it must not be published.
fn v4_refusal(ip: Ipv4Addr, allow_private: bool) -> Option<&'static str> {
    let ranges: [([u8; 4], u32, &str); 12] = [
        ([0, 0, 0, 0], 8, "in \"this network\" (0.0.0.0/8)"),
        ([127, 0, 0, 0], 8, "a loopback address"),
        ([169, 254, 0, 0], 16, "a link-local address"),
        (
            [192, 0, 0, 0],
            24,
            "an IETF protocol assignment (192.0.0.0/24)",
        ),
        ([192, 0, 2, 0], 24, "a documentation address"),
        ([198, 51, 100, 0], 24, "a documentation address"),
        ([203, 0, 113, 0], 24, "a documentation address"),
        (
            [198, 18, 0, 0],
            15,
            "a benchmarking address (198.18.0.0/15)",
        ),
        (
            [192, 88, 99, 0],
            24,
            "the deprecated 6to4 relay anycast (192.88.99.0/24)",
        ),
        ([224, 0, 0, 0], 4, "a multicast address"),
        // 240.0.0.0/4 holds the limited broadcast 255.255.255.255 too.
        ([240, 0, 0, 0], 4, "a reserved address (240.0.0.0/4)"),
        ([100, 64, 0, 0], 10, "a shared (carrier-grade NAT) address"),
    ];
    if let Some((_, _, what)) = ranges.iter().find(|(net, bits, _)| in_v4(ip, *net, *bits)) {
        return (!(allow_private && is_private(IpAddr::V4(ip)))).then_some(*what);
    }
    (ip.is_private() && !allow_private).then_some("a private address (RFC 1918)")
}

fn v6_refusal(ip: Ipv6Addr, allow_private: bool) -> Option<&'static str> {
    let [first, second, ..] = ip.segments();
    if ip.is_unspecified() {
        return Some("the unspecified address");
    }
    if ip.is_loopback() {
        return Some("a loopback address");
    }
    if in_v6(ip, 0xfe80, 10) {
        return Some("a link-local address");
    }
    if in_v6(ip, 0xff00, 8) {
        return Some("a multicast address");
    }
    if (first == 0x2001 && second == 0x0db8) || (first == 0x3fff && second < 0x1000) {
        return Some("a documentation address (2001:db8::/32, 3fff::/20)");
    }
    if first == 0x2001 && second < 0x0200 {
        return Some("an IETF protocol assignment (2001::/23)");
    }
    if first == 0x2002 {
        return Some("a 6to4 address (2002::/16)");
    }
    if in_v6(ip, 0xfc00, 7) {
        return (!allow_private).then_some("a unique-local address (fc00::/7)");
    }
    // Only 2000::/3 is allocated for global unicast.
    (!in_v6(ip, 0x2000, 3)).then_some("outside global unicast (2000::/3)")
}

/// Whether `ip` lies in `net`/`bits` (1 to 32).
fn in_v4(ip: Ipv4Addr, net: [u8; 4], bits: u32) -> bool {
    let mask = u32::MAX << (32 - bits);
    u32::from(ip) & mask == u32::from(Ipv4Addr::from(net)) & mask
}

/// Whether `ip` lies in the prefix of `bits` (1 to 16) whose first segment is `first`.
fn in_v6(ip: Ipv6Addr, first: u16, bits: u32) -> bool {
    let mask = u16::MAX << (16 - bits);
    ip.segments()[0] & mask == first & mask
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_that_must_never_be_published_are_refused_with_their_rule() {
        for raw in [
            "0.1.2.3",
            "::",
            "127.255.255.254",
            "::1",
            "169.254.0.1",
            "fe80::abcd",
            "255.255.255.255",
            "250.1.2.3",
            "239.255.255.250",
            "192.0.2.255",
            "198.51.100.7",
            "203.0.113.10",
            "198.19.255.1",
            "2001:db8:1::1",
            "3fff::1",
            "ff02::1",
            "::ffff:127.0.0.2",
            "2002:c000:0204::1",
            "64:ff9b::1",
        ] {
            for allow_private in [false, true] {
                let refused = publishable(raw, allow_private).unwrap_err();
                assert_eq!(refused.code(), "invalid-format", "{raw}");
                assert!(refused.to_string().contains("loadBalancerIP"), "{raw}");
            }
        }
    }

    #[test]
    fn private_and_shared_ranges_need_the_operators_opt_in() {
        for raw in [
            "10.0.0.1",
            "172.16.0.1",
            "192.168.1.1",
            "100.64.0.1",
            "fd00::1",
            "::ffff:10.1.2.3",
        ] {
            let refused = publishable(raw, false).unwrap_err();
            assert!(
                refused.to_string().contains("PDM_ALLOW_PRIVATE_LB"),
                "{raw}: {refused}"
            );
            assert!(publishable(raw, true).is_ok(), "{raw}");
        }
    }

    #[test]
    fn global_unicast_is_published_and_mapped_ipv6_becomes_ipv4() {
        assert_eq!(
            publishable(" 94.130.0.10 ", false).unwrap().to_string(),
            "94.130.0.10"
        );
        assert_eq!(
            publishable("2a01:4f8::10", false).unwrap().to_string(),
            "2a01:4f8::10"
        );
        assert_eq!(
            publishable("::ffff:94.130.0.10", false)
                .unwrap()
                .to_string(),
            "94.130.0.10"
        );
    }

    #[test]
    fn text_that_is_no_address_is_missing_lb_ip() {
        for raw in ["", "acme", "1.2.3", "300.1.1.1"] {
            assert_eq!(publishable(raw, false).unwrap_err().code(), "missing-lb-ip");
        }
    }
}
