//! The flags of every setting, made from [`SETTINGS`] (so a setting added
//! to the table has its flag), and reading them back as [`FlagValues`].

use std::path::PathBuf;

use clap::parser::ValueSource;
use clap::{Arg, ArgAction, ArgMatches};
use toml::Value;

use super::layers::FlagValues;
use super::model::Settings;
use super::print::default_value;
use super::table::{CONFIG_ENV, CONFIG_FLAG, SETTINGS};

/// The `--config` flag and one flag per setting, all global (they may
/// follow a subcommand: `distr-server admin org list --data-dir …`).
/// Values are text, parsed when the settings are loaded.
pub fn args() -> Vec<Arg> {
    let defaults = Settings::default();
    let config = Arg::new(CONFIG_FLAG)
        .long(CONFIG_FLAG)
        .value_name("FILE")
        .global(true)
        .value_parser(clap::value_parser!(PathBuf))
        .help(format!("TOML configuration file [env: {CONFIG_ENV}]"));
    let settings = SETTINGS.iter().map(|s| {
        let default = default_value(&defaults, s.path);
        let arg = Arg::new(s.path).long(s.flag).global(true);
        match default {
            Some(Value::Boolean(_)) => arg
                .action(ArgAction::SetTrue)
                .help(format!("{} [env: {}]", s.help, s.env)),
            _ => arg
                .action(ArgAction::Set)
                .value_name(s.value_name)
                .allow_hyphen_values(true)
                .help(format!(
                    "{} [env: {}] [default: {}]",
                    s.help,
                    s.env,
                    default.map(shown).unwrap_or_default()
                )),
        }
    });
    std::iter::once(config).chain(settings).collect()
}

/// A default as `--help` shows it.
fn shown(value: Value) -> String {
    match value {
        Value::String(s) if s.is_empty() => "none".to_owned(),
        Value::String(s) => s,
        other => other.to_string(),
    }
}

impl FlagValues {
    /// The flags given on the command line in `matches` (of [`args`]), at
    /// the top level or after a subcommand.
    pub fn from_matches(matches: &ArgMatches) -> Self {
        let mut flags = FlagValues::default();
        let mut level = Some(matches);
        while let Some(m) = level {
            if given(m, CONFIG_FLAG) {
                if let Ok(Some(path)) = m.try_get_one::<PathBuf>(CONFIG_FLAG) {
                    flags.config = Some(path.clone());
                }
            }
            for s in SETTINGS {
                if !given(m, s.path) {
                    continue;
                }
                let text = match m.try_get_one::<bool>(s.path) {
                    Ok(Some(on)) => Some(on.to_string()),
                    _ => m.try_get_one::<String>(s.path).ok().flatten().cloned(),
                };
                if let Some(text) = text {
                    flags.values.insert(s.path, text);
                }
            }
            level = m.subcommand().map(|(_, sub)| sub);
        }
        flags
    }
}

/// True when `id` was given on the command line (not defaulted).
fn given(m: &ArgMatches, id: &str) -> bool {
    m.try_contains_id(id).unwrap_or(false) && m.value_source(id) == Some(ValueSource::CommandLine)
}
