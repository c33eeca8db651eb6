//! The client's address behind reverse proxies: `X-Forwarded-For` (or, when
//! the operator says the proxies write it, the standard `Forwarded` header
//! of RFC 7239) is believed only when the connection comes from a trusted
//! proxy, and then only up to the rightmost hop that is not itself a
//! trusted proxy (every hop further left was written by that untrusted
//! party, so may be forged).
//!
//! Only the one header the proxies write is read: a proxy that appends to
//! `X-Forwarded-For` passes a client's forged `Forwarded` header through
//! untouched, so believing both would let any client choose its address.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use http::HeaderMap;

/// The header proxies append the address of their peer to.
const X_FORWARDED_FOR: &str = "x-forwarded-for";
/// RFC 7239's header: `Forwarded: for=192.0.2.60;proto=https, for="[2001:db8::1]:4711"`.
const FORWARDED: &str = "forwarded";

/// Which header the trusted proxies write the client's address to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ForwardedHeader {
    /// `X-Forwarded-For` (the default; what most proxies write).
    #[default]
    XForwardedFor,
    /// `Forwarded` (RFC 7239): the `for=` parameter of each element.
    Forwarded,
}

impl ForwardedHeader {
    /// The header's name as configured: `x-forwarded-for` or `forwarded`.
    pub fn as_str(self) -> &'static str {
        match self {
            ForwardedHeader::XForwardedFor => X_FORWARDED_FOR,
            ForwardedHeader::Forwarded => FORWARDED,
        }
    }
}

impl fmt::Display for ForwardedHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A header name other than `x-forwarded-for` and `forwarded`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownForwardedHeader(pub String);

impl fmt::Display for UnknownForwardedHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown forwarded header {:?}: expected x-forwarded-for or forwarded",
            self.0.chars().take(40).collect::<String>()
        )
    }
}

impl std::error::Error for UnknownForwardedHeader {}

impl FromStr for ForwardedHeader {
    type Err = UnknownForwardedHeader;

    /// `x-forwarded-for` or `forwarded`, in any case.
    fn from_str(s: &str) -> Result<Self, UnknownForwardedHeader> {
        match s.trim().to_ascii_lowercase().as_str() {
            X_FORWARDED_FOR => Ok(ForwardedHeader::XForwardedFor),
            FORWARDED => Ok(ForwardedHeader::Forwarded),
            _ => Err(UnknownForwardedHeader(s.to_owned())),
        }
    }
}

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
    header: ForwardedHeader,
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
        Ok(Self {
            nets,
            header: ForwardedHeader::default(),
        })
    }
}

impl TrustedProxies {
    /// Trusts nobody: the peer address is always the client's.
    pub fn none() -> Self {
        Self::default()
    }

    /// Reads the client address from `header` (default `X-Forwarded-For`).
    pub fn with_header(mut self, header: ForwardedHeader) -> Self {
        self.header = header;
        self
    }

    /// The header the client address is read from.
    pub fn header(&self) -> ForwardedHeader {
        self.header
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
    /// trusted proxy; otherwise, walking the configured header (every such
    /// header, in order: `X-Forwarded-For` hops, or the `for=` of each
    /// `Forwarded` element) from the right, the first hop that is not a
    /// trusted proxy. A hop that is not an address (`unknown`, an
    /// obfuscated node, an element without `for=`) stops the walk at the
    /// last address seen (a trusted proxy); when every hop is trusted, the
    /// leftmost one is the client.
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = canonical(peer);
        if !self.contains(peer) {
            return peer;
        }
        let values = headers
            .get_all(self.header.as_str())
            .iter()
            .filter_map(|v| v.to_str().ok());
        let hops: Vec<Option<IpAddr>> = match self.header {
            ForwardedHeader::XForwardedFor => values
                .flat_map(|v| v.split(','))
                .map(|hop| parse_hop(hop.trim()))
                .collect(),
            ForwardedHeader::Forwarded => values
                .flat_map(|v| split_unquoted(v, ','))
                .map(forwarded_for)
                .collect(),
        };
        let mut client = peer;
        for hop in hops.iter().rev() {
            let Some(ip) = *hop else {
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

/// One `X-Forwarded-For` element or `Forwarded` node: an address, optionally
/// with a port (`1.2.3.4:5678`, `[::1]:5678`) or in brackets (`[::1]`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    if let Some(v6) = hop.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return v6
            .parse::<std::net::Ipv6Addr>()
            .ok()
            .map(|ip| canonical(ip.into()));
    }
    hop.parse::<std::net::SocketAddr>()
        .ok()
        .map(|s| canonical(s.ip()))
}

/// `text` split at each `sep` outside double quotes (RFC 7230's
/// quoted-string, backslash escapes included).
fn split_unquoted(text: &str, sep: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in text.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            c if c == sep && !quoted => {
                parts.push(&text[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

/// The address in the `for=` parameter of one `Forwarded` element
/// (`for=192.0.2.60;proto=https`, `for="[2001:db8::17]:4711"`); `None` when
/// it has none or it is no address (`unknown`, `_hidden`).
fn forwarded_for(element: &str) -> Option<IpAddr> {
    split_unquoted(element, ';').into_iter().find_map(|pair| {
        let (name, value) = pair.trim().split_once('=')?;
        if !name.trim().eq_ignore_ascii_case("for") {
            return None;
        }
        let value = value.trim();
        let node = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(value);
        parse_hop(node)
    })
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
        // Only the configured header counts.
        let mut forwarded = HeaderMap::new();
        forwarded.append(FORWARDED, "for=1.1.1.1".parse().unwrap());
        assert_eq!(t.client_ip(proxy, &forwarded), proxy);
        // Mapped peers are normalised.
        assert_eq!(
            TrustedProxies::none().client_ip(ip("::ffff:1.2.3.4"), &HeaderMap::new()),
            ip("1.2.3.4")
        );
    }

    fn forwarded(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(FORWARDED, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn the_forwarded_header_of_rfc_7239_when_configured() {
        let t = "10.0.0.0/8"
            .parse::<TrustedProxies>()
            .unwrap()
            .with_header(ForwardedHeader::Forwarded);
        let proxy = ip("10.0.0.1");
        // RFC 7239's examples: parameters in any order and case, quoted
        // IPv6 nodes with ports, several elements and headers.
        assert_eq!(
            t.client_ip(
                proxy,
                &forwarded(&["for=192.0.2.60;proto=http;by=203.0.113.43"])
            ),
            ip("192.0.2.60")
        );
        assert_eq!(
            t.client_ip(proxy, &forwarded(&["For=\"[2001:db8:cafe::17]:4711\""])),
            ip("2001:db8:cafe::17")
        );
        assert_eq!(
            t.client_ip(
                proxy,
                &forwarded(&[
                    "for=6.6.6.6, proto=https;for=2.2.2.2",
                    "for=\"10.0.0.9:80\""
                ])
            ),
            ip("2.2.2.2")
        );
        assert_eq!(
            t.client_ip(
                proxy,
                &forwarded(&["for=\"[::1]\";host=\"a,b\", for=10.0.0.3"])
            ),
            ip("::1")
        );
        // `unknown`, obfuscated nodes and elements without `for=` stop the
        // walk at the last trusted address.
        for stop in ["for=unknown", "for=_hidden", "proto=https", "for="] {
            let h = forwarded(&[&format!("for=1.1.1.1, {stop}, for=10.0.0.7")]);
            assert_eq!(t.client_ip(proxy, &h), ip("10.0.0.7"), "{stop}");
        }
        // X-Forwarded-For is not read then; an untrusted peer's header never.
        assert_eq!(t.client_ip(proxy, &xff(&["1.1.1.1"])), proxy);
        assert_eq!(
            t.client_ip(ip("8.8.8.8"), &forwarded(&["for=1.1.1.1"])),
            ip("8.8.8.8")
        );
    }

    #[test]
    fn header_names_parse() {
        assert_eq!(
            "Forwarded".parse::<ForwardedHeader>().unwrap(),
            ForwardedHeader::Forwarded
        );
        assert_eq!(
            " x-forwarded-for ".parse::<ForwardedHeader>().unwrap(),
            ForwardedHeader::XForwardedFor
        );
        assert!("x-real-ip".parse::<ForwardedHeader>().is_err());
        assert_eq!(ForwardedHeader::default().to_string(), "x-forwarded-for");
    }
}
