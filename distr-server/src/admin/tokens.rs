//! `admin token create|list|revoke`.

use anyhow::{anyhow, bail};
use distr_core::access::{AccessStore, PlainToken, TokenId, TokenRecord};
use serde_json::json;

use super::lookup::{self, format_expiry, format_instant, json_instant, UserSelector};
use super::Output;

/// Longest accepted `--expires-in-days`.
const MAX_DAYS: u32 = 36_500;
const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// `admin token …`
#[derive(Debug, clap::Subcommand)]
pub enum TokenCommand {
    /// Create a token for a user and print its secret (once) on stdout.
    Create {
        /// The vendor organisation's slug.
        #[arg(long)]
        org: String,
        /// The owner.
        #[command(flatten)]
        owner: UserSelector,
        /// A label for the token.
        #[arg(long, default_value = "admin-cli")]
        name: String,
        /// Expire after this many days [default: never].
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=MAX_DAYS as i64))]
        expires_in_days: Option<u32>,
    },
    /// List a user's tokens (never their secrets).
    List {
        /// The vendor organisation's slug.
        #[arg(long)]
        org: String,
        /// The owner.
        #[command(flatten)]
        owner: UserSelector,
    },
    /// Revoke a token; servers refuse it within about a second.
    Revoke {
        /// The token id (from `token list`).
        id: TokenId,
    },
}

/// `active`, `revoked` or `expired` at `now_ms`.
pub fn status(t: &TokenRecord, now_ms: i64) -> &'static str {
    if t.revoked_at_ms.is_some() {
        "revoked"
    } else if t.is_active(now_ms) {
        "active"
    } else {
        "expired"
    }
}

/// JSON of a token record (without its hash).
pub fn to_json(t: &TokenRecord, email: &str, now_ms: i64) -> serde_json::Value {
    json!({
        "id": t.id,
        "user_id": t.user_id,
        "email": email,
        "name": t.name,
        "status": status(t, now_ms),
        "created_at": format_instant(t.created_at_ms),
        "expires_at": json_instant(t.expires_at_ms),
        "last_used_at": json_instant(t.last_used_at_ms),
        "revoked_at": json_instant(t.revoked_at_ms),
    })
}

pub(super) async fn run(
    cmd: &TokenCommand,
    store: &dyn AccessStore,
    out: &mut Output<'_>,
    now_ms: i64,
) -> anyhow::Result<()> {
    match cmd {
        TokenCommand::Create {
            org,
            owner,
            name,
            expires_in_days,
        } => {
            let org = lookup::org(store, org).await?;
            let user = lookup::user(store, &org, owner).await?;
            let name = name.trim();
            if name.is_empty() {
                bail!("--name must not be empty");
            }
            let secret = PlainToken::generate().map_err(|e| anyhow!("generating a token: {e}"))?;
            let record = TokenRecord {
                id: TokenId::new(),
                user_id: user.id,
                name: name.to_owned(),
                hash: secret.hash(),
                expires_at_ms: expires_in_days.map(|d| now_ms + i64::from(d) * DAY_MS),
                last_used_at_ms: None,
                revoked_at_ms: None,
                created_at_ms: now_ms,
            };
            store.create_token(&record).await?;
            if !out.is_json() {
                out.note(&format!(
                    "created token {} ({:?}) for {} in {}, expires {}; the secret below is shown only once:",
                    record.id,
                    record.name,
                    user.email,
                    org.slug,
                    format_expiry(record.expires_at_ms)
                ))?;
            }
            out.result(
                || secret.expose().to_owned(),
                || {
                    let mut v = to_json(&record, &user.email, now_ms);
                    v["secret"] = json!(secret.expose());
                    v
                },
            )
        }
        TokenCommand::List { org, owner } => {
            let org = lookup::org(store, org).await?;
            let user = lookup::user(store, &org, owner).await?;
            let tokens = store.list_tokens(user.id).await?;
            out.list(
                &tokens,
                &format!("{} has no tokens", user.email),
                |t| {
                    format!(
                        "{}  {:?}  status={}  created={}  expires={}  last-used={}",
                        t.id,
                        t.name,
                        status(t, now_ms),
                        format_instant(t.created_at_ms),
                        format_expiry(t.expires_at_ms),
                        t.last_used_at_ms
                            .map(format_instant)
                            .unwrap_or_else(|| "never".to_owned())
                    )
                },
                |t| to_json(t, &user.email, now_ms),
            )
        }
        TokenCommand::Revoke { id } => {
            let token = store
                .get_token(*id)
                .await?
                .ok_or_else(|| anyhow!("unknown token {id}"))?;
            let email = store
                .get_user(token.user_id)
                .await?
                .map(|u| u.email)
                .unwrap_or_default();
            if let Some(at) = token.revoked_at_ms {
                out.note(&format!(
                    "token {id} was already revoked at {}",
                    format_instant(at)
                ))?;
            } else if !store.revoke_token(*id, now_ms).await? {
                bail!("unknown token {id}");
            }
            let token = store.get_token(*id).await?.unwrap_or(token);
            out.result(
                || format!("revoked token {id} ({:?}) of {email}", token.name),
                || to_json(&token, &email, now_ms),
            )
        }
    }
}
