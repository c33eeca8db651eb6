//! Staging files of interrupted writes to a local blob directory.
//!
//! `object_store`'s local store writes an object to `<name>#<n>` and renames
//! it into place when the write completes. A crash mid-write leaves the
//! staging file behind, and no listing returns it (the store hides names
//! ending in `#<digits>`), so garbage collection must look for them on disk.

use std::path::Path;
use std::time::UNIX_EPOCH;

/// True for the name of a staging file: `<name>#<digits>`.
fn is_staging(name: &str) -> bool {
    name.rsplit_once('#').is_some_and(|(stem, n)| {
        !stem.is_empty() && !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())
    })
}

/// Deletes, under `dir` (recursively), the staging files last modified
/// before `before_ms` (ms since the Unix epoch); returns how many. A write
/// in progress rewrites its staging file with every part (at most a few MiB
/// apart), so a cutoff of minutes or more never touches a live write.
/// Unreadable entries are skipped.
pub(super) fn sweep(dir: &Path, before_ms: i64) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let Ok(meta) = entry.metadata() else {
            continue;
        };
        if meta.is_dir() {
            removed += sweep(&entry.path(), before_ms);
            continue;
        }
        let old = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .is_some_and(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX) < before_ms);
        if old
            && is_staging(&entry.file_name().to_string_lossy())
            && std::fs::remove_file(entry.path()).is_ok()
        {
            tracing::info!(path = %entry.path().display(), "removed the staging file of an interrupted write");
            removed += 1;
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use std::fs::File;
    use std::time::{Duration, SystemTime};

    use super::*;

    #[test]
    fn names_with_a_numeric_hash_suffix_are_staging_files() {
        assert!(is_staging("abcdef#1"));
        assert!(is_staging("abcdef#12"));
        assert!(!is_staging("abcdef"));
        assert!(!is_staging("abcdef#"));
        assert!(!is_staging("#3"));
        assert!(!is_staging("abcdef#1a"));
    }

    #[test]
    fn sweeps_only_old_staging_files_in_nested_directories() {
        let root = std::env::temp_dir().join(format!("distr-staging-{}", std::process::id()));
        let nested = root.join("sha256").join("ab");
        std::fs::create_dir_all(&nested).unwrap();
        let old = SystemTime::now() - Duration::from_secs(3600);
        let make = |name: &str, modified: SystemTime| {
            let f = File::create(nested.join(name)).unwrap();
            f.set_modified(modified).unwrap();
        };
        make("abcd#1", old);
        make("abcd#2", SystemTime::now());
        make("abcd", old);
        let cutoff = SystemTime::now() - Duration::from_secs(60);
        let cutoff_ms = cutoff.duration_since(UNIX_EPOCH).unwrap().as_millis() as i64;

        assert_eq!(sweep(&root, cutoff_ms), 1);
        let mut left: Vec<String> = std::fs::read_dir(&nested)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, ["abcd", "abcd#2"]);
        assert_eq!(sweep(&root.join("missing"), cutoff_ms), 0);
        std::fs::remove_dir_all(&root).unwrap();
    }
}
