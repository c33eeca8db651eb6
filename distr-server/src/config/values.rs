//! The leaf types of the configuration tree: each parses from the text an
//! environment variable or a flag gives and prints back to what `config
//! print` shows, so one value means the same from every source.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use croner::Cron;
use distr_core::upstream::EgressPolicy;
use distr_hyper::{PublicUrl, TrustedProxies};
use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Serde through `Display`/`FromStr`: for leaf types that are text in TOML.
pub(crate) mod via_str {
    use super::*;

    /// Writes `value` as its `Display` text.
    pub fn serialize<T: fmt::Display, S: Serializer>(value: &T, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(value)
    }

    /// Reads a string and parses it with `FromStr`.
    pub fn deserialize<'de, T, D>(d: D) -> Result<T, D::Error>
    where
        T: FromStr,
        T::Err: fmt::Display,
        D: Deserializer<'de>,
    {
        let text = String::deserialize(d)?;
        text.parse()
            .map_err(|e| D::Error::custom(format!("{text:?}: {e:#}")))
    }
}

/// A number (or any value serde reads natively) given either as a TOML
/// value or as text (from the environment or a flag).
pub(crate) fn lenient<'de, T, D>(d: D) -> Result<T, D::Error>
where
    T: FromStr + DeserializeOwned,
    T::Err: fmt::Display,
    D: Deserializer<'de>,
{
    match toml::Value::deserialize(d)? {
        toml::Value::String(text) => text
            .trim()
            .parse()
            .map_err(|e| D::Error::custom(format!("{text:?}: {e}"))),
        value => T::deserialize(value).map_err(D::Error::custom),
    }
}

/// A switch given as a TOML boolean or as text: `true`/`false`, `1`/`0`,
/// `yes`/`no`, `on`/`off`.
pub(crate) fn lenient_bool<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    match toml::Value::deserialize(d)? {
        toml::Value::Boolean(b) => Ok(b),
        toml::Value::String(text) => match text.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(true),
            "false" | "0" | "no" | "off" | "" => Ok(false),
            _ => Err(D::Error::custom(format!(
                "{text:?} is not a switch (true/false, on/off, yes/no, 1/0)"
            ))),
        },
        other => Err(D::Error::custom(format!(
            "expected a boolean, found {}",
            other.type_str()
        ))),
    }
}

/// A feature switch: `on` or `off`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Toggle {
    /// Enabled.
    On,
    /// Disabled.
    Off,
}

/// Where blob bytes are kept.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BlobStoreKind {
    /// Files under `<data-dir>/blobs` and `<data-dir>/uploads` (the default).
    #[default]
    Local,
    /// Process memory (lost on exit; for demos and tests).
    Memory,
    /// Amazon S3 or an S3-compatible service.
    S3,
    /// Google Cloud Storage (credentials from `GOOGLE_*` variables).
    Gcs,
    /// Azure Blob Storage (credentials from `AZURE_*` variables).
    Azure,
}

/// A configuration value that must never be printed (a key, a token): its
/// `Debug` and its serialization (what `config print` shows) are
/// `<redacted>`. Empty means unset.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

/// What a secret prints as.
pub const REDACTED: &str = "<redacted>";

impl Secret {
    /// The value, for the one place that uses it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The value unless it is empty (unset).
    pub fn get(&self) -> Option<&str> {
        (!self.0.is_empty()).then_some(self.0.as_str())
    }
}

impl FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Secret(s.to_owned()))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(if self.0.is_empty() { "" } else { REDACTED })
    }
}

/// A database URL: a [`Secret`] whose serialization shows everything but
/// the password (`postgres://distr:<redacted>@db/distr`).
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct DatabaseUrl(Secret);

impl DatabaseUrl {
    /// The URL unless it is empty (unset).
    pub fn get(&self) -> Option<&str> {
        self.0.get()
    }

    /// The URL with its password (user info after `:`, or a `password=`
    /// parameter) replaced by `<redacted>`.
    pub fn redacted(&self) -> String {
        redact_url(self.0.expose())
    }
}

impl FromStr for DatabaseUrl {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(DatabaseUrl(Secret(s.to_owned())))
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl Serialize for DatabaseUrl {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.redacted())
    }
}

/// `url` without its password.
fn redact_url(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (format!("{scheme}://"), rest),
        // Not a URL (a key=value string, say): nothing is known to be safe.
        None if url.is_empty() => return String::new(),
        None => return REDACTED.to_owned(),
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let authority = match authority.rsplit_once('@') {
        Some((user_info, host)) => match user_info.split_once(':') {
            Some((user, _password)) => format!("{user}:{REDACTED}@{host}"),
            None => format!("{user_info}@{host}"),
        },
        None => authority.to_owned(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let query: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((k, _)) if k.eq_ignore_ascii_case("password") => {
                        format!("{k}={REDACTED}")
                    }
                    _ => pair.to_owned(),
                })
                .collect();
            format!("{path}?{}", query.join("&"))
        }
        None => tail.to_owned(),
    };
    format!("{scheme}{authority}{tail}")
}

/// A cron schedule (UTC, five fields or six with leading seconds); empty
/// means never.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Schedule(Option<Cron>);

impl Schedule {
    /// The schedule, `None` when disabled.
    pub fn cron(&self) -> Option<&Cron> {
        self.0.as_ref()
    }

    /// The built-in schedule `expr` (a constant, checked by the tests:
    /// were it invalid, the schedule would be off).
    pub(crate) fn default_or_never(expr: &str) -> Self {
        expr.parse().unwrap_or(Schedule(None))
    }
}

impl FromStr for Schedule {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> anyhow::Result<Self> {
        crate::schedule::parse_cron(s).map(Schedule)
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Some(cron) => write!(f, "{cron}"),
            None => Ok(()),
        }
    }
}

/// A duration written `90`, `90s`, `15m`, `24h` or `7d`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HumanDuration(pub Duration);

impl FromStr for HumanDuration {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> anyhow::Result<Self> {
        parse_duration(s).map(HumanDuration)
    }
}

impl fmt::Display for HumanDuration {
    /// In the largest unit that divides it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.0.as_secs();
        match [(86_400, "d"), (3600, "h"), (60, "m")]
            .into_iter()
            .find(|(unit, _)| secs > 0 && secs.is_multiple_of(*unit))
        {
            Some((unit, suffix)) => write!(f, "{}{suffix}", secs / unit),
            None => write!(f, "{secs}s"),
        }
    }
}

/// A size in bytes written `1048576`, `512k`, `100m`, `20g` or `1t`
/// (binary multiples; `MiB`, `GB` and the like too); empty means none.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ByteSize(pub Option<u64>);

impl FromStr for ByteSize {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> anyhow::Result<Self> {
        if s.trim().is_empty() {
            return Ok(ByteSize(None));
        }
        parse_bytes(s).map(|n| ByteSize(Some(n)))
    }
}

impl fmt::Display for ByteSize {
    /// In the largest binary unit that divides it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(n) = self.0 else { return Ok(()) };
        match [(40, "TiB"), (30, "GiB"), (20, "MiB"), (10, "KiB")]
            .into_iter()
            .find(|(shift, _)| n > 0 && n.is_multiple_of(1u64 << shift))
        {
            Some((shift, unit)) => write!(f, "{}{unit}", n >> shift),
            None => write!(f, "{n}"),
        }
    }
}

/// An address, or empty for none.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OptionalAddr(pub Option<std::net::SocketAddr>);

impl FromStr for OptionalAddr {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> anyhow::Result<Self> {
        match s.trim() {
            "" => Ok(OptionalAddr(None)),
            addr => addr
                .parse()
                .map(|a| OptionalAddr(Some(a)))
                .with_context(|| format!("{addr:?} is no address:port")),
        }
    }
}

impl fmt::Display for OptionalAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(addr) => write!(f, "{addr}"),
            None => Ok(()),
        }
    }
}

/// The registry's public URL (`DISTR_PUBLIC_URL`), or empty for one
/// derived from the listen address.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OptionalUrl(pub Option<PublicUrl>);

impl FromStr for OptionalUrl {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> anyhow::Result<Self> {
        match s.trim() {
            "" => Ok(OptionalUrl(None)),
            url => Ok(OptionalUrl(Some(url.parse()?))),
        }
    }
}

impl fmt::Display for OptionalUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Some(url) => write!(f, "{url}"),
            None => Ok(()),
        }
    }
}

/// Reverse proxies whose `X-Forwarded-For` is believed: comma-separated
/// addresses and CIDRs, kept with the text they were given as.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProxyList {
    text: String,
    parsed: TrustedProxies,
}

impl ProxyList {
    /// The parsed list.
    pub fn proxies(&self) -> &TrustedProxies {
        &self.parsed
    }
}

impl FromStr for ProxyList {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> anyhow::Result<Self> {
        Ok(ProxyList {
            parsed: s.parse().context("parsing the trusted proxies")?,
            text: s.trim().to_owned(),
        })
    }
}

impl fmt::Display for ProxyList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// The operator's upstream allow-list (`DISTR_UPSTREAM_ALLOW`): hosts,
/// `host:port`, addresses and networks that upstreams may reach although
/// they are not public (and over plain HTTP), kept with their text.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AllowList {
    text: String,
    parsed: Arc<EgressPolicy>,
}

impl AllowList {
    /// The egress policy of upstream connections.
    pub fn policy(&self) -> &Arc<EgressPolicy> {
        &self.parsed
    }
}

impl FromStr for AllowList {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> anyhow::Result<Self> {
        Ok(AllowList {
            parsed: Arc::new(EgressPolicy::parse(s).context("parsing the upstream allow-list")?),
            text: s.trim().to_owned(),
        })
    }
}

impl fmt::Display for AllowList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// The leading digits of `s` (a `what`) as a number, and the rest.
fn number_and_unit<'s>(s: &'s str, what: &str) -> anyhow::Result<(u64, &'s str)> {
    let s = s.trim();
    let (number, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n = number
        .parse()
        .with_context(|| format!("invalid {what} {s:?}"))?;
    Ok((n, unit))
}

/// Parses `90`, `90s`, `15m`, `24h` or `7d`.
pub fn parse_duration(s: &str) -> anyhow::Result<Duration> {
    let (n, unit) = number_and_unit(s, "duration")?;
    let secs = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => anyhow::bail!("invalid duration unit in {:?} (use s, m, h or d)", s.trim()),
    };
    Ok(Duration::from_secs(n.saturating_mul(secs)))
}

/// Parses `1048576`, `512k`, `100m`, `20g` or `1t` (binary multiples).
pub fn parse_bytes(s: &str) -> anyhow::Result<u64> {
    let (n, unit) = number_and_unit(s, "size")?;
    let shift = match unit
        .to_ascii_lowercase()
        .trim_end_matches("ib")
        .trim_end_matches('b')
    {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        "t" => 40,
        _ => anyhow::bail!("invalid size unit in {:?} (use k, m, g or t)", s.trim()),
    };
    n.checked_mul(1 << shift)
        .with_context(|| format!("size {:?} is too large", s.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_sizes() {
        assert_eq!(parse_duration("24h").unwrap(), Duration::from_secs(86_400));
        assert_eq!(parse_duration("2").unwrap(), Duration::from_secs(2));
        assert_eq!(
            parse_duration("7d").unwrap(),
            Duration::from_secs(7 * 86_400)
        );
        assert!(parse_duration("1w").is_err());
        assert_eq!(parse_bytes("512k").unwrap(), 512 << 10);
        assert_eq!(parse_bytes("100MiB").unwrap(), 100 << 20);
        assert_eq!(parse_bytes("42").unwrap(), 42);
        assert!(parse_bytes("1x").is_err());
        for (text, shown) in [("86400", "1d"), ("90", "90s"), ("0", "0s"), ("120m", "2h")] {
            assert_eq!(text.parse::<HumanDuration>().unwrap().to_string(), shown);
        }
        for (text, shown) in [
            ("10g", "10GiB"),
            ("1000", "1000"),
            ("", ""),
            ("2048", "2KiB"),
        ] {
            assert_eq!(text.parse::<ByteSize>().unwrap().to_string(), shown);
        }
    }

    #[test]
    fn database_urls_print_without_their_password() {
        for (url, shown) in [
            (
                "postgres://distr:hunter2@db:5432/distr",
                "postgres://distr:<redacted>@db:5432/distr",
            ),
            ("postgres://distr@db/distr", "postgres://distr@db/distr"),
            (
                "postgres://db/distr?user=x&password=hunter2",
                "postgres://db/distr?user=x&password=<redacted>",
            ),
            ("host=db password=hunter2", REDACTED),
            ("", ""),
        ] {
            let parsed: DatabaseUrl = url.parse().unwrap();
            assert_eq!(parsed.redacted(), shown);
            assert_eq!(format!("{parsed:?}"), shown);
        }
        assert_eq!(format!("{:?}", "k".parse::<Secret>().unwrap()), REDACTED);
    }
}
