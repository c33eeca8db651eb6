//! Layering tests: every setting of the table set through the file, the
//! environment and a flag, each over the one below, with an injected
//! environment (the process environment is never touched).

use std::collections::HashMap;

use toml::Value;

use super::cli::args;
use super::layers::{get, FlagValues};
use super::model::Settings;
use super::print::{readme_table, render, to_table};
use super::table::{Setting, SETTINGS};
use super::values::REDACTED;

/// Three valid, distinct values of `setting`, as `config print` shows them.
fn samples(setting: &Setting) -> [&'static str; 3] {
    match setting.path {
        "server.listen" => ["127.0.0.1:6001", "127.0.0.1:6002", "[::1]:6003"],
        "storage.data_dir" => ["/srv/file", "/srv/env", "/srv/flag"],
        "storage.blob_store" => ["memory", "s3", "gcs"],
        "database.url" => [
            "postgres://file@db/a",
            "postgres://env@db/b",
            "postgres://flag@db/c",
        ],
        "registry.max_manifest_size" | "registry.max_blob_size" => ["1000", "2000", "3000"],
        "registry.max_page_size" => ["10", "20", "30"],
        "limits.max_header_bytes" => ["9000", "10000", "11000"],
        "limits.header_read_timeout_secs" | "limits.body_idle_timeout_secs" => ["5", "6", "7"],
        "limits.max_uploads_per_token" | "upstream.max_connections" => ["1", "2", "3"],
        "limits.rate_limit_per_token" | "limits.rate_limit_per_ip" => ["0.5", "1.5", "2.5"],
        "limits.rate_limit_per_token_burst" | "limits.rate_limit_per_ip_burst" => ["4", "5", "6"],
        "server.trusted_proxies" => ["10.0.0.0/8", "::1", "10.0.0.0/8, 192.168.1.7"],
        "server.forwarded_header" => ["forwarded", "x-forwarded-for", "forwarded"],
        "server.insecure_no_auth" => ["true", "true", "true"],
        "server.public_url" => [
            "https://file.example.com",
            "https://env.example.com",
            "http://127.0.0.1:5000",
        ],
        "upstream.allow" => ["127.0.0.1", "10.0.0.0/8", "registry.internal:5000, ::1"],
        "upstream.sync_cron" | "gc.cron" => ["0 * * * *", "5 4 * * *", "*/2 * * * * *"],
        "upstream.timeout_secs" => ["10", "20", "40"],
        "gc.grace" => ["90s", "15m", "7d"],
        "gc.upload_ttl" => ["1h", "2h", "3d"],
        "gc.cache_max_bytes" => ["1GiB", "2GiB", "3GiB"],
        "gc.cache_low_bytes" => ["512MiB", "1GiB", "1536MiB"],
        "metrics.listen" => ["127.0.0.1:9101", "127.0.0.1:9102", "127.0.0.1:9103"],
        "analytics.enabled" => ["off", "on", "off"],
        "analytics.writer_priority" => ["19", "0", "5"],
        "bootstrap.org" => ["acme", "initech", "globex"],
        "secrets.key_file" => ["/keys/file", "/keys/env", "/keys/flag"],
        _ => ["from-file", "from-env", "from-flag"],
    }
}

/// What `settings` holds at `setting`'s path, as text (secrets exposed).
fn value_of(settings: &Settings, setting: &Setting) -> String {
    match setting.path {
        "storage.s3_secret_access_key" => settings.storage.s3_secret_access_key.expose().into(),
        "bootstrap.token" => settings.bootstrap.token.expose().into(),
        "server.operator_token" => settings.server.operator_token.expose().into(),
        "metrics.token" => settings.metrics.token.expose().into(),
        "secrets.key" => settings.secrets.key.expose().into(),
        "secrets.previous_keys" => settings.secrets.previous_keys.expose().into(),
        path => match get(&to_table(settings).unwrap(), path).unwrap() {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        },
    }
}

/// `text` as the TOML value a file would hold for `setting` (numbers as
/// numbers, switches as booleans).
fn toml_value(setting: &Setting, text: &str) -> String {
    match get(&to_table(&Settings::default()).unwrap(), setting.path).unwrap() {
        Value::String(_) => Value::String(text.to_owned()).to_string(),
        _ => text.to_owned(),
    }
}

/// A config file setting `setting` to `text`, in its section.
fn file_with(dir: &tempfile::TempDir, setting: &Setting, text: &str) -> std::path::PathBuf {
    let (section, key) = setting.path.split_once('.').unwrap();
    let path = dir.path().join("distr.toml");
    std::fs::write(
        &path,
        format!("[{section}]\n{key} = {}\n", toml_value(setting, text)),
    )
    .unwrap();
    path
}

/// The flags of a command line (`distr-server …`).
fn flags(argv: &[&str]) -> FlagValues {
    let cmd = clap::Command::new("distr-server")
        .args(args())
        .subcommand(clap::Command::new("sub"));
    let matches = cmd
        .try_get_matches_from(std::iter::once("distr-server").chain(argv.iter().copied()))
        .unwrap();
    FlagValues::from_matches(&matches)
}

/// The command-line arguments setting `setting` to `text`.
fn flag_args(setting: &Setting, text: &str) -> Vec<String> {
    match get(&to_table(&Settings::default()).unwrap(), setting.path).unwrap() {
        Value::Boolean(_) => vec![format!("--{}", setting.flag)],
        _ => vec![format!("--{}", setting.flag), text.to_owned()],
    }
}

fn load(flags: &FlagValues, env: &HashMap<String, String>) -> anyhow::Result<Settings> {
    Settings::load(flags, &|k| env.get(k).cloned())
}

#[test]
fn every_setting_through_file_env_and_flag_in_precedence() {
    let defaults = Settings::default();
    for setting in SETTINGS {
        let [file_text, env_text, flag_text] = samples(setting);
        let default = value_of(&defaults, setting);
        let dir = tempfile::tempdir().unwrap();
        let no_env = HashMap::new();
        let env = HashMap::from([(setting.env.to_owned(), env_text.to_owned())]);
        let flag_argv = flag_args(setting, flag_text);
        let flag_argv: Vec<&str> = flag_argv.iter().map(String::as_str).collect();
        let name = setting.path;

        assert_eq!(
            value_of(&load(&FlagValues::default(), &no_env).unwrap(), setting),
            default
        );
        // The environment alone, a flag alone, and the flag over the variable.
        assert_eq!(
            value_of(&load(&FlagValues::default(), &env).unwrap(), setting),
            env_text,
            "{name}: env"
        );
        let from_flag = flags(&flag_argv);
        assert_eq!(
            value_of(&load(&from_flag, &no_env).unwrap(), setting),
            flag_text,
            "{name}: flag"
        );
        assert_eq!(
            value_of(&load(&from_flag, &env).unwrap(), setting),
            flag_text,
            "{name}: flag > env"
        );

        let file = file_with(&dir, setting, file_text);
        let with_file = |argv: &[&str]| {
            let mut all = vec!["--config", file.to_str().unwrap()];
            all.extend_from_slice(argv);
            flags(&all)
        };
        if !setting.in_file {
            let e = load(&with_file(&[]), &no_env).unwrap_err();
            assert!(
                format!("{e:#}").contains("cannot be set in a config file"),
                "{name}: {e:#}"
            );
            continue;
        }
        assert_ne!(
            file_text, default,
            "{name}: the file sample must differ from the default"
        );
        assert_ne!(file_text, env_text, "{name}");
        assert_ne!(env_text, flag_text, "{name}");
        assert_eq!(
            value_of(&load(&with_file(&[]), &no_env).unwrap(), setting),
            file_text,
            "{name}: file"
        );
        assert_eq!(
            value_of(&load(&with_file(&[]), &env).unwrap(), setting),
            env_text,
            "{name}: env > file"
        );
        assert_eq!(
            value_of(&load(&with_file(&flag_argv), &env).unwrap(), setting),
            flag_text,
            "{name}: flag > env > file"
        );
        // The file named by DISTR_CONFIG instead of --config.
        let env_file = HashMap::from([("DISTR_CONFIG".to_owned(), file.display().to_string())]);
        assert_eq!(
            value_of(&load(&FlagValues::default(), &env_file).unwrap(), setting),
            file_text,
            "{name}: DISTR_CONFIG"
        );
    }
}

#[test]
fn the_switch_without_a_file_setting() {
    let setting = Setting::find("server.insecure_no_auth").unwrap();
    for (text, on) in [
        ("1", true),
        ("true", true),
        ("on", true),
        ("0", false),
        ("false", false),
        ("", false),
    ] {
        let env = HashMap::from([(setting.env.to_owned(), text.to_owned())]);
        assert_eq!(
            load(&FlagValues::default(), &env)
                .unwrap()
                .server
                .insecure_no_auth,
            on,
            "{text:?}"
        );
    }
    let env = HashMap::from([(setting.env.to_owned(), "0".to_owned())]);
    assert!(
        load(&flags(&["--insecure-no-auth"]), &env)
            .unwrap()
            .server
            .insecure_no_auth,
        "the flag wins"
    );
    let env = HashMap::from([(setting.env.to_owned(), "maybe".to_owned())]);
    assert!(load(&FlagValues::default(), &env).is_err());
}

#[test]
fn the_table_is_the_model() {
    // Every leaf of the tree has a row, and every row a leaf.
    fn leaves(prefix: &str, table: &toml::Table, out: &mut Vec<String>) {
        for (k, v) in table {
            let path = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            match v {
                Value::Table(t) => leaves(&path, t, out),
                _ => out.push(path),
            }
        }
    }
    let mut model = Vec::new();
    leaves("", &to_table(&Settings::default()).unwrap(), &mut model);
    let mut table: Vec<String> = SETTINGS.iter().map(|s| s.path.to_owned()).collect();
    model.sort();
    table.sort();
    assert_eq!(model, table);
    for (i, a) in SETTINGS.iter().enumerate() {
        assert!(
            a.env.starts_with("DISTR_") || a.env == "DATABASE_URL",
            "{}",
            a.env
        );
        assert!(!a.help.is_empty(), "{}", a.path);
        if let Some(key) = a.legacy_key {
            let from_env = a
                .env
                .strip_prefix("DISTR_")
                .unwrap_or(a.env)
                .to_ascii_lowercase();
            assert_eq!(key, from_env, "the README describes flat keys so");
        }
        for b in &SETTINGS[i + 1..] {
            assert!(
                a.env != b.env && a.flag != b.flag && a.path != b.path,
                "{a:?} / {b:?}"
            );
            assert!(a.legacy_key.is_none() || a.legacy_key != b.legacy_key);
        }
    }
    // clap accepts the generated flags (no clashes, valid definitions).
    clap::Command::new("distr-server")
        .args(args())
        .debug_assert();
}

#[test]
fn defaults() {
    let d = load(&FlagValues::default(), &HashMap::new()).unwrap();
    assert_eq!(d, Settings::default());
    assert_eq!(d.server.listen.to_string(), "127.0.0.1:5000");
    assert_eq!(d.storage.data_dir, std::path::PathBuf::from("distr-data"));
    assert_eq!(
        d.registry.registry_config().max_blob_size,
        Some(10 * 1024 * 1024 * 1024)
    );
    assert_eq!(
        d.registry.registry_config().max_manifest_size,
        4 * 1024 * 1024
    );
    assert_eq!(
        d.connection_limits(),
        crate::serve::ConnectionLimits::default()
    );
    assert_eq!(
        d.upstream
            .sync_cron
            .cron()
            .map(|c| c.to_string())
            .as_deref(),
        Some(crate::schedule::DEFAULT_SYNC_CRON)
    );
    assert_eq!(
        d.gc.cron.cron().map(|c| c.to_string()).as_deref(),
        Some(crate::gc_job::DEFAULT_GC_CRON)
    );
    assert_eq!(d.gc.collector_config(), distr_core::gc::GcConfig::default());
    assert!(d.gc.eviction().is_none());
    assert!(d.limits.token_rate().is_none() && d.limits.ip_rate().is_none());
    assert!(d.analytics.is_enabled() && d.server.trusted_proxies.proxies().is_empty());
    assert_eq!(d.metrics.listen.0, None);
}

#[test]
fn derived_values() {
    let env = HashMap::from(
        [
            ("DISTR_RATE_LIMIT_PER_IP", "0.2"),
            ("DISTR_RATE_LIMIT_PER_TOKEN", "2.5"),
            ("DISTR_RATE_LIMIT_PER_TOKEN_BURST", "9"),
            ("DISTR_MAX_BLOB_SIZE", "0"),
            ("DISTR_UPSTREAM_SYNC_CRON", ""),
            ("DISTR_GC_CRON", " "),
            ("DISTR_CACHE_MAX_BYTES", "10g"),
            ("DISTR_TRUSTED_PROXIES", "10.0.0.0/8, 192.168.1.7"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned())),
    );
    let c = load(&FlagValues::default(), &env).unwrap();
    let ip = c.limits.ip_rate().unwrap();
    assert_eq!(
        (ip.per_second, ip.burst),
        (0.2, 1),
        "the default burst is twice the rate, at least 1"
    );
    let token = c.limits.token_rate().unwrap();
    assert_eq!((token.per_second, token.burst), (2.5, 9));
    assert_eq!(
        c.registry.registry_config().max_blob_size,
        None,
        "0 is no limit"
    );
    assert!(
        c.upstream.sync_cron.cron().is_none(),
        "empty disables the schedule"
    );
    assert!(c.gc.cron.cron().is_none());
    let eviction = c.gc.eviction().unwrap();
    assert_eq!(
        (eviction.high_bytes, eviction.low_bytes),
        (10 << 30, (10u64 << 30) / 10 * 9)
    );
    assert!(c
        .server
        .trusted_proxies
        .proxies()
        .contains("10.9.8.7".parse().unwrap()));
    for (text, addr) in [
        ("", None),
        (" ", None),
        ("127.0.0.1:9100", Some("127.0.0.1:9100")),
    ] {
        let env = HashMap::from([("DISTR_METRICS_LISTEN".to_owned(), text.to_owned())]);
        let c = load(&FlagValues::default(), &env).unwrap();
        assert_eq!(
            c.metrics.listen.0,
            addr.map(|a| a.parse().unwrap()),
            "{text:?}"
        );
    }
    let env = HashMap::from([("DISTR_METRICS_LISTEN".to_owned(), "localhost".to_owned())]);
    assert!(load(&FlagValues::default(), &env).is_err());
}

#[test]
fn flat_keys_of_earlier_versions() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("distr.toml");
    std::fs::write(
        &path,
        "listen = \"0.0.0.0:5000\"\ndata_dir = \"/var/lib/distr\"\nblob_store = \"local\"\n\
         max_manifest_size = 4194304\nmax_page_size = 50\nbootstrap_org = \"acme\"\n\
         max_header_bytes = 16384\nrate_limit_per_ip = 10\nanalytics = \"off\"\n\
         analytics_writer_priority = \"19\"\nupstream_timeout_secs = 5\n",
    )
    .unwrap();
    let c = load(
        &flags(&["--config", path.to_str().unwrap()]),
        &HashMap::new(),
    )
    .unwrap();
    assert_eq!(c.server.listen.to_string(), "0.0.0.0:5000");
    assert_eq!(
        c.storage.data_dir,
        std::path::PathBuf::from("/var/lib/distr")
    );
    assert_eq!(
        (c.registry.max_page_size, c.bootstrap.org.as_str()),
        (50, "acme")
    );
    assert_eq!(c.limits.max_header_bytes, 16384);
    assert_eq!(c.limits.rate_limit_per_ip, 10.0);
    assert!(!c.analytics.is_enabled());
    assert_eq!(c.analytics.writer_priority.to_string(), "19");
    assert_eq!(c.upstream.timeout_secs, 5);

    std::fs::write(&path, "max_page_size = 5\n[registry]\nmax_page_size = 6\n").unwrap();
    let e = load(
        &flags(&["--config", path.to_str().unwrap()]),
        &HashMap::new(),
    )
    .unwrap_err();
    assert!(format!("{e:#}").contains("both set"), "{e:#}");
}

#[test]
fn errors_name_the_source_and_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("distr.toml");
    let config = path.to_str().unwrap().to_owned();
    let env = |k: &str, v: &str| HashMap::from([(k.to_owned(), v.to_owned())]);
    let e = load(
        &FlagValues::default(),
        &env("DISTR_MAX_HEADER_BYTES", "lots"),
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .contains("DISTR_MAX_HEADER_BYTES: limits.max_header_bytes"),
        "{e}"
    );
    let e = load(&flags(&["--gc-grace", "soon"]), &HashMap::new()).unwrap_err();
    assert!(e.to_string().contains("--gc-grace: gc.grace"), "{e}");
    std::fs::write(&path, "[server]\nlisten = 5\n").unwrap();
    let e = load(&flags(&["--config", &config]), &HashMap::new()).unwrap_err();
    assert!(e.to_string().contains("distr.toml: server.listen"), "{e}");
    for bad in [
        "unknown_key = 1\n",
        "[limits]\nunknown = 1\n",
        "limits = 3\n",
        "[limits]\nmax_header_bytes = 100\n",
        "[limits]\nheader_read_timeout_secs = 0\n",
        "[limits]\nbody_idle_timeout_secs = 4000\n",
        "[limits]\nrate_limit_per_ip = -1.0\n",
        "[upstream]\ntimeout_secs = 601\n",
        "[registry]\nmax_page_size = 0\n",
        "[server]\ntrusted_proxies = \"10.0.0.0/40\"\n",
        "[gc]\ncache_max_bytes = \"1m\"\ncache_low_bytes = \"2m\"\n",
        "[server]\ninsecure_no_auth = true\n",
    ] {
        std::fs::write(&path, bad).unwrap();
        assert!(
            load(&flags(&["--config", &config]), &HashMap::new()).is_err(),
            "{bad}"
        );
    }
    let e = load(
        &FlagValues::default(),
        &env("DISTR_UPSTREAM_TIMEOUT_SECS", "0"),
    )
    .unwrap_err();
    assert!(e.to_string().contains("DISTR_UPSTREAM_TIMEOUT_SECS"), "{e}");
    let e = load(
        &FlagValues::default(),
        &env("DISTR_CONFIG", "/nonexistent/distr.toml"),
    )
    .unwrap_err();
    assert!(
        format!("{e:#}").contains("/nonexistent/distr.toml"),
        "{e:#}"
    );
}

#[test]
fn flags_after_a_subcommand_count_too() {
    let f = flags(&["sub", "--data-dir", "/x", "--insecure-no-auth"]);
    let c = load(&f, &HashMap::new()).unwrap();
    assert_eq!(c.storage.data_dir, std::path::PathBuf::from("/x"));
    assert!(c.server.insecure_no_auth);
}

#[test]
fn print_redacts_every_secret() {
    let secret = "distr_supersecret0000000000000000000000";
    let env: HashMap<String, String> = SETTINGS
        .iter()
        .filter(|s| s.secret && s.path != "database.url")
        .map(|s| (s.env.to_owned(), secret.to_owned()))
        .chain([(
            "DATABASE_URL".to_owned(),
            format!("postgres://distr:{secret}@db/distr"),
        )])
        .collect();
    let c = load(&FlagValues::default(), &env).unwrap();
    let text = render(&c).unwrap();
    assert!(!text.contains("supersecret"), "{text}");
    assert!(!format!("{c:?}").contains("supersecret"));
    assert!(
        text.contains("postgres://distr:<redacted>@db/distr"),
        "{text}"
    );
    assert_eq!(text.matches(REDACTED).count(), env.len(), "{text}");
    // What is printed reads back as the same settings (secrets aside).
    let d = Settings::default();
    let back: Settings = toml::from_str(&render(&d).unwrap()).unwrap();
    assert_eq!(back, d);
}

#[test]
fn the_readme_table_is_generated_from_the_model() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md");
    let readme = std::fs::read_to_string(path).unwrap();
    let (begin, end) = (
        "<!-- settings-table: begin -->\n",
        "<!-- settings-table: end -->",
    );
    let table = readme_table();
    let found = readme
        .split_once(begin)
        .and_then(|(_, rest)| rest.split_once(end))
        .map(|(table, _)| table);
    if found != Some(table.as_str()) && std::env::var_os("DISTR_BLESS_README").is_some() {
        let (head, rest) = readme.split_once(begin).unwrap();
        let (_, tail) = rest.split_once(end).unwrap();
        std::fs::write(path, format!("{head}{begin}{table}{end}{tail}")).unwrap();
        return;
    }
    assert_eq!(
        found,
        Some(table.as_str()),
        "the README's configuration table is out of date: run \
         `DISTR_BLESS_README=1 cargo test -p distr-server --lib readme`"
    );
    for s in SETTINGS {
        assert!(
            table.contains(&format!("`{}`", s.env)) && table.contains(&format!("`--{}", s.flag))
        );
    }
}
