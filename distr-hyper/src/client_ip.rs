//! The client's address behind reverse proxies: `X-Forwarded-For` is
//! believed only when the connection comes from a trusted proxy, and then
//! only up to the rightmost hop that is not itself a trusted proxy (every
//! hop further left was written by that untrusted party, so may be forged).

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use http::HeaderMap;

/// The header proxies append the address of their peer to.
const X_FORWARDED_FOR: &str = "x-forwarded-for";

/// Networks (CIDRs) and single addresses of reverse proxies whose
/// `X-Forwarded-For` is believed. Empty by default: the peer address is the
/// client.
///
/// Parsed from a comma-separated list such as `10.0.0.0/8, 192.168.1.7,
/// fd00::/8` ([`FromStr`]). IPv4-mapped IPv6 addresses (`::ffff:10.1.2.3`)
/// are matched as the IPv4 address they carry.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    nets: Vec<(IpAddr, u8)>,
}

/// A malformed entry of a trusted proxy list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidProxy(pub String);

impl fmt::Display for InvalidProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid trusted proxy {:?}: expected an IP address or CIDR (10.0.0.0/8, fd00::/8)",
            self.0
        )
    }
}

impl std::error::Error for InvalidProxy {}

/// `ip` with IPv4-mapped IPv6 addresses turned into IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

/// `ip` with every bit after the first `prefix` cleared.
fn mask(ip: IpAddr, prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            let m = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V4((bits & m).into())
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let m = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6((bits & m).into())
        }
    }
}

fn parse_net(entry: &str) -> Result<(IpAddr, u8), InvalidProxy> {
    let bad = || InvalidProxy(entry.to_owned());
    let (addr, prefix) = match entry.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (entry, None),
    };
    let ip = canonical(addr.parse::<IpAddr>().map_err(|_| bad())?);
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix {
        None => max,
        // Digits only: no sign, no spaces, no leading `+`.
        Some(p) if !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()) => {
            p.parse::<u8>().map_err(|_| bad())?
        }
        Some(_) => return Err(bad()),
    };
    if prefix > max {
        return Err(bad());
    }
    Ok((mask(ip, prefix), prefix))
}

impl FromStr for TrustedProxies {
    type Err = InvalidProxy;

    /// Comma-separated addresses and CIDRs; blanks around entries are
    /// ignored, and an empty (or all-blank) list trusts nobody.
    fn from_str(s: &str) -> Result<Self, InvalidProxy> {
        let nets = s
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .map(parse_net)
            .collect::<Result<_, _>>()?;
        Ok(Self { nets })
    }
}

impl TrustedProxies {
    /// Trusts nobody: the peer address is always the client's.
    pub fn none() -> Self {
        Self::default()
    }

    /// True when no proxy is trusted.
    pub fn is_empty(&self) -> bool {
        self.nets.is_empty()
    }

    /// True when `ip` is a trusted proxy.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.nets
            .iter()
            .any(|&(net, prefix)| net.is_ipv4() == ip.is_ipv4() && mask(ip, prefix) == net)
    }

    /// The client of a request from `peer`: `peer` itself unless it is a
    /// trusted proxy; otherwise, walking `X-Forwarded-For` (every such
    /// header, in order) from the right, the first hop that is not a trusted
    /// proxy. A hop that is not an address stops the walk at the last
    /// address seen (a trusted proxy); when every hop is trusted, the
    /// leftmost one is the client.
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = canonical(peer);
        if !self.contains(peer) {
            return peer;
        }
        let hops: Vec<&str> = headers
            .get_all(X_FORWARDED_FOR)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect();
        let mut client = peer;
        for hop in hops.iter().rev() {
            let Some(ip) = parse_hop(hop) else {
                return client;
            };
            client = ip;
            if !self.contains(ip) {
                return ip;
            }
        }
        client
    }
}

/// One `X-Forwarded-For` element: an address, optionally with a port
/// (`1.2.3.4:5678`, `[::1]:5678`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    hop.parse::<std::net::SocketAddr>()
        .ok()
        .map(|s| canonical(s.ip()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn xff(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(X_FORWARDED_FOR, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn lists_parse_and_match() {
        let t: TrustedProxies = " 10.0.0.0/8, 192.168.1.7 ,fd00::/8,".parse().unwrap();
        assert!(t.contains(ip("10.200.3.4")));
        assert!(t.contains(ip("::ffff:10.1.1.1")));
        assert!(t.contains(ip("192.168.1.7")));
        assert!(!t.contains(ip("192.168.1.8")));
        assert!(t.contains(ip("fd12::1")));
        assert!(!t.contains(ip("fe80::1")));
        assert!(!t.contains(ip("11.0.0.1")));
        // Host bits of a network are ignored; /0 is everything of a family.
        let t: TrustedProxies = "10.1.2.3/16,::/0".parse().unwrap();
        assert!(t.contains(ip("10.1.99.1")) && t.contains(ip("2001:db8::1")));
        assert!(!t.contains(ip("1.1.1.1")));
        assert!("".parse::<TrustedProxies>().unwrap().is_empty());
        assert!(" , ".parse::<TrustedProxies>().unwrap().is_empty());
        for bad in [
            "10.0.0.0/33",
            "::/129",
            "10.0.0.0/",
            "10.0.0.0/-1",
            "10.0.0.0/+8",
            "10.0.0.0/ 8",
            "10.0.0",
            "host.example",
            "10.0.0.1/8/8",
            "1.2.3.4:80",
        ] {
            assert!(bad.parse::<TrustedProxies>().is_err(), "{bad}");
        }
    }

    #[test]
    fn the_rightmost_untrusted_hop_is_the_client() {
        let t: TrustedProxies = "10.0.0.0/8".parse().unwrap();
        let proxy = ip("10.0.0.1");
        // An untrusted peer's header is ignored.
        assert_eq!(
            t.client_ip(ip("8.8.8.8"), &xff(&["1.1.1.1"])),
            ip("8.8.8.8")
        );
        // A trusted peer: the rightmost untrusted hop, not the (forgeable)
        // leftmost one.
        assert_eq!(
            t.client_ip(proxy, &xff(&["6.6.6.6, 2.2.2.2, 10.0.0.9"])),
            ip("2.2.2.2")
        );
        // Several headers are one list, in order.
        assert_eq!(
            t.client_ip(proxy, &xff(&["6.6.6.6", "3.3.3.3:4444", "10.1.1.1"])),
            ip("3.3.3.3")
        );
        assert_eq!(
            t.client_ip(proxy, &xff(&["[2001:db8::5]:80"])),
            ip("2001:db8::5")
        );
        // Garbage stops the walk at the last trusted address seen.
        assert_eq!(
            t.client_ip(proxy, &xff(&["1.1.1.1, nonsense, 10.0.0.7"])),
            ip("10.0.0.7")
        );
        assert_eq!(t.client_ip(proxy, &xff(&["unknown"])), proxy);
        // Every hop trusted: the leftmost; no header: the peer.
        assert_eq!(
            t.client_ip(proxy, &xff(&["10.0.0.5, 10.0.0.6"])),
            ip("10.0.0.5")
        );
        assert_eq!(t.client_ip(proxy, &HeaderMap::new()), proxy);
        // Nobody trusted: always the peer.
        assert_eq!(
            TrustedProxies::none().client_ip(proxy, &xff(&["1.1.1.1"])),
            proxy
        );
        // Mapped peers are normalised.
        assert_eq!(
            TrustedProxies::none().client_ip(ip("::ffff:1.2.3.4"), &HeaderMap::new()),
            ip("1.2.3.4")
        );
    }
}
