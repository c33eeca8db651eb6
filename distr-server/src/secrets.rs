//! The master key ring that seals upstream credentials at rest (see
//! `distr_core::access::secrets`): from `DISTR_SECRET_KEY`, a key file, or
//! for the embedded SQLite default a key file generated on the first start.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use distr_core::access::{KeyRing, SecretKey};

use crate::config::Settings;

/// Name of the generated key file in the data directory.
pub const KEY_FILE: &str = "master.key";

/// The key ring `config` names: the current key from `secrets.key`, else
/// from `secrets.key_file`, else (SQLite only) `<data-dir>/master.key`,
/// created with a random key when missing; previous keys (for a rotation)
/// from `secrets.previous_keys`.
pub fn load_key_ring(config: &Settings) -> anyhow::Result<KeyRing> {
    let secrets = &config.secrets;
    let data_dir = &config.storage.data_dir;
    let current = match (secrets.key.get(), secrets.key_file()) {
        (Some(text), _) => SecretKey::parse(text).context("DISTR_SECRET_KEY")?,
        (None, Some(path)) => read_key_file(path)?,
        (None, None) if config.database.url.get().is_some() => bail!(
            "with DATABASE_URL every replica needs the same master key: set \
             DISTR_SECRET_KEY or DISTR_SECRET_KEY_FILE"
        ),
        (None, None) => {
            std::fs::create_dir_all(data_dir)
                .with_context(|| format!("creating data directory {}", data_dir.display()))?;
            default_key(&data_dir.join(KEY_FILE))?
        }
    };
    let previous = match secrets.previous_keys.get() {
        Some(list) => list
            .split(',')
            .filter(|k| !k.trim().is_empty())
            .map(|k| SecretKey::parse(k).context("DISTR_PREVIOUS_SECRET_KEYS"))
            .collect::<anyhow::Result<Vec<_>>>()?,
        None => Vec::new(),
    };
    Ok(KeyRing::new(current, previous))
}

fn read_key_file(path: &Path) -> anyhow::Result<SecretKey> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the master key file {}", path.display()))?;
    SecretKey::parse(&text).with_context(|| format!("master key file {}", path.display()))
}

/// Reads `path`, or creates it (mode 0600) with a fresh key.
fn default_key(path: &PathBuf) -> anyhow::Result<SecretKey> {
    if path.exists() {
        return read_key_file(path);
    }
    let (key, text) = SecretKey::generate().context("generating a master key")?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(mut f) => {
            writeln!(f, "{text}")
                .and_then(|()| f.sync_all())
                .with_context(|| format!("writing {}", path.display()))?;
            tracing::info!(path = %path.display(), key = key.id(), "generated the master key that seals upstream credentials; back it up");
            Ok(key)
        }
        // Another process created it first.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => read_key_file(path),
        Err(e) => Err(e).with_context(|| format!("creating {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(dir: &Path) -> Settings {
        let mut settings = Settings::default();
        settings.storage.data_dir = dir.to_owned();
        settings
    }

    #[test]
    fn generates_once_then_reads_the_same_key() {
        let dir = tempfile::tempdir().unwrap();
        let c = config(dir.path());
        let a = load_key_ring(&c).unwrap();
        let b = load_key_ring(&c).unwrap();
        assert_eq!(a.current().id(), b.current().id());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn explicit_key_and_previous_keys() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = config(dir.path());
        c.secrets.key = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
            .parse()
            .unwrap();
        c.secrets.previous_keys = hex::encode([1u8; 32]).parse().unwrap();
        let ring = load_key_ring(&c).unwrap();
        let sealed = KeyRing::new(SecretKey::from_bytes(&[1u8; 32]), vec![])
            .seal("pw", b"ctx")
            .unwrap();
        assert_eq!(ring.unseal(&sealed, b"ctx").unwrap(), "pw");
        assert!(
            !dir.path().join(KEY_FILE).exists(),
            "no file when a key is given"
        );
        c.secrets.key = "not a key".parse().unwrap();
        assert!(load_key_ring(&c).is_err());
    }

    #[test]
    fn postgres_needs_an_explicit_key() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = config(dir.path());
        c.database.url = "postgres://x@127.0.0.1/db".parse().unwrap();
        let e = load_key_ring(&c).unwrap_err().to_string();
        assert!(e.contains("DISTR_SECRET_KEY"), "{e}");
    }
}
