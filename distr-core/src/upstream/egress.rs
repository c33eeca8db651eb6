//! Where distr may connect on a vendor's behalf: the egress policy of
//! upstream registries and their token realms.
//!
//! A vendor admin chooses an artifact's upstream, and through the upstream's
//! `WWW-Authenticate` challenge also the host of the token request. Without a
//! rule, a hostile vendor could point those at the inside of the operator's
//! network (loopback, RFC 1918, the cloud metadata address) and use distr
//! as a proxy or a port scanner. The rule here: distr connects only to
//! **public** addresses, unless the *operator* listed the host or a network
//! (`DISTR_UPSTREAM_ALLOW`); plain HTTP is likewise only for listed hosts.
//!
//! The check is made on the addresses a name *resolves to*, at connect time
//! (see [`EgressPolicy::check_connect`], which transports call with the
//! port about to be connected to), so a name that resolves to
//! loopback, a redirect to an internal host and DNS rebinding between a
//! validation and the real request are all caught by the same test. Spellings
//! of IPv4 addresses that resolvers accept (`127.1`, `2130706433`,
//! `0x7f.0.0.1`, `0177.0.0.1`) are recognised by [`parse_ipv4_loose`], so a
//! literal host is judged without a lookup.
//!
//! This module is pure (no I/O): transports resolve names and ask it.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use ipnet::IpNet;

use super::target::is_registry_host;

/// The operator's egress rule for upstream connections.
///
/// The default refuses every non-public address. Build one with
/// [`EgressPolicy::parse`] from `DISTR_UPSTREAM_ALLOW` or with
/// [`EgressPolicy::allow`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EgressPolicy {
    rules: Vec<AllowRule>,
}

/// One entry of the operator's allow-list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AllowRule {
    /// A host name or literal address, on any port (`registry.internal`,
    /// `127.0.0.1`) or on one port (`registry.internal:5000`).
    Host {
        /// The host, lower-case, without brackets for IPv6.
        host: String,
        /// The only port allowed, or any port.
        port: Option<u16>,
    },
    /// Every address of a network (`10.0.0.0/8`, `fd00::/8`).
    Network(IpNet),
}

/// Why an upstream connection was refused by the egress policy. Shown to
/// operators in logs; vendors only see a generic category.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EgressDenied {
    /// The target resolves to an address that is not public
    /// (loopback, private, link-local, …) and the operator did not allow it.
    NonPublicAddress {
        /// The host as given.
        host: String,
        /// The first refused address.
        addr: IpAddr,
    },
    /// Plain HTTP to a host the operator did not list.
    InsecureNotAllowed {
        /// The host as given.
        host: String,
    },
    /// The name resolved to no address at all.
    NoAddress {
        /// The host as given.
        host: String,
    },
}

impl fmt::Display for EgressDenied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EgressDenied::NonPublicAddress { host, addr } => write!(
                f,
                "upstream host {host} resolves to the non-public address {addr}; \
                 the operator can allow it with DISTR_UPSTREAM_ALLOW"
            ),
            EgressDenied::InsecureNotAllowed { host } => write!(
                f,
                "plain HTTP to upstream host {host} is not allowed; \
                 the operator can allow it with DISTR_UPSTREAM_ALLOW"
            ),
            EgressDenied::NoAddress { host } => {
                write!(f, "upstream host {host} resolves to no address")
            }
        }
    }
}

impl std::error::Error for EgressDenied {}

/// A malformed `DISTR_UPSTREAM_ALLOW` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidAllowRule(String);

impl fmt::Display for InvalidAllowRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid upstream allow-list entry {:?}: expected a host, host:port, \
             an IP address or a network such as 10.0.0.0/8",
            self.0
        )
    }
}

impl std::error::Error for InvalidAllowRule {}

impl FromStr for AllowRule {
    type Err = InvalidAllowRule;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || InvalidAllowRule(s.to_owned());
        let entry = s.trim();
        if entry.is_empty() {
            return Err(bad());
        }
        if entry.contains('/') {
            return entry
                .parse::<IpNet>()
                .map(AllowRule::Network)
                .map_err(|_| bad());
        }
        let (host, port) = split_host_port(entry).ok_or_else(bad)?;
        let host = host.to_ascii_lowercase();
        if host.parse::<IpAddr>().is_err() && !is_registry_host(&host) {
            return Err(bad());
        }
        Ok(AllowRule::Host { host, port })
    }
}

/// `host`, `host:port`, `[v6]`, `[v6]:port` or a bare IPv6 address, split
/// into the host (without brackets) and the port; `None` for a bad port.
pub fn split_host_port(s: &str) -> Option<(&str, Option<u16>)> {
    if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        return match after {
            "" => Some((host, None)),
            p => Some((host, Some(parse_port(p.strip_prefix(':')?)?))),
        };
    }
    if s.parse::<Ipv6Addr>().is_ok() {
        return Some((s, None));
    }
    match s.rsplit_once(':') {
        Some((host, port)) => Some((host, Some(parse_port(port)?))),
        None => Some((s, None)),
    }
}

fn parse_port(p: &str) -> Option<u16> {
    p.parse::<u16>().ok().filter(|&p| p != 0)
}

impl EgressPolicy {
    /// The default policy: public addresses only, HTTPS only.
    pub fn public_only() -> Self {
        Self::default()
    }

    /// Parses a comma- or whitespace-separated allow-list
    /// (`DISTR_UPSTREAM_ALLOW=127.0.0.1,registry.internal:5000,10.0.0.0/8`).
    pub fn parse(list: &str) -> Result<Self, InvalidAllowRule> {
        let rules = list
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|e| !e.is_empty())
            .map(str::parse)
            .collect::<Result<Vec<AllowRule>, _>>()?;
        Ok(Self { rules })
    }

    /// This policy with one more allowed entry.
    pub fn allow(mut self, rule: AllowRule) -> Self {
        self.rules.push(rule);
        self
    }

    /// The allow-list entries.
    pub fn rules(&self) -> &[AllowRule] {
        &self.rules
    }

    /// True when the operator listed this host (and port): such a target may
    /// use any address and plain HTTP.
    pub fn is_listed(&self, host: &str, port: u16) -> bool {
        self.is_listed_on(host, Some(port))
    }

    /// [`is_listed`](Self::is_listed) with the port possibly unknown: then
    /// only entries without a port list the host.
    fn is_listed_on(&self, host: &str, port: Option<u16>) -> bool {
        let host = normalize_host(host);
        let literal = literal_ip(&host);
        self.rules.iter().any(|rule| match rule {
            AllowRule::Host { host: h, port: p } => {
                (p.is_none() || *p == port)
                    && (*h == host
                        || literal.is_some_and(|ip| literal_ip(h).is_some_and(|l| l == ip)))
            }
            AllowRule::Network(net) => literal.is_some_and(|ip| net.contains(&ip)),
        })
    }

    /// True when `addr` may be connected to for `host` on `port`: a listed
    /// host, an address in a listed network, or a public address.
    pub fn allows_addr(&self, host: &str, port: u16, addr: IpAddr) -> bool {
        self.allows(host, Some(port), addr)
    }

    fn allows(&self, host: &str, port: Option<u16>, addr: IpAddr) -> bool {
        self.is_listed_on(host, port) || self.allows_unlisted(addr, port)
    }

    /// The connect-time check of a DNS answer: every address `host`
    /// resolved to must be allowed (a name resolving to one public and one
    /// internal address is refused: the resolver's order must not decide).
    ///
    /// `port` is the port about to be connected to; where it is not known,
    /// entries listed with a port do not apply (the check fails closed).
    pub fn check_connect(
        &self,
        host: &str,
        port: Option<u16>,
        resolved: &[IpAddr],
    ) -> Result<(), EgressDenied> {
        if resolved.is_empty() {
            return Err(EgressDenied::NoAddress {
                host: host.to_owned(),
            });
        }
        match resolved.iter().find(|ip| !self.allows(host, port, **ip)) {
            Some(addr) => Err(EgressDenied::NonPublicAddress {
                host: host.to_owned(),
                addr: *addr,
            }),
            None => Ok(()),
        }
    }

    /// An address of a host that is not listed by name: allowed when a
    /// listed network or literal covers it (a literal listed with a port
    /// only on that port; with the port unknown, not at all), or when it is
    /// public.
    fn allows_unlisted(&self, addr: IpAddr, port: Option<u16>) -> bool {
        let addr = canonical(addr);
        self.rules.iter().any(|rule| match rule {
            AllowRule::Network(net) => net.contains(&addr),
            AllowRule::Host { host, port: p } => {
                (p.is_none() || *p == port) && literal_ip(host).is_some_and(|l| l == addr)
            }
        }) || is_public(addr)
    }

    /// The check before any lookup: a literal host (in any spelling a
    /// resolver accepts) that is not public is refused at once, and plain
    /// HTTP needs a listed host.
    pub fn check_target(&self, host: &str, port: u16, https: bool) -> Result<(), EgressDenied> {
        if !https && !self.is_listed(host, port) {
            return Err(EgressDenied::InsecureNotAllowed {
                host: host.to_owned(),
            });
        }
        match literal_ip(&normalize_host(host)) {
            Some(addr) if !self.allows_addr(host, port, addr) => {
                Err(EgressDenied::NonPublicAddress {
                    host: host.to_owned(),
                    addr,
                })
            }
            _ => Ok(()),
        }
    }
}

/// A host as compared by the egress rules: lower-case, without IPv6
/// brackets or a trailing dot.
pub fn normalize_host(host: &str) -> String {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    h.trim_end_matches('.').to_ascii_lowercase()
}

/// The address a literal host names, in any spelling resolvers accept.
fn literal_ip(host: &str) -> Option<IpAddr> {
    if let Ok(v6) = host.parse::<Ipv6Addr>() {
        return Some(canonical(IpAddr::V6(v6)));
    }
    parse_ipv4_loose(host).map(IpAddr::V4)
}

/// Parses IPv4 the way `inet_aton` (and so `getaddrinfo`) does: one to four
/// parts, each decimal, octal (`0` prefix) or hex (`0x` prefix), the last
/// part filling the remaining bytes: `127.1`, `2130706433`, `0x7f.0.0.1`
/// and `0177.0.0.1` are all 127.0.0.1.
pub fn parse_ipv4_loose(s: &str) -> Option<Ipv4Addr> {
    let parts: Vec<&str> = s.split('.').collect();
    if parts.is_empty() || parts.len() > 4 {
        return None;
    }
    let mut values = Vec::with_capacity(parts.len());
    for p in &parts {
        values.push(parse_inet_part(p)?);
    }
    let (last, leading) = values.split_last()?;
    if leading.iter().any(|&v| v > 0xff) {
        return None;
    }
    let last_bits = 8 * (4 - leading.len() as u32);
    if last_bits < 32 && *last >= 1u64 << last_bits {
        return None;
    }
    if *last > u64::from(u32::MAX) {
        return None;
    }
    let mut addr: u64 = 0;
    for (i, v) in leading.iter().enumerate() {
        addr |= v << (24 - 8 * i as u32);
    }
    addr |= last;
    u32::try_from(addr).ok().map(Ipv4Addr::from)
}

fn parse_inet_part(p: &str) -> Option<u64> {
    if p.is_empty() {
        return None;
    }
    let (digits, radix) = if let Some(h) = p.strip_prefix("0x").or_else(|| p.strip_prefix("0X")) {
        (h, 16)
    } else if p.len() > 1 && p.starts_with('0') {
        (&p[1..], 8)
    } else {
        (p, 10)
    };
    if digits.is_empty() {
        // "0x" alone is 0 for inet_aton.
        return (radix == 16).then_some(0);
    }
    if digits.len() > 11 {
        return None;
    }
    u64::from_str_radix(digits, radix).ok()
}

/// IPv4-mapped IPv6 addresses (`::ffff:127.0.0.1`) as the IPv4 address they
/// reach; every other address unchanged.
fn canonical(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

/// True for globally routable unicast addresses: not loopback, private
/// (RFC 1918), shared (CGNAT, RFC 6598), link-local (incl. the cloud
/// metadata address 169.254.169.254), unspecified, broadcast, multicast,
/// documentation, benchmarking, reserved, IETF protocol assignments;
/// for IPv6 also unique-local, site-local, and every form that embeds an
/// IPv4 address (mapped, compatible, NAT64, 6to4, Teredo) is judged by the
/// IPv4 address inside.
pub fn is_public(addr: IpAddr) -> bool {
    match canonical(addr) {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(a == 0                                   // "this network", incl. 0.0.0.0
        || a == 10                             // RFC 1918
        || a == 127                            // loopback
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 169 && b == 254)              // link-local, cloud metadata
        || (a == 172 && (16..32).contains(&b)) // RFC 1918
        || (a == 192 && b == 0 && c == 0)      // IETF protocol assignments
        || (a == 192 && b == 0 && c == 2)      // TEST-NET-1
        || (a == 192 && b == 88 && c == 99)    // 6to4 relay anycast
        || (a == 192 && b == 168)              // RFC 1918
        || (a == 198 && (18..20).contains(&b)) // benchmarking
        || (a == 198 && b == 51 && c == 100)   // TEST-NET-2
        || (a == 203 && b == 0 && c == 113)    // TEST-NET-3
        || a >= 224) // multicast, reserved, broadcast
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    if ip.is_unspecified() || ip.is_loopback() || ip.is_multicast() {
        return false;
    }
    // IPv4-compatible (deprecated, ::a.b.c.d) and NAT64 (64:ff9b::/96,
    // 64:ff9b:1::/48): judged by the embedded IPv4 address.
    let embedded = |hi: u16, lo: u16| Ipv4Addr::from(((hi as u32) << 16) | lo as u32);
    if s[..6] == [0, 0, 0, 0, 0, 0] {
        return is_public_v4(embedded(s[6], s[7]));
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] || (s[0] == 0x64 && s[1] == 0xff9b && s[2] == 1) {
        return is_public_v4(embedded(s[6], s[7]));
    }
    // 6to4: 2002:AABB:CCDD::/48 carries AA.BB.CC.DD.
    if s[0] == 0x2002 {
        return is_public_v4(embedded(s[1], s[2]));
    }
    // Teredo (2001:0::/32): its server and client addresses are IPv4; refuse.
    if s[0] == 0x2001 && s[1] == 0 {
        return false;
    }
    !((s[0] & 0xfe00) == 0xfc00          // unique-local fc00::/7
        || (s[0] & 0xffc0) == 0xfe80     // link-local fe80::/10
        || (s[0] & 0xffc0) == 0xfec0     // site-local (deprecated) fec0::/10
        || (s[0] == 0x2001 && s[1] == 0xdb8) // documentation
        || (s[0] == 0x100 && s[1..4] == [0, 0, 0])) // discard-only 100::/64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn internal_addresses_are_not_public() {
        for a in [
            "127.0.0.1",
            "127.255.255.254",
            "0.0.0.0",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "100.64.0.1",
            "100.127.255.255",
            "169.254.169.254",
            "224.0.0.1",
            "255.255.255.255",
            "240.0.0.1",
            "192.0.0.8",
            "198.18.0.1",
            "::1",
            "::",
            "fe80::1",
            "fc00::1",
            "fd12:3456::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:10.0.0.1",
            "::127.0.0.1",
            "64:ff9b::7f00:1",
            "2002:7f00:1::1",
            "2001:0:4136:e378::1",
            "2001:db8::1",
        ] {
            assert!(!is_public(ip(a)), "{a} must not be public");
        }
    }

    #[test]
    fn public_addresses_are_public() {
        for a in [
            "1.1.1.1",
            "8.8.8.8",
            "172.32.0.1",
            "100.128.0.1",
            "192.169.0.1",
            "2606:4700:4700::1111",
            "2a00:1450:4001::200e",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ] {
            assert!(is_public(ip(a)), "{a} must be public");
        }
    }

    #[test]
    fn loose_ipv4_spellings_are_recognised() {
        let lo = Ipv4Addr::LOCALHOST;
        for s in [
            "127.0.0.1",
            "127.1",
            "127.0.1",
            "2130706433",
            "0x7f000001",
            "0x7f.0.0.1",
            "0177.0.0.1",
            "0177.1",
            "0x7F.1",
        ] {
            assert_eq!(parse_ipv4_loose(s), Some(lo), "{s}");
        }
        assert_eq!(parse_ipv4_loose("0"), Some(Ipv4Addr::UNSPECIFIED));
        for s in [
            "",
            "1.2.3.4.5",
            "256.1.1.1",
            "1.2.3.256",
            "1.2.65536",
            "4294967296",
            "08.1.1.1",
            "ghcr.io",
            "1..1",
            "registry-1.docker.io",
        ] {
            assert_eq!(parse_ipv4_loose(s), None, "{s}");
        }
    }

    #[test]
    fn default_policy_refuses_internal_targets_before_and_after_lookup() {
        let p = EgressPolicy::public_only();
        for host in [
            "127.0.0.1",
            "127.1",
            "2130706433",
            "[::1]",
            "0.0.0.0",
            "::ffff:7f00:1",
        ] {
            assert!(
                matches!(
                    p.check_target(host, 443, true),
                    Err(EgressDenied::NonPublicAddress { .. })
                ),
                "{host}"
            );
        }
        // A name resolving to loopback (or to loopback among public ones).
        let (lo, public) = (ip("127.0.0.1"), ip("1.1.1.1"));
        assert!(p.check_connect("localhost", Some(443), &[lo]).is_err());
        assert!(p
            .check_connect("evil.example", Some(443), &[public, lo])
            .is_err());
        assert!(p.check_connect("ghcr.io", Some(443), &[public]).is_ok());
        assert!(p.check_connect("ghcr.io", Some(443), &[]).is_err());
        // Plain HTTP needs a listed host, even a public one.
        assert_eq!(
            p.check_target("ghcr.io", 80, false),
            Err(EgressDenied::InsecureNotAllowed {
                host: "ghcr.io".into()
            })
        );
        assert!(p.check_target("ghcr.io", 443, true).is_ok());
    }

    #[test]
    fn operator_allow_list_opens_exactly_what_it_names() {
        let p = EgressPolicy::parse("127.0.0.1, registry.internal:5000 10.0.0.0/8 [::1]").unwrap();
        assert_eq!(p.rules().len(), 4);
        let lo = ip("127.0.0.1");
        assert!(p.check_target("127.0.0.1", 5001, false).is_ok());
        // Another spelling of a listed literal is the same address.
        assert!(p.check_target("127.1", 5001, false).is_ok());
        assert!(p.check_connect("127.0.0.1", Some(5001), &[lo]).is_ok());
        // A listed name may resolve anywhere, on its port only.
        let internal = ip("192.168.0.5");
        assert!(p
            .check_connect("registry.internal", Some(5000), &[internal])
            .is_ok());
        assert!(p
            .check_connect("registry.internal", Some(5001), &[internal])
            .is_err());
        assert!(p.check_target("registry.internal", 5000, false).is_ok());
        assert!(p.check_target("registry.internal", 5001, false).is_err());
        // A listed network admits resolved addresses inside it only.
        assert!(p
            .check_connect("git.corp", Some(443), &[ip("10.9.8.7")])
            .is_ok());
        assert!(p.check_connect("git.corp", Some(443), &[internal]).is_err());
        // A name resolving to a listed literal address is allowed
        // (`localhost` when 127.0.0.1 is listed), others are not.
        assert!(p.check_connect("localhost", Some(5001), &[lo]).is_ok());
        assert!(p
            .check_connect("localhost", Some(5001), &[ip("127.0.0.2")])
            .is_err());
        assert!(p.check_target("[::1]", 5001, true).is_ok());
        // Unlisted plain HTTP stays refused.
        assert!(p.check_target("ghcr.io", 80, false).is_err());
    }

    #[test]
    fn an_unknown_port_is_judged_strictly() {
        let p = EgressPolicy::parse("registry.internal:5000,127.0.0.1").unwrap();
        // Entries listed with a port do not apply when the port is unknown.
        assert!(p
            .check_connect("registry.internal", None, &[ip("10.0.0.1")])
            .is_err());
        assert!(p
            .check_connect("localhost", None, &[ip("127.0.0.1")])
            .is_ok());
        assert!(p.check_connect("localhost", None, &[ip("::1")]).is_err());
        assert!(p
            .check_connect("evil.example", None, &[ip("1.1.1.1"), ip("10.0.0.1")])
            .is_err());
        assert!(p
            .check_connect("ghcr.io", None, &[ip("140.82.121.34")])
            .is_ok());
        assert!(p.check_connect("ghcr.io", None, &[]).is_err());
        // A literal listed with a port does not open other names' answers.
        let q = EgressPolicy::parse("127.0.0.1:5000").unwrap();
        assert!(q
            .check_connect("localhost", None, &[ip("127.0.0.1")])
            .is_err());
        assert!(q
            .check_connect("localhost", Some(6000), &[ip("127.0.0.1")])
            .is_err());
        assert!(q.check_target("127.0.0.1", 5000, false).is_ok());
        assert!(q.check_target("127.0.0.1", 6000, true).is_err());
    }

    #[test]
    fn bad_allow_entries_are_errors() {
        for bad in [
            "10.0.0.0/33",
            "host:0",
            "host:99999",
            "bad!host",
            "[::1",
            "a/b",
            "x_y",
        ] {
            assert!(EgressPolicy::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(EgressPolicy::parse("").unwrap(), EgressPolicy::default());
    }

    #[test]
    fn denial_messages_name_the_fix_and_no_peer_data() {
        let e = EgressDenied::NonPublicAddress {
            host: "localhost".into(),
            addr: ip("127.0.0.1"),
        };
        assert!(e.to_string().contains("DISTR_UPSTREAM_ALLOW"));
    }
}
