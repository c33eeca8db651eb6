//! Finding records by what an operator types (slugs, names, emails, ids),
//! validating input, and dates.

use anyhow::{anyhow, bail, Context as _};
use chrono::{DateTime, SecondsFormat, Utc};
use distr_core::access::{
    AccessStore, Artifact, Customer, CustomerId, Org, TagPattern, TagSelection, User,
};
use distr_core::RepoName;

/// Fails unless `slug` is one repository name segment (`acme`, `big-corp`).
pub fn validate_slug(slug: &str) -> anyhow::Result<()> {
    if !distr_core::access::is_valid_slug(slug) {
        bail!(
            "{slug:?} is not a valid organisation slug: use lower-case letters and digits, \
             separated by '.', '_', '__' or '-' (it becomes the first segment of repository names)"
        );
    }
    Ok(())
}

/// The repository `<slug>/<name>` of an artifact, or a clear error.
pub fn artifact_repository(slug: &str, name: &str) -> anyhow::Result<RepoName> {
    format!("{slug}/{name}").parse::<RepoName>().map_err(|_| {
        anyhow!(
            "{name:?} is not a valid artifact name: use lower-case path segments \
             (letters and digits separated by '.', '_', '__' or '-'), joined by '/'"
        )
    })
}

/// Normalizes and checks an email address (see
/// [`distr_core::access::normalize_email`]).
pub fn normalize_email(email: &str) -> anyhow::Result<String> {
    distr_core::access::normalize_email(email)
        .ok_or_else(|| anyhow!("{:?} is not a valid email address", email.trim()))
}

/// The organisation `slug`.
pub async fn org(store: &dyn AccessStore, slug: &str) -> anyhow::Result<Org> {
    store
        .get_org_by_slug(slug)
        .await?
        .ok_or_else(|| anyhow!("unknown organisation {slug:?} (see `distr-server admin org list`)"))
}

/// A customer of `org` by id or by (unique) name.
pub async fn customer(
    store: &dyn AccessStore,
    org: &Org,
    id_or_name: &str,
) -> anyhow::Result<Customer> {
    if let Ok(id) = id_or_name.parse::<CustomerId>() {
        if let Some(c) = store.get_customer(id).await? {
            if c.org_id == org.id {
                return Ok(c);
            }
        }
    }
    let mut matches: Vec<Customer> = store
        .list_customers(org.id)
        .await?
        .into_iter()
        .filter(|c| c.name == id_or_name)
        .collect();
    match matches.len() {
        1 => Ok(matches.remove(0)),
        0 => bail!(
            "unknown customer {id_or_name:?} in {} (see `distr-server admin customer list --org {}`)",
            org.slug,
            org.slug
        ),
        n => bail!(
            "{n} customers of {} are named {id_or_name:?}; name one by its id",
            org.slug
        ),
    }
}

/// Which user an `--email` names. Addresses are unique per customer (and
/// among the vendor's own users), so one address may name several users:
/// `--customer` or `--vendor` picks one.
#[derive(Debug, Clone, clap::Args)]
pub struct UserSelector {
    /// The user's email.
    #[arg(long)]
    pub email: String,
    /// The user's customer (id or name), when the address is used by more
    /// than one customer.
    #[arg(long, conflicts_with = "vendor")]
    pub customer: Option<String>,
    /// The vendor's own user with this address (a vendor admin), when
    /// customers use the address too.
    #[arg(long)]
    pub vendor: bool,
}

/// The user of `org` that `who` names; an error naming every customer that
/// has the address when it is ambiguous.
pub async fn user(store: &dyn AccessStore, org: &Org, who: &UserSelector) -> anyhow::Result<User> {
    let email = normalize_email(&who.email)?;
    let scope = match &who.customer {
        Some(c) => Some(Some(customer(store, org, c).await?.id)),
        None if who.vendor => Some(None),
        None => None,
    };
    let mut matches: Vec<User> = store
        .list_users(org.id, None)
        .await?
        .into_iter()
        .filter(|u| u.email.eq_ignore_ascii_case(&email))
        .filter(|u| scope.is_none_or(|s| u.customer_id == s))
        .collect();
    match matches.len() {
        1 => Ok(matches.remove(0)),
        0 => bail!(
            "unknown user {email:?} in {} (see `distr-server admin user list --org {}`)",
            org.slug,
            org.slug
        ),
        _ => {
            let mut owners = Vec::new();
            for u in &matches {
                owners.push(match u.customer_id {
                    None => "the vendor itself (--vendor)".to_owned(),
                    Some(id) => match store.get_customer(id).await? {
                        Some(c) => format!("customer {:?} (--customer {})", c.name, c.id),
                        None => format!("customer {id}"),
                    },
                });
            }
            bail!(
                "{} users of {} have the email {email:?}: {}; say which",
                matches.len(),
                org.slug,
                owners.join(", ")
            )
        }
    }
}

/// The artifact `name` of `org`, also when given as its repository name
/// (`acme/app` for the artifact `app` of `acme`).
pub async fn artifact(store: &dyn AccessStore, org: &Org, name: &str) -> anyhow::Result<Artifact> {
    if let Some(found) = store.get_artifact_by_name(org.id, name).await? {
        return Ok(found);
    }
    // The repository name (`acme/app`) names the artifact `app` of `acme`.
    let in_org = name
        .strip_prefix(org.slug.as_str())
        .and_then(|rest| rest.strip_prefix('/'));
    if let Some(short) = in_org.filter(|s| !s.is_empty()) {
        if let Some(found) = store.get_artifact_by_name(org.id, short).await? {
            return Ok(found);
        }
    }
    let short = in_org.unwrap_or(name);
    Err(anyhow!(
        "unknown artifact {name:?} in {slug}: create it with `distr-server admin artifact \
         create --org {slug} {short}` or push to {slug}/{short} as a vendor admin",
        slug = org.slug
    ))
}

/// `all`, or comma-separated tag names and patterns (`1.2.*,latest`).
pub fn parse_tags(text: &str) -> anyhow::Result<TagSelection> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("all") {
        return Ok(TagSelection::All);
    }
    let patterns = text
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            p.parse::<TagPattern>()
                .map_err(|e| anyhow!("invalid tag pattern: {e}"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    if patterns.is_empty() {
        bail!("--tags needs `all` or at least one tag name or pattern");
    }
    Ok(TagSelection::Only(patterns))
}

/// `all` or the patterns joined by commas.
pub fn format_tags(tags: &TagSelection) -> String {
    match tags {
        TagSelection::All => "all".to_owned(),
        TagSelection::Only(ps) => ps
            .iter()
            .map(TagPattern::as_str)
            .collect::<Vec<_>>()
            .join(","),
    }
}

/// An instant given as RFC 3339 (`2027-01-31T00:00:00Z`) or as milliseconds
/// since the Unix epoch.
pub fn parse_instant(text: &str) -> anyhow::Result<i64> {
    let text = text.trim();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text
            .parse::<i64>()
            .with_context(|| format!("{text:?} is out of range"));
    }
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.timestamp_millis())
        .map_err(|e| {
            anyhow!(
                "{text:?} is neither an RFC 3339 time (2027-01-31T00:00:00Z) nor \
                 milliseconds since the Unix epoch: {e}"
            )
        })
}

/// RFC 3339 in UTC, to the second.
pub fn format_instant(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
        .unwrap_or_else(|| format!("{ms} ms"))
}

/// [`format_instant`], or `never` for `None`.
pub fn format_expiry(ms: Option<i64>) -> String {
    ms.map(format_instant).unwrap_or_else(|| "never".to_owned())
}

/// [`format_instant`] as JSON, `null` for `None`.
pub fn json_instant(ms: Option<i64>) -> serde_json::Value {
    ms.map(|t| serde_json::Value::String(format_instant(t)))
        .unwrap_or(serde_json::Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs() {
        assert!(validate_slug("acme").is_ok() && validate_slug("big-corp.io").is_ok());
        for bad in ["", "Acme", "a/b", "-x", "a b"] {
            assert!(validate_slug(bad).is_err(), "{bad}");
        }
        assert!(artifact_repository("acme", "charts/web").is_ok());
        assert!(artifact_repository("acme", "").is_err());
        assert!(artifact_repository("acme", "App").is_err());
        assert_eq!(normalize_email(" A@B.test ").unwrap(), "a@b.test");
        for bad in ["", "a", "@b", "a@", "a@b@c", "a b@c"] {
            assert!(normalize_email(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_tags("all").unwrap(), TagSelection::All);
        assert_eq!(
            format_tags(&parse_tags("1.2.*, latest").unwrap()),
            "1.2.*,latest"
        );
        assert!(parse_tags("").is_err() && parse_tags(",").is_err() && parse_tags("a b").is_err());
        assert_eq!(parse_instant("1700000000000").unwrap(), 1_700_000_000_000);
        assert_eq!(
            parse_instant("2023-11-14T22:13:20Z").unwrap(),
            1_700_000_000_000
        );
        assert_eq!(
            parse_instant("2023-11-15T00:13:20+02:00").unwrap(),
            1_700_000_000_000
        );
        assert!(parse_instant("tomorrow").is_err() && parse_instant("").is_err());
        assert_eq!(format_instant(1_700_000_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(format_expiry(None), "never");
    }
}
