//! Property test: the enforcement [`Policy`] agrees with a straightforward
//! reference evaluator on random models of vendors, customers, artifacts,
//! tags, images, indexes, referrers, blobs and entitlements (with patterns,
//! expiry, and items naming another vendor's artifacts), and no principal
//! ever reaches another vendor's content.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use bytes::Bytes;
use distr_core::access::*;
use distr_core::store::{BlobRecord, ManifestRecord, MemoryStore, MetadataStore};
use distr_core::{Digest, Error, Reference, RepoName, TagName};
use proptest::prelude::*;

const NOW: i64 = 1_000_000;
const ORGS: [&str; 2] = ["acme", "globex"];
const NAMES: [&str; 2] = ["app", "tool"];
const TAGS: [&str; 8] = [
    "1.1.0", "1.1.5", "1.2.0", "1.2.3", "latest", "v1.0", "v1.1", "2.0",
];
const PATTERNS: [&str; 7] = ["1.2.*", "1.1.*", "latest", "v1.*", "2.0", "*", "1.?.0"];

/// A tiny deterministic generator, seeded by proptest.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// One manifest of the model.
#[derive(Clone)]
struct M {
    digest: Digest,
    blobs: Vec<Digest>,
    children: Vec<Digest>,
    subject: Option<Digest>,
}

#[derive(Default)]
struct Repo {
    manifests: Vec<M>,
    tags: BTreeMap<String, Digest>,
}

struct Model {
    orgs: Vec<Org>,
    artifacts: Vec<Artifact>,
    repos: BTreeMap<String, Repo>,
    customers: Vec<Customer>,
    entitlements: Vec<Entitlement>,
    blob_pool: Vec<Digest>,
}

fn generate(seed: u64) -> Model {
    let mut rng = Rng(seed | 1);
    let orgs: Vec<Org> = ORGS
        .iter()
        .enumerate()
        .map(|(i, s)| Org {
            id: OrgId::new(),
            slug: s.to_string(),
            name: s.to_string(),
            created_at_ms: i as i64,
        })
        .collect();
    let mut artifacts = Vec::new();
    let mut repos = BTreeMap::new();
    let shared = Digest::sha256(b"shared-blob");
    let mut blob_pool = vec![shared.clone()];
    for org in &orgs {
        for name in NAMES {
            if rng.chance(80) {
                artifacts.push(Artifact {
                    id: ArtifactId::new(),
                    org_id: org.id,
                    name: name.into(),
                    upstream: None,
                    created_at_ms: 0,
                });
            }
            if !rng.chance(85) {
                continue;
            }
            let repo_name = format!("{}/{name}", org.slug);
            let pool: Vec<Digest> = (0..4)
                .map(|i| Digest::sha256(format!("{repo_name}-blob-{i}").as_bytes()))
                .chain([shared.clone()])
                .collect();
            blob_pool.extend(pool.iter().cloned());
            let mut repo = Repo::default();
            let mut n = 0;
            let mut mk = |blobs: Vec<Digest>, children: Vec<Digest>, subject: Option<Digest>| {
                n += 1;
                M {
                    digest: Digest::sha256(format!("{repo_name}-manifest-{n}").as_bytes()),
                    blobs,
                    children,
                    subject,
                }
            };
            let images: Vec<M> = (0..3)
                .map(|_| {
                    let k = 1 + rng.below(3);
                    let blobs = (0..k)
                        .map(|_| pool[rng.below(pool.len())].clone())
                        .collect::<BTreeSet<_>>()
                        .into_iter()
                        .collect();
                    mk(blobs, vec![], None)
                })
                .collect();
            let indexes: Vec<M> = (0..1 + rng.below(2))
                .map(|_| {
                    let k = 1 + rng.below(2);
                    let children = (0..k)
                        .map(|_| images[rng.below(images.len())].digest.clone())
                        .collect::<BTreeSet<_>>()
                        .into_iter()
                        .collect();
                    mk(vec![], children, None)
                })
                .collect();
            let tops: Vec<Digest> = images
                .iter()
                .chain(&indexes)
                .map(|m| m.digest.clone())
                .collect();
            let mut referrers: Vec<M> = Vec::new();
            for _ in 0..1 + rng.below(2) {
                let subject = if !referrers.is_empty() && rng.chance(30) {
                    referrers[rng.below(referrers.len())].digest.clone()
                } else {
                    tops[rng.below(tops.len())].clone()
                };
                let blob = vec![pool[rng.below(pool.len())].clone()];
                referrers.push(mk(blob, vec![], Some(subject)));
            }
            repo.manifests = images.into_iter().chain(indexes).chain(referrers).collect();
            for t in TAGS {
                if rng.chance(50) {
                    let m = &repo.manifests[rng.below(repo.manifests.len())];
                    repo.tags.insert(t.to_string(), m.digest.clone());
                }
            }
            repos.insert(repo_name, repo);
        }
    }
    let customers: Vec<Customer> = [0, 0, 0, 1]
        .iter()
        .enumerate()
        .map(|(i, &o)| Customer {
            id: CustomerId::new(),
            org_id: orgs[o].id,
            name: format!("c{i}"),
            created_at_ms: i as i64,
        })
        .collect();
    let mut entitlements = Vec::new();
    for c in &customers {
        if !rng.chance(70) {
            continue;
        }
        for e in 0..1 + rng.below(2) {
            let items = (0..1 + rng.below(2))
                .filter_map(|_| {
                    // Mostly the vendor's own artifacts; sometimes another vendor's.
                    let pick: Vec<&Artifact> = if rng.chance(85) {
                        artifacts.iter().filter(|a| a.org_id == c.org_id).collect()
                    } else {
                        artifacts.iter().collect()
                    };
                    if pick.is_empty() {
                        return None;
                    }
                    let artifact = pick[rng.below(pick.len())];
                    let tags = if rng.chance(30) {
                        TagSelection::All
                    } else {
                        TagSelection::Only(
                            (0..1 + rng.below(2))
                                .map(|_| PATTERNS[rng.below(PATTERNS.len())].parse().unwrap())
                                .collect(),
                        )
                    };
                    Some(EntitlementItem {
                        artifact_id: artifact.id,
                        tags,
                    })
                })
                .collect();
            let expires_at_ms = match rng.below(3) {
                0 => None,
                1 => Some(NOW - 1),
                _ => Some(NOW + 1),
            };
            entitlements.push(Entitlement {
                id: EntitlementId::new(),
                org_id: c.org_id,
                customer_id: c.id,
                name: format!("e{e}"),
                expires_at_ms,
                items,
                created_at_ms: 0,
            });
        }
    }
    Model {
        orgs,
        artifacts,
        repos,
        customers,
        entitlements,
        blob_pool,
    }
}

// ---- the reference evaluator: the rules, written out plainly ----

impl Model {
    fn org_of(&self, repo: &str) -> Option<&Org> {
        let slug = repo.split('/').next()?;
        self.orgs.iter().find(|o| o.slug == slug)
    }

    fn artifact_of(&self, repo: &str) -> Option<&Artifact> {
        let org = self.org_of(repo)?;
        let name = repo.split_once('/')?.1;
        self.artifacts
            .iter()
            .find(|a| a.org_id == org.id && a.name == name)
    }

    /// None: invisible. Some(None): sees everything. Some(Some(artifact)): entitled view.
    fn view(&self, p: &Principal, repo: &str) -> Option<Option<ArtifactId>> {
        match p {
            Principal::System => Some(None),
            Principal::VendorAdmin { org, .. } => (self.org_of(repo)?.id == *org).then_some(None),
            Principal::Customer { org, customer, .. } => {
                if self.org_of(repo)?.id != *org {
                    return None;
                }
                let artifact = self.artifact_of(repo)?;
                if !self.entitlements.iter().any(|e| e.org_id == *org) {
                    return Some(None);
                }
                let granted = self
                    .active(*customer)
                    .any(|e| e.items.iter().any(|i| i.artifact_id == artifact.id));
                granted.then_some(Some(artifact.id))
            }
        }
    }

    fn active(&self, customer: CustomerId) -> impl Iterator<Item = &Entitlement> {
        self.entitlements
            .iter()
            .filter(move |e| e.customer_id == customer && e.expires_at_ms.is_none_or(|x| NOW < x))
    }

    fn tag_ok(&self, p: &Principal, artifact: ArtifactId, tag: &str) -> bool {
        let Principal::Customer { customer, .. } = p else {
            return true;
        };
        self.active(*customer).any(|e| {
            e.items.iter().any(|i| {
                i.artifact_id == artifact
                    && match &i.tags {
                        TagSelection::All => true,
                        TagSelection::Only(ps) => ps.iter().any(|pat| glob(pat.as_str(), tag)),
                    }
            })
        })
    }

    fn manifest_ok(
        &self,
        p: &Principal,
        repo: &str,
        artifact: ArtifactId,
        d: &Digest,
        depth: usize,
    ) -> bool {
        self.reachable(repo, d, &|t| self.tag_ok(p, artifact, t), depth)
    }

    /// True when the manifest `d` is tagged with a tag `tag_ok` accepts, is
    /// an index child of such a manifest, or a referrer of one (subject
    /// chain, at most 4 deep).
    fn reachable(
        &self,
        repo: &str,
        d: &Digest,
        tag_ok: &dyn Fn(&str) -> bool,
        depth: usize,
    ) -> bool {
        let r = &self.repos[repo];
        let tagged_ok = |target: &Digest| r.tags.iter().any(|(t, x)| x == target && tag_ok(t));
        if tagged_ok(d)
            || r.manifests
                .iter()
                .any(|m| m.children.contains(d) && tagged_ok(&m.digest))
        {
            return true;
        }
        let subject = r
            .manifests
            .iter()
            .find(|m| &m.digest == d)
            .and_then(|m| m.subject.clone());
        match subject {
            Some(s) if depth + 1 < 4 => self.reachable(repo, &s, tag_ok, depth + 1),
            _ => false,
        }
    }

    fn blob_ok(&self, p: &Principal, repo: &str, artifact: ArtifactId, b: &Digest) -> bool {
        let r = &self.repos[repo];
        r.manifests
            .iter()
            .any(|m| m.blobs.contains(b) && self.manifest_ok(p, repo, artifact, &m.digest, 0))
            || self.manifest_ok(p, repo, artifact, b, 0)
    }
}

/// Glob matching, recursively (the obvious definition).
fn glob(p: &str, t: &str) -> bool {
    fn go(p: &[u8], t: &[u8]) -> bool {
        match (p.first(), t.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&p[1..], t) || (!t.is_empty() && go(p, &t[1..])),
            (Some(b'?'), Some(_)) => go(&p[1..], &t[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &t[1..]),
            _ => false,
        }
    }
    go(p.as_bytes(), t.as_bytes())
}

async fn load(model: &Model) -> Policy {
    let access = Arc::new(MemoryAccessStore::new());
    let meta = Arc::new(MemoryStore::new());
    for o in &model.orgs {
        access.create_org(o).await.unwrap();
    }
    for a in &model.artifacts {
        access.create_artifact(a).await.unwrap();
    }
    for c in &model.customers {
        access.create_customer(c).await.unwrap();
    }
    for e in &model.entitlements {
        access.create_entitlement(e).await.unwrap();
    }
    for (name, repo) in &model.repos {
        let r: RepoName = name.parse().unwrap();
        for m in &repo.manifests {
            for b in &m.blobs {
                meta.link_blob(
                    &r,
                    &BlobRecord {
                        digest: b.clone(),
                        size: 1,
                    },
                )
                .await
                .unwrap();
            }
            let record = ManifestRecord {
                digest: m.digest.clone(),
                media_type: "application/vnd.oci.image.manifest.v1+json".into(),
                content: Bytes::from(m.digest.to_string()),
                subject: m.subject.clone(),
                artifact_type: None,
                annotations: BTreeMap::new(),
                blobs: m.blobs.clone(),
                children: m.children.clone(),
                created_at_ms: 0,
            };
            meta.put_manifest(&r, &record, None).await.unwrap();
        }
        for (t, d) in &repo.tags {
            let m = meta.get_manifest(&r, d).await.unwrap().unwrap();
            meta.put_manifest(&r, &m, Some(&t.parse::<TagName>().unwrap()))
                .await
                .unwrap();
        }
    }
    Policy::new(access, meta)
}

async fn check(model: &Model) {
    let policy = load(model).await;
    let mut principals = vec![Principal::System];
    principals.extend(model.orgs.iter().map(|o| Principal::VendorAdmin {
        org: o.id,
        user: UserId::new(),
    }));
    principals.extend(model.customers.iter().map(|c| Principal::Customer {
        org: c.org_id,
        customer: c.id,
        user: UserId::new(),
    }));
    let all_manifests: Vec<Digest> = model
        .repos
        .values()
        .flat_map(|r| r.manifests.iter().map(|m| m.digest.clone()))
        .collect();
    let mut repo_names: Vec<String> = ORGS
        .iter()
        .flat_map(|o| NAMES.iter().map(move |n| format!("{o}/{n}")))
        .collect();
    repo_names.push("nobody/app".into());

    for p in &principals {
        // The catalog.
        let expected: Vec<String> = model
            .repos
            .keys()
            .filter(|r| {
                model.view(p, r).is_some()
                    && (matches!(p, Principal::System | Principal::VendorAdmin { .. })
                        || model.artifact_of(r).is_some())
            })
            .cloned()
            .collect();
        let got: Vec<String> = policy
            .visible_repositories(p, NOW)
            .await
            .unwrap()
            .iter()
            .map(|r| r.to_string())
            .collect();
        assert_eq!(got, expected, "catalog of {p:?}");

        for name in &repo_names {
            let repo: RepoName = name.parse().unwrap();
            // Writes: the system and the vendor's own admins only.
            let may_write = match p {
                Principal::System => true,
                Principal::VendorAdmin { org, .. } => {
                    model.org_of(name).is_some_and(|o| o.id == *org)
                }
                Principal::Customer { .. } => false,
            };
            assert_eq!(
                policy.check_write(p, &repo).await.is_ok(),
                may_write,
                "write {p:?} {name}"
            );

            let access = policy.repo_access(p, &repo, NOW).await;
            let Some(view) = model.view(p, name) else {
                assert!(
                    matches!(access, Err(Error::NameUnknown)),
                    "{p:?} must not see {name}"
                );
                continue;
            };
            // Cross-tenant: a customer never sees another vendor's repository.
            if let Principal::Customer { org, .. } = p {
                assert_eq!(model.org_of(name).map(|o| o.id), Some(*org));
            }
            let access = access.unwrap_or_else(|e| panic!("{p:?} should see {name}: {e}"));
            assert_eq!(access.is_full(), view.is_none());
            let Some(repo_model) = model.repos.get(name) else {
                continue;
            };
            for t in TAGS {
                let tag: TagName = t.parse().unwrap();
                let expected = view.is_none_or(|a| model.tag_ok(p, a, t));
                assert_eq!(
                    access.allows_tag(&tag),
                    expected,
                    "tag {t} of {name} for {p:?}"
                );
            }
            let expected_tags: Vec<String> = repo_model
                .tags
                .keys()
                .filter(|t| view.is_none_or(|a| model.tag_ok(p, a, t)))
                .cloned()
                .collect();
            let got_tags: Vec<String> = access
                .visible_tags()
                .await
                .unwrap()
                .iter()
                .map(|t| t.to_string())
                .collect();
            assert_eq!(got_tags, expected_tags, "tags of {name} for {p:?}");
            for d in &all_manifests {
                let expected = view.is_none_or(|a| model.manifest_ok(p, name, a, d, 0));
                assert_eq!(
                    access.allows_manifest(d).await.unwrap(),
                    expected,
                    "manifest {d} in {name} for {p:?}"
                );
            }
            for b in &model.blob_pool {
                let expected = view.is_none_or(|a| model.blob_ok(p, name, a, b));
                assert_eq!(
                    access.allows_blob(b).await.unwrap(),
                    expected,
                    "blob {b} in {name} for {p:?}"
                );
            }
        }
    }
}

/// The active entitlements of the artifact's own vendor that name it.
fn protecting<'m>(
    model: &'m Model,
    artifact: &'m Artifact,
) -> impl Iterator<Item = &'m Entitlement> {
    model.entitlements.iter().filter(move |e| {
        e.org_id == artifact.org_id
            && e.expires_at_ms.is_none_or(|x| NOW < x)
            && e.items.iter().any(|i| i.artifact_id == artifact.id)
    })
}

/// True when some active entitlement selects `tag` of `artifact` by name or
/// pattern.
fn specifically_granted(model: &Model, artifact: &Artifact, tag: &str) -> bool {
    protecting(model, artifact).any(|e| {
        e.items.iter().any(|i| {
            i.artifact_id == artifact.id
                && matches!(&i.tags, TagSelection::Only(ps) if ps.iter().any(|p| glob(p.as_str(), tag)))
        })
    })
}

/// True when some active entitlement grants `tag` of `artifact` (any
/// selection).
fn granted(model: &Model, artifact: &Artifact, tag: &str) -> bool {
    protecting(model, artifact).any(|e| {
        e.items.iter().any(|i| {
            i.artifact_id == artifact.id
                && match &i.tags {
                    TagSelection::All => true,
                    TagSelection::Only(ps) => ps.iter().any(|p| glob(p.as_str(), tag)),
                }
        })
    })
}

/// True when the manifest `d` is reachable from a granted tag that is not
/// `excluded`.
fn protected_manifest(
    model: &Model,
    repo: &str,
    artifact: &Artifact,
    d: &Digest,
    excluded: &[&str],
) -> bool {
    model.reachable(
        repo,
        d,
        &|t| !excluded.contains(&t) && granted(model, artifact, t),
        0,
    )
}

/// The reference tag deletion rules: `Ok`, or the error kind expected.
fn reference_removal(model: &Model, repo: &str, removed: &[&str]) -> Result<(), &'static str> {
    let Some(r) = model.repos.get(repo) else {
        return Ok(());
    };
    let existing: Vec<&str> = removed
        .iter()
        .copied()
        .filter(|t| r.tags.contains_key(*t))
        .collect();
    if existing.is_empty() {
        return Ok(());
    }
    if let Some(artifact) = model.artifact_of(repo) {
        // Aliases do not matter: the customer is entitled to the tag.
        if existing
            .iter()
            .any(|t| specifically_granted(model, artifact, t))
        {
            return Err("refused");
        }
    }
    if existing.len() == r.tags.len() {
        return Err("conflict");
    }
    Ok(())
}

/// The reference rules of a manifest delete by digest.
fn digest_removal(model: &Model, repo: &str, d: &Digest) -> Result<(), &'static str> {
    let r = &model.repos[repo];
    let removed: Vec<&str> = r
        .tags
        .iter()
        .filter(|(_, x)| *x == d)
        .map(|(t, _)| t.as_str())
        .collect();
    reference_removal(model, repo, &removed)?;
    match model.artifact_of(repo) {
        Some(a) if protected_manifest(model, repo, a, d, &removed) => Err("refused"),
        _ => Ok(()),
    }
}

/// The reference rules of a blob delete.
fn blob_removal(model: &Model, repo: &str, b: &Digest) -> Result<(), &'static str> {
    let Some(a) = model.artifact_of(repo) else {
        return Ok(());
    };
    let r = &model.repos[repo];
    let protected = r
        .manifests
        .iter()
        .any(|m| m.blobs.contains(b) && protected_manifest(model, repo, a, &m.digest, &[]))
        || protected_manifest(model, repo, a, b, &[]);
    if protected {
        Err("refused")
    } else {
        Ok(())
    }
}

fn kind(result: distr_core::Result<()>) -> Result<(), &'static str> {
    match result {
        Ok(()) => Ok(()),
        Err(Error::DeleteRefused(_)) => Err("refused"),
        Err(Error::DeleteConflict(_)) => Err("conflict"),
        Err(e) => panic!("unexpected error {e}"),
    }
}

async fn check_removals(model: &Model, seed: u64) {
    let policy = load(model).await;
    let mut rng = Rng(seed | 1);
    for (name, r) in &model.repos {
        let repo: RepoName = name.parse().unwrap();
        for _ in 0..6 {
            let removed: Vec<&str> = TAGS.iter().copied().filter(|_| rng.chance(35)).collect();
            let tags: Vec<TagName> = removed.iter().map(|t| t.parse().unwrap()).collect();
            assert_eq!(
                kind(policy.check_tag_removal(&repo, &tags, NOW).await),
                reference_removal(model, name, &removed),
                "removing {removed:?} from {name}"
            );
        }
        for m in &r.manifests {
            let reference = Reference::Digest(m.digest.clone());
            assert_eq!(
                kind(policy.check_reference_removal(&repo, &reference, NOW).await),
                digest_removal(model, name, &m.digest),
                "deleting manifest {} of {name}",
                m.digest
            );
        }
        for b in &model.blob_pool {
            assert_eq!(
                kind(policy.check_blob_removal(&repo, b, NOW).await),
                blob_removal(model, name, b),
                "deleting blob {b} of {name}"
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]
    #[test]
    fn deletion_rules_agree_with_the_reference(seed in any::<u64>()) {
        let model = generate(seed);
        tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(check_removals(&model, seed.rotate_left(17)));
    }

    #[test]
    fn policy_agrees_with_the_reference_evaluator(seed in any::<u64>()) {
        let model = generate(seed);
        tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(check(&model));
    }
}

#[test]
fn generated_models_exercise_every_rule() {
    // Guard against a generator that never produces the interesting cases.
    let (mut restricted, mut unrestricted, mut expired, mut foreign, mut children, mut referrers) =
        (0, 0, 0, 0, 0, 0);
    let mut deletes = (0, 0, 0, 0);
    for seed in 0..96u64 {
        let m = generate(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        for o in &m.orgs {
            if m.entitlements.iter().any(|e| e.org_id == o.id) {
                restricted += 1
            } else {
                unrestricted += 1
            }
        }
        expired += m
            .entitlements
            .iter()
            .filter(|e| e.expires_at_ms == Some(NOW - 1))
            .count();
        foreign += m
            .entitlements
            .iter()
            .flat_map(|e| e.items.iter().map(move |i| (e, i)))
            .filter(|(e, i)| {
                m.artifacts
                    .iter()
                    .any(|a| a.id == i.artifact_id && a.org_id != e.org_id)
            })
            .count();
        children += m
            .repos
            .values()
            .flat_map(|r| &r.manifests)
            .filter(|x| !x.children.is_empty())
            .count();
        referrers += m
            .repos
            .values()
            .flat_map(|r| &r.manifests)
            .filter(|x| x.subject.is_some())
            .count();
        for (name, r) in &m.repos {
            for x in &r.manifests {
                match digest_removal(&m, name, &x.digest) {
                    Err("refused") => deletes.0 += 1,
                    Ok(()) => deletes.1 += 1,
                    _ => {}
                }
                for b in &x.blobs {
                    match blob_removal(&m, name, b) {
                        Err(_) => deletes.2 += 1,
                        Ok(()) => deletes.3 += 1,
                    }
                }
            }
        }
    }
    for (what, n) in [
        ("refused manifest deletes", deletes.0),
        ("allowed manifest deletes", deletes.1),
        ("refused blob deletes", deletes.2),
        ("allowed blob deletes", deletes.3),
        ("restricted", restricted),
        ("unrestricted", unrestricted),
        ("expired", expired),
        ("foreign items", foreign),
        ("indexes", children),
        ("referrers", referrers),
    ] {
        assert!(n > 0, "the generator never produced {what}");
    }
}

#[test]
fn cached_views_follow_changes_and_expiry() {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(async {
            let access = Arc::new(MemoryAccessStore::new());
            let meta = Arc::new(MemoryStore::new());
            let org = Org {
                id: OrgId::new(),
                slug: "acme".into(),
                name: "Acme".into(),
                created_at_ms: 0,
            };
            access.create_org(&org).await.unwrap();
            let app = Artifact {
                id: ArtifactId::new(),
                org_id: org.id,
                name: "app".into(),
                upstream: None,
                created_at_ms: 0,
            };
            access.create_artifact(&app).await.unwrap();
            let c = Customer {
                id: CustomerId::new(),
                org_id: org.id,
                name: "c".into(),
                created_at_ms: 0,
            };
            access.create_customer(&c).await.unwrap();
            let mut e = Entitlement {
                id: EntitlementId::new(),
                org_id: org.id,
                customer_id: c.id,
                name: "e".into(),
                expires_at_ms: Some(NOW + 10),
                items: vec![EntitlementItem {
                    artifact_id: app.id,
                    tags: TagSelection::Only(vec!["1.*".parse().unwrap()]),
                }],
                created_at_ms: 0,
            };
            access.create_entitlement(&e).await.unwrap();
            let policy = Policy::new(access.clone(), meta);
            let p = Principal::Customer {
                org: org.id,
                customer: c.id,
                user: UserId::new(),
            };
            let repo: RepoName = "acme/app".parse().unwrap();
            let tag = |t: &str| t.parse::<TagName>().unwrap();
            let a = policy.repo_access(&p, &repo, NOW).await.unwrap();
            assert!(a.allows_tag(&tag("1.0")) && !a.allows_tag(&tag("2.0")));
            // Served from the cache, and still right.
            assert!(policy
                .repo_access(&p, &repo, NOW + 9)
                .await
                .unwrap()
                .allows_tag(&tag("1.0")));
            // The entitlement expires: no store change, yet the next request sees it.
            assert!(matches!(
                policy.repo_access(&p, &repo, NOW + 10).await,
                Err(Error::NameUnknown)
            ));
            // A change applies on the next request.
            e.expires_at_ms = None;
            e.items[0].tags = TagSelection::All;
            access.update_entitlement(&e).await.unwrap();
            assert!(policy
                .repo_access(&p, &repo, NOW + 11)
                .await
                .unwrap()
                .allows_tag(&tag("2.0")));
            access.delete_entitlement(e.id).await.unwrap();
            // No entitlement left: the customer has nothing (the vendor stays entitled).
            assert!(matches!(
                policy.repo_access(&p, &repo, NOW + 12).await,
                Err(Error::NameUnknown)
            ));
            // Only opening the vendor explicitly shows everything again.
            access
                .set_access_mode(org.id, AccessMode::Open, "user:test", NOW + 13)
                .await
                .unwrap();
            assert!(policy
                .repo_access(&p, &repo, NOW + 14)
                .await
                .unwrap()
                .is_full());
        });
}
