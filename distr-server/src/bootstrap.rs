//! First-start bootstrap: a registry that requires tokens is useless until
//! somebody holds one, so `distr-server` creates a vendor organisation, its
//! admin and a token when the database has no organisation yet.
//!
//! The token is `DISTR_BOOTSTRAP_TOKEN` when set (so deployments and tests
//! can fix it in advance), otherwise a fresh one that the server shows once.
//! With `DISTR_BOOTSTRAP_TOKEN` set, later starts make sure the token still
//! exists, so restarts with the same environment keep working.

use anyhow::{bail, Context as _};
use distr_core::access::{
    AccessStore, Org, OrgId, PlainToken, Role, TokenId, TokenRecord, User, UserId, TOKEN_PREFIX,
};
use distr_core::StoreError;

use crate::admin::lookup::validate_slug;
use crate::config::model::BootstrapSettings;

/// The environment variable holding the bootstrap token secret.
pub const TOKEN_ENV: &str = "DISTR_BOOTSTRAP_TOKEN";

/// Shortest accepted bootstrap token secret.
pub const MIN_TOKEN_LEN: usize = 32;

/// Name of the token record created by the bootstrap.
pub const TOKEN_NAME: &str = "bootstrap";

/// What [`run`] did.
#[derive(Debug)]
pub enum Outcome {
    /// The database had no organisation: one was created with its admin and a
    /// token. `generated` is the secret when none was configured (show it once).
    Created {
        /// The new organisation.
        org: Org,
        /// Its vendor admin.
        admin: User,
        /// The generated secret, when [`TOKEN_ENV`] was not set.
        generated: Option<PlainToken>,
    },
    /// The configured token was unknown; it was added for `admin`.
    TokenAdded {
        /// The organisation.
        org: Org,
        /// The vendor admin who owns the token.
        admin: User,
    },
    /// The database already has organisations, none of them `slug`: the
    /// bootstrap setting changed after the first start and is ignored (the
    /// caller warns, naming the organisations that exist).
    OrgIgnored {
        /// The configured slug.
        slug: String,
        /// The slugs that exist.
        existing: Vec<String>,
    },
    /// Nothing to do.
    Unchanged,
}

/// Validates a configured bootstrap token secret (never echoing it).
pub fn parse_token(secret: &str) -> anyhow::Result<PlainToken> {
    let printable = secret.bytes().all(|b| b.is_ascii_graphic());
    if !secret.starts_with(TOKEN_PREFIX) || secret.len() < MIN_TOKEN_LEN || !printable {
        bail!(
            "{TOKEN_ENV} must start with \"{TOKEN_PREFIX}\" and be at least {MIN_TOKEN_LEN} \
             printable ASCII characters without spaces (generate one with \
             `echo {TOKEN_PREFIX}$(openssl rand -hex 32)`)"
        );
    }
    Ok(PlainToken::from_secret(secret))
}

/// The configured bootstrap token (`bootstrap.token`, usually from
/// [`TOKEN_ENV`]); empty means none.
pub fn configured_token(settings: &BootstrapSettings) -> anyhow::Result<Option<PlainToken>> {
    settings.token.get().map(parse_token).transpose()
}

/// The operator token (`server.operator_token`, `DISTR_OPERATOR_TOKEN`):
/// `None` when unset; at least [`MIN_TOKEN_LEN`] printable characters, and
/// not the bootstrap token (an operator is not a vendor admin).
pub fn operator_token(
    operator: &crate::config::values::Secret,
    bootstrap: &BootstrapSettings,
) -> anyhow::Result<Option<PlainToken>> {
    let Some(secret) = operator.get() else {
        return Ok(None);
    };
    if secret.len() < MIN_TOKEN_LEN || !secret.bytes().all(|b| b.is_ascii_graphic()) {
        bail!(
            "DISTR_OPERATOR_TOKEN must be at least {MIN_TOKEN_LEN} printable ASCII characters \
             without spaces (generate one with `openssl rand -hex 32`)"
        );
    }
    if bootstrap.token.get() == Some(secret) {
        bail!("DISTR_OPERATOR_TOKEN must differ from DISTR_BOOTSTRAP_TOKEN");
    }
    Ok(Some(PlainToken::from_secret(secret)))
}

/// The email of the bootstrap vendor admin of `slug`.
pub fn admin_email(slug: &str) -> String {
    format!("admin@{slug}")
}

/// Creates the organisation `slug`, its admin and a token when the store has
/// no organisation; otherwise makes sure `token` (if any) exists.
pub async fn run(
    store: &dyn AccessStore,
    slug: &str,
    token: Option<&PlainToken>,
    now_ms: i64,
) -> anyhow::Result<Outcome> {
    validate_slug(slug).context("invalid bootstrap organisation (DISTR_BOOTSTRAP_ORG)")?;
    if store.list_orgs().await?.is_empty() {
        match create_all(store, slug, token, now_ms).await {
            Err(CreateError::OrgRace) => {} // another process bootstrapped first
            Err(CreateError::Other(e)) => return Err(e),
            Ok(outcome) => return Ok(outcome),
        }
    }
    let Some(token) = token else {
        if store.get_org_by_slug(slug).await?.is_some() {
            return Ok(Outcome::Unchanged);
        }
        return Ok(Outcome::OrgIgnored {
            slug: slug.to_owned(),
            existing: org_slugs(store).await?,
        });
    };
    if let Some((record, user)) = store.find_token(&token.hash()).await? {
        if !record.is_active(now_ms) {
            tracing::warn!(
                token = %record.id,
                "{TOKEN_ENV} names a revoked or expired token: it does not authenticate"
            );
        } else if user.role != Role::VendorAdmin {
            tracing::warn!(
                token = %record.id,
                user = %user.email,
                "{TOKEN_ENV} belongs to a customer user, not a vendor admin"
            );
        }
        return Ok(Outcome::Unchanged);
    }
    let Some(org) = store.get_org_by_slug(slug).await? else {
        let known = org_slugs(store).await?;
        bail!(
            "{TOKEN_ENV} is not a known token and organisation {slug:?} (DISTR_BOOTSTRAP_ORG) \
             does not exist to add it to; existing organisations: {}",
            known.join(", ")
        );
    };
    let admin = match store
        .list_users(org.id, None)
        .await?
        .into_iter()
        .find(|u| u.role == Role::VendorAdmin)
    {
        Some(admin) => admin,
        None => {
            let admin = new_admin(&org, now_ms);
            store.create_user(&admin).await.with_context(|| {
                format!(
                    "creating vendor admin {} for {TOKEN_ENV} in {slug:?}",
                    admin.email
                )
            })?;
            admin
        }
    };
    store
        .create_token(&token_record(&admin, token, now_ms))
        .await
        .context("storing the bootstrap token")?;
    Ok(Outcome::TokenAdded { org, admin })
}

/// The slugs of every organisation, for messages naming them.
async fn org_slugs(store: &dyn AccessStore) -> anyhow::Result<Vec<String>> {
    Ok(store
        .list_orgs()
        .await?
        .into_iter()
        .map(|o| o.slug)
        .collect())
}

enum CreateError {
    OrgRace,
    Other(anyhow::Error),
}

impl<E: Into<anyhow::Error>> From<E> for CreateError {
    fn from(e: E) -> Self {
        CreateError::Other(e.into())
    }
}

async fn create_all(
    store: &dyn AccessStore,
    slug: &str,
    token: Option<&PlainToken>,
    now_ms: i64,
) -> Result<Outcome, CreateError> {
    let org = Org {
        id: OrgId::new(),
        slug: slug.to_owned(),
        name: slug.to_owned(),
        created_at_ms: now_ms,
    };
    match store.create_org(&org).await {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => return Err(CreateError::OrgRace),
        Err(e) => {
            return Err(anyhow::Error::new(e)
                .context("creating the bootstrap org")
                .into())
        }
    }
    let admin = new_admin(&org, now_ms);
    store
        .create_user(&admin)
        .await
        .context("creating the bootstrap vendor admin")?;
    let (secret, generated) = match token {
        Some(t) => (t.clone(), None),
        None => {
            let t = PlainToken::generate()
                .map_err(|e| anyhow::anyhow!("generating the bootstrap token: {e}"))?;
            (t.clone(), Some(t))
        }
    };
    store
        .create_token(&token_record(&admin, &secret, now_ms))
        .await
        .context("storing the bootstrap token")?;
    Ok(Outcome::Created {
        org,
        admin,
        generated,
    })
}

fn new_admin(org: &Org, now_ms: i64) -> User {
    User {
        id: UserId::new(),
        org_id: org.id,
        customer_id: None,
        email: admin_email(&org.slug),
        role: Role::VendorAdmin,
        created_at_ms: now_ms,
    }
}

fn token_record(owner: &User, secret: &PlainToken, now_ms: i64) -> TokenRecord {
    TokenRecord {
        id: TokenId::new(),
        user_id: owner.id,
        name: TOKEN_NAME.to_owned(),
        hash: secret.hash(),
        expires_at_ms: None,
        last_used_at_ms: None,
        revoked_at_ms: None,
        created_at_ms: now_ms,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use distr_core::access::MemoryAccessStore;

    const FIXED: &str = "distr_test0000000000000000000000000000";

    #[test]
    fn token_validation() {
        assert!(parse_token(FIXED).is_ok());
        for bad in [
            "",
            "distr_short",
            "nodistr_00000000000000000000000000000000",
            "distr_0000000000000000000000000 000000",
        ] {
            let e = parse_token(bad).unwrap_err().to_string();
            assert!(e.contains(TOKEN_ENV), "{e}");
            assert!(bad.is_empty() || !e.contains(bad), "secret echoed: {e}");
        }
    }

    #[tokio::test]
    async fn creates_once_then_keeps_or_adds_the_configured_token() {
        let store = MemoryAccessStore::new();
        let Outcome::Created {
            org,
            admin,
            generated,
        } = run(&store, "acme", None, 1).await.unwrap()
        else {
            panic!("expected creation")
        };
        assert_eq!(
            (org.slug.as_str(), admin.email.as_str()),
            ("acme", "admin@acme")
        );
        let generated = generated.expect("a generated token");
        let (record, user) = store.find_token(&generated.hash()).await.unwrap().unwrap();
        assert_eq!((user.id, record.name.as_str()), (admin.id, TOKEN_NAME));

        // Second start without a configured token: nothing happens.
        assert!(matches!(
            run(&store, "acme", None, 2).await.unwrap(),
            Outcome::Unchanged
        ));
        // A different organisation on a later start is not created, and
        // says so.
        let Outcome::OrgIgnored { slug, existing } = run(&store, "initech", None, 2).await.unwrap()
        else {
            panic!("expected the setting to be reported as ignored")
        };
        assert_eq!(
            (slug.as_str(), existing),
            ("initech", vec!["acme".to_owned()])
        );
        assert!(store.get_org_by_slug("initech").await.unwrap().is_none());
        // With a configured token unknown so far: added for the first admin, once.
        let fixed = parse_token(FIXED).unwrap();
        let Outcome::TokenAdded { admin: owner, .. } =
            run(&store, "acme", Some(&fixed), 3).await.unwrap()
        else {
            panic!("expected the token to be added")
        };
        assert_eq!(owner.id, admin.id);
        assert!(matches!(
            run(&store, "acme", Some(&fixed), 4).await.unwrap(),
            Outcome::Unchanged
        ));
        assert_eq!(store.list_orgs().await.unwrap().len(), 1);
        assert_eq!(store.list_tokens(admin.id).await.unwrap().len(), 2);
        // An unknown token for an org that does not exist is an error.
        let other = parse_token("distr_other000000000000000000000000000").unwrap();
        let e = run(&store, "nope", Some(&other), 5).await.unwrap_err();
        assert!(e.to_string().contains("acme"), "{e}");
        // Invalid slugs are refused.
        assert!(run(&store, "Not A Slug", None, 6).await.is_err());
    }

    #[test]
    fn operator_token_validation() {
        use crate::config::values::Secret;
        let secret = |s: &str| s.parse::<Secret>().unwrap();
        let bootstrap = BootstrapSettings {
            token: secret(FIXED),
            ..BootstrapSettings::default()
        };
        assert!(operator_token(&secret(""), &bootstrap).unwrap().is_none());
        let op = "0123456789abcdef0123456789abcdef";
        assert_eq!(
            operator_token(&secret(op), &bootstrap)
                .unwrap()
                .unwrap()
                .hash(),
            PlainToken::from_secret(op).hash()
        );
        for bad in ["short", "0123456789abcdef 0123456789abcdef", FIXED] {
            let e = operator_token(&secret(bad), &bootstrap)
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("DISTR_OPERATOR_TOKEN") && !e.contains(bad),
                "{e}"
            );
        }
    }

    #[tokio::test]
    async fn configured_token_on_an_empty_store() {
        let store = MemoryAccessStore::new();
        let fixed = parse_token(FIXED).unwrap();
        let Outcome::Created { generated, .. } =
            run(&store, "default", Some(&fixed), 1).await.unwrap()
        else {
            panic!("expected creation")
        };
        assert!(generated.is_none());
        assert!(store.find_token(&fixed.hash()).await.unwrap().is_some());
    }
}
