//! Loading [`Settings`]: built-in defaults < the TOML file (`--config` /
//! `DISTR_CONFIG`) < `DISTR_*` environment variables < flags, the same for
//! every setting of [`SETTINGS`].
//!
//! The layers are merged as one TOML table (values from the environment
//! and flags are text, which every leaf type parses) and deserialized once,
//! so a value means the same whichever source gives it, and an error names
//! the source and the setting.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use toml::{Table, Value};

use super::model::Settings;
use super::table::{Setting, CONFIG_ENV, SETTINGS};

/// An environment: the value of a variable, if set.
pub type EnvSource<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The process environment (variables that are not UTF-8 count as unset).
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// The values given as flags, by setting path, and the `--config` file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FlagValues {
    /// `--config`.
    pub config: Option<PathBuf>,
    /// Setting path → the flag's text.
    pub values: BTreeMap<&'static str, String>,
}

impl Settings {
    /// The settings of `flags` over `env` over the config file (from
    /// `--config`, else `DISTR_CONFIG`) over the defaults, validated.
    pub fn load(flags: &FlagValues, env: EnvSource<'_>) -> anyhow::Result<Settings> {
        let file = match &flags.config {
            Some(path) => Some(path.clone()),
            None => env(CONFIG_ENV).filter(|p| !p.is_empty()).map(PathBuf::from),
        };
        let mut merged = match &file {
            Some(path) => read_file(path)?,
            None => Table::new(),
        };
        let mut origins: BTreeMap<&'static str, String> = BTreeMap::new();
        for setting in SETTINGS {
            if let Some(text) = env(setting.env) {
                set(&mut merged, setting.path, text)?;
                origins.insert(setting.path, setting.env.to_owned());
            }
            if let Some(text) = flags.values.get(setting.path) {
                set(&mut merged, setting.path, text.clone())?;
                origins.insert(setting.path, format!("--{}", setting.flag));
            }
        }
        let settings: Settings =
            serde_path_to_error::deserialize(Value::Table(merged)).map_err(|e| {
                let path = e.path().to_string();
                let origin = origins.get(path.as_str()).cloned().or_else(|| {
                    file.as_ref()
                        .map(|f| format!("the config file {}", f.display()))
                });
                let origin = origin.unwrap_or_else(|| "the defaults".to_owned());
                anyhow::anyhow!("{origin}: {path}: {}", e.inner())
            })?;
        settings.validate()?;
        Ok(settings)
    }

    /// [`load`](Self::load) from the process environment and no flags.
    pub fn from_env() -> anyhow::Result<Settings> {
        Self::load(&FlagValues::default(), &process_env)
    }
}

/// The TOML file at `path`, its flat keys of earlier versions moved to
/// their sections.
fn read_file(path: &Path) -> anyhow::Result<Table> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let table: Table =
        toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    from_file(table).with_context(|| format!("in {}", path.display()))
}

/// `table` with legacy flat keys (`max_header_bytes = …`) moved to their
/// paths (`limits.max_header_bytes`); refuses settings a file may not set.
fn from_file(table: Table) -> anyhow::Result<Table> {
    let mut nested = Table::new();
    let mut legacy = Vec::new();
    for (key, value) in table {
        let flat = SETTINGS.iter().find(|s| s.legacy_key == Some(key.as_str()));
        match flat {
            Some(setting) if !value.is_table() => legacy.push((setting, key, value)),
            _ => {
                nested.insert(key, value);
            }
        }
    }
    for (setting, key, value) in legacy {
        if get(&nested, setting.path).is_some() {
            bail!("{key} and {} both set: keep {}", setting.path, setting.path);
        }
        set(&mut nested, setting.path, value)?;
    }
    for setting in SETTINGS.iter().filter(|s| !s.in_file) {
        // `false` (what `config print` shows) is harmless.
        if get(&nested, setting.path).is_some_and(|v| v != &Value::Boolean(false)) {
            bail!(
                "{} cannot be set in a config file (use {} or --{})",
                setting.path,
                setting.env,
                setting.flag
            );
        }
    }
    Ok(nested)
}

/// The value at a dotted `path`.
pub(crate) fn get<'t>(table: &'t Table, path: &str) -> Option<&'t Value> {
    let (sections, key) = match path.rsplit_once('.') {
        Some((sections, key)) => (sections, key),
        None => return table.get(path),
    };
    let mut t = table;
    for section in sections.split('.') {
        t = t.get(section)?.as_table()?;
    }
    t.get(key)
}

/// Sets the value at a dotted `path`, creating sections.
fn set(table: &mut Table, path: &str, value: impl Into<Value>) -> anyhow::Result<()> {
    let mut parts: Vec<&str> = path.split('.').collect();
    let key = parts.pop().unwrap_or(path);
    let mut t = table;
    for section in parts {
        let entry = t
            .entry(section)
            .or_insert_with(|| Value::Table(Table::new()));
        t = match entry {
            Value::Table(inner) => inner,
            _ => bail!("{section} must be a table ([{section}])"),
        };
    }
    t.insert(key.to_owned(), value.into());
    Ok(())
}

/// How an error names `setting`: its path, variable and flag.
pub(crate) fn describe(setting: &Setting) -> String {
    format!("{} ({}, --{})", setting.path, setting.env, setting.flag)
}
