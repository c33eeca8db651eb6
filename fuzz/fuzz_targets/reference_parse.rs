//! OCI names, tags, references and digests: no panic; accepted values print
//! back exactly as given and re-parse to the same value; a reference is a
//! digest exactly when it contains ':'.
#![no_main]

use distr_core::{Digest, Reference, RepoName, TagName};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(n) = s.parse::<RepoName>() {
        assert_eq!(n.as_str(), s);
        assert_eq!(n.to_string(), s);
        assert_eq!(n.to_string().parse::<RepoName>().unwrap(), n);
        assert!(s.len() <= distr_core::name::MAX_NAME_LEN);
        assert!(!s.contains("..") && !s.starts_with('/') && !s.ends_with('/'));
        assert!(s.bytes().all(|c| c.is_ascii_lowercase()
            || c.is_ascii_digit()
            || matches!(c, b'/' | b'.' | b'_' | b'-')));
        assert!(!n.org().is_empty() && !n.artifact().is_empty());
        assert_eq!(format!("{}/{}", n.org(), n.artifact()), s);
    }
    if let Ok(t) = s.parse::<TagName>() {
        assert_eq!(t.as_str(), s);
        assert!((1..=128).contains(&s.len()));
        assert!(!s.contains([':', '/', '@']));
        assert_eq!(t.to_string().parse::<TagName>().unwrap(), t);
    }
    if let Ok(r) = s.parse::<Reference>() {
        assert_eq!(r.to_string(), s);
        assert_eq!(r.to_string().parse::<Reference>().unwrap(), r);
        match &r {
            Reference::Tag(_) => assert!(!s.contains(':')),
            Reference::Digest(_) => assert!(s.contains(':')),
        }
    }
    if let Ok(d) = s.parse::<Digest>() {
        assert_eq!(d.to_string(), s);
        assert_eq!(d.to_string().parse::<Digest>().unwrap(), d);
        assert_eq!(s.parse::<Reference>().unwrap(), Reference::Digest(d));
    }
    // `<name>:<tag>` / `<name>@<digest>` as clients write them.
    if let Some((name, digest)) = s.split_once('@') {
        if let (Ok(n), Ok(d)) = (name.parse::<RepoName>(), digest.parse::<Digest>()) {
            assert_eq!(format!("{n}@{d}"), s);
        }
    } else if let Some((name, tag)) = s.rsplit_once(':') {
        if let (Ok(n), Ok(t)) = (name.parse::<RepoName>(), tag.parse::<TagName>()) {
            assert_eq!(format!("{n}:{t}"), s);
        }
    }
});
