//! `distr-server` configuration: one model, [`Settings`], layered built-in
//! defaults < the TOML file (`--config` / `DISTR_CONFIG`) < `DISTR_*`
//! environment variables < command-line flags, the same for every setting.
//!
//! - [`model`]: the nested serde tree and its defaults;
//! - [`table`]: each setting's environment variable, flag and meaning;
//! - [`values`]: leaf types (secrets, schedules, durations, sizes, …);
//! - [`layers`]: merging the sources ([`Settings::load`]);
//! - [`cli`]: the flags made from the table;
//! - [`resolved`]: validation and what the server makes of the settings;
//! - [`print`]: `config print` and the README's configuration table.
//!
//! A file may also use the flat keys of earlier versions
//! (`max_header_bytes = 16384` for `[limits] max_header_bytes`).

pub mod cli;
pub mod layers;
pub mod model;
pub mod print;
pub mod resolved;
pub mod table;
pub mod values;

pub use layers::{process_env, EnvSource, FlagValues};
pub use model::Settings;
pub use resolved::{analytics_database_path, database_path, RateLimit};
pub use table::{Setting, SETTINGS};
pub use values::{BlobStoreKind, DatabaseUrl, Secret, Toggle};

pub use crate::storage::Stores;

#[cfg(test)]
mod tests;
