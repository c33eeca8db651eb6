//! Showing the configuration: `distr-server config print` (the effective
//! settings as TOML, secrets redacted by their types) and the README's
//! configuration table, both made from [`Settings`] and [`SETTINGS`].

use toml::{Table, Value};

use super::layers::get;
use super::model::Settings;
use super::table::{CONFIG_ENV, CONFIG_FLAG, SETTINGS};

/// The settings as TOML; keys, tokens and passwords print `<redacted>`.
pub fn render(settings: &Settings) -> anyhow::Result<String> {
    Ok(toml::to_string_pretty(settings)?)
}

/// The settings as a TOML table.
pub(crate) fn to_table(settings: &Settings) -> anyhow::Result<Table> {
    Ok(Table::try_from(settings)?)
}

/// The value of `path` in `settings`, as TOML.
pub(crate) fn default_value(settings: &Settings, path: &str) -> Option<Value> {
    let table = to_table(settings).ok()?;
    get(&table, path).cloned()
}

/// The Markdown table of every setting: TOML key, environment variable,
/// flag, default and meaning (the README's "Configuration" table).
pub fn readme_table() -> String {
    let defaults = Settings::default();
    let mut out = String::from(
        "| `distr.toml` key | environment | flag | default | meaning |\n\
         | --- | --- | --- | --- | --- |\n",
    );
    out.push_str(&format!(
        "| — | `{CONFIG_ENV}` | `--{CONFIG_FLAG} FILE` | none | the TOML file of these settings; unknown keys are an error |\n"
    ));
    for s in SETTINGS {
        let default = default_value(&defaults, s.path);
        let flag = match default {
            Some(Value::Boolean(_)) => format!("`--{}`", s.flag),
            _ => format!("`--{} {}`", s.flag, s.value_name),
        };
        let key = if s.in_file {
            format!("`{}`", s.path)
        } else {
            "—".to_owned()
        };
        let default = match default {
            Some(Value::String(text)) if text.is_empty() => "empty".to_owned(),
            Some(Value::Boolean(false)) => "off".to_owned(),
            Some(value) => format!("`{}`", value.to_string().trim_matches('"')),
            None => "empty".to_owned(),
        };
        let help = s.help.replace('|', "\\|");
        out.push_str(&format!(
            "| {key} | `{}` | {} | {default} | {help} |\n",
            s.env,
            flag.replace('|', "\\|")
        ));
    }
    out
}
