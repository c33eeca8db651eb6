//! `distr-server admin …`: manage organisations, customers, users, tokens,
//! artifacts and entitlements directly in the data directory's SQLite
//! database (safe while the server runs: SQLite in WAL mode takes one writer
//! at a time, and the server sees changes on its next request).
//!
//! One module per noun; each parses its verbs with clap and prints
//! human-readable lines (ids included) or, with `--json`, one JSON value.
//! Errors (an unknown organisation, a name already taken…) are returned,
//! and `distr-server` turns them into a message and a non-zero exit status.

pub mod artifacts;
pub mod customers;
pub mod entitlements;
pub mod lookup;
pub mod orgs;
pub mod output;
pub mod tokens;
pub mod users;

use anyhow::bail;
use distr_core::access::AccessStore;

pub use output::Output;

use crate::config::{database_path, Settings};
use crate::storage::Stores;

/// `distr-server admin`.
#[derive(Debug, clap::Args)]
pub struct AdminArgs {
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// What to manage.
    #[command(subcommand)]
    pub command: AdminCommand,
}

/// The nouns.
#[derive(Debug, clap::Subcommand)]
pub enum AdminCommand {
    /// Vendor organisations (their slug is the first segment of their repositories).
    #[command(subcommand)]
    Org(orgs::OrgCommand),
    /// Customer organisations of a vendor.
    #[command(subcommand)]
    Customer(customers::CustomerCommand),
    /// Users: vendor admins, customer admins and customer members.
    #[command(subcommand)]
    User(users::UserCommand),
    /// Personal access tokens (the secret is shown once, at creation).
    #[command(subcommand)]
    Token(tokens::TokenCommand),
    /// Artifacts: repositories `<org>/<name>` customers can be entitled to.
    #[command(subcommand)]
    Artifact(artifacts::ArtifactCommand),
    /// Entitlements: which artifacts and tags a customer may pull, until when.
    #[command(subcommand)]
    Entitlement(entitlements::EntitlementCommand),
}

impl AdminCommand {
    /// True when the command may create the database (only `org create`).
    fn may_create_database(&self) -> bool {
        matches!(self, AdminCommand::Org(orgs::OrgCommand::Create { .. }))
    }
}

/// Runs `command` against `store` at `now_ms`.
pub async fn execute(
    command: &AdminCommand,
    store: &dyn AccessStore,
    out: &mut Output<'_>,
    now_ms: i64,
) -> anyhow::Result<()> {
    match command {
        AdminCommand::Org(c) => orgs::run(c, store, out, now_ms).await,
        AdminCommand::Customer(c) => customers::run(c, store, out, now_ms).await,
        AdminCommand::User(c) => users::run(c, store, out, now_ms).await,
        AdminCommand::Token(c) => tokens::run(c, store, out, now_ms).await,
        AdminCommand::Artifact(c) => artifacts::run(c, store, out, now_ms).await,
        AdminCommand::Entitlement(c) => entitlements::run(c, store, out, now_ms).await,
    }
}

/// Opens the database of `config`'s data directory and runs `args`,
/// printing to stdout and stderr.
pub async fn main(args: &AdminArgs, config: &Settings) -> anyhow::Result<()> {
    let path = database_path(&config.storage.data_dir);
    if config.database.url.get().is_none() && !path.exists() && !args.command.may_create_database()
    {
        bail!(
            "no database at {} (wrong --data-dir? start distr-server once, or create an \
             organisation with `distr-server admin org create`)",
            path.display()
        );
    }
    let stores = Stores::open(config).await?;
    let (mut stdout, mut stderr) = (std::io::stdout().lock(), std::io::stderr().lock());
    let mut out = Output::new(args.json, &mut stdout, &mut stderr);
    let result = execute(
        &args.command,
        stores.access.as_ref(),
        &mut out,
        distr_core::now_ms(),
    )
    .await;
    stores.close().await;
    result
}

#[cfg(test)]
mod tests;
