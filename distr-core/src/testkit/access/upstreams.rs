//! Artifacts mirrored from an upstream: their upstream columns, listing them across vendors, and their sync status.

use crate::access::*;
use crate::upstream::UpstreamAuth;

use super::fixtures::{artifact, basic, by_creation, ecr, mirror, org, upstream};

/// An artifact's upstream, credentials and `insecure` flag included, comes
/// back exactly from every read.
pub async fn artifact_upstreams_roundtrip(store: &dyn AccessStore) {
    let a = org("acme", 1);
    store.create_org(&a).await.unwrap();
    let artifacts = [
        artifact(&a, "pushed", 10),
        mirror(
            &a,
            "basic",
            upstream("ghcr.io/acme/app", basic(), false),
            11,
        ),
        mirror(
            &a,
            "ecr",
            upstream(
                "123456789012.dkr.ecr.us-east-1.amazonaws.com/team/app",
                ecr(),
                false,
            ),
            12,
        ),
        mirror(
            &a,
            "anonymous",
            upstream("docker.io/redis", UpstreamAuth::None, true),
            13,
        ),
        mirror(
            &a,
            "local",
            upstream("127.0.0.1:5001/team/app", basic(), true),
            14,
        ),
    ];
    for x in &artifacts {
        store.create_artifact(x).await.unwrap();
    }
    for x in &artifacts {
        assert_eq!(store.get_artifact(x.id).await.unwrap().as_ref(), Some(x));
        assert_eq!(
            store
                .get_artifact_by_name(a.id, &x.name)
                .await
                .unwrap()
                .as_ref(),
            Some(x)
        );
    }
    assert_eq!(
        store.list_artifacts(a.id).await.unwrap(),
        artifacts.to_vec()
    );
}

/// `update_artifact_upstream` sets, replaces and clears an upstream, moves
/// the access version, and reports a missing artifact.
pub async fn artifact_upstreams_are_set_changed_and_cleared(store: &dyn AccessStore) {
    let a = org("acme", 1);
    store.create_org(&a).await.unwrap();
    let mut x = artifact(&a, "app", 10);
    store.create_artifact(&x).await.unwrap();
    let mut version = store.access_version().await.unwrap();
    for up in [
        Some(upstream("ghcr.io/acme/app", basic(), false)),
        Some(upstream("ghcr.io/acme/app", UpstreamAuth::None, true)),
        Some(upstream(
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com/app",
            ecr(),
            false,
        )),
        None,
        Some(upstream("quay.io/acme/app", basic(), true)),
    ] {
        assert!(store
            .update_artifact_upstream(x.id, up.as_ref())
            .await
            .unwrap());
        let moved = store.access_version().await.unwrap();
        assert_ne!(
            moved, version,
            "update_artifact_upstream must move the version"
        );
        version = moved;
        x.upstream = up;
        assert_eq!(store.get_artifact(x.id).await.unwrap(), Some(x.clone()));
        assert_eq!(
            store.get_artifact_by_name(a.id, "app").await.unwrap(),
            Some(x.clone())
        );
        assert_eq!(store.list_artifacts(a.id).await.unwrap(), vec![x.clone()]);
    }
    let ghost = ArtifactId::new();
    let up = upstream("ghcr.io/acme/ghost", basic(), false);
    assert!(!store
        .update_artifact_upstream(ghost, Some(&up))
        .await
        .unwrap());
    assert!(!store.update_artifact_upstream(ghost, None).await.unwrap());
    assert_eq!(store.get_artifact(ghost).await.unwrap(), None);
    assert_eq!(store.list_artifacts(a.id).await.unwrap(), vec![x]);
}

/// `list_upstream_artifacts` lists the artifacts with an upstream of every
/// vendor, by creation time then id, and follows upstream changes.
pub async fn upstream_artifacts_are_listed_across_vendors(store: &dyn AccessStore) {
    let (a, b) = (org("acme", 1), org("globex", 2));
    store.create_org(&a).await.unwrap();
    store.create_org(&b).await.unwrap();
    assert_eq!(store.list_upstream_artifacts().await.unwrap(), vec![]);
    let up = |repo: &str| upstream(&format!("ghcr.io/{repo}"), basic(), false);
    let a_late = mirror(&a, "late", up("acme/late"), 30);
    let b_pushed = artifact(&b, "pushed", 5);
    let b_early = mirror(&b, "early", up("globex/early"), 10);
    // Two artifacts created at the same time: the id decides.
    let a_tie = mirror(&a, "tie", up("acme/tie"), 20);
    let b_tie = mirror(&b, "tie", up("globex/tie"), 20);
    let a_pushed = artifact(&a, "pushed", 25);
    for x in [&a_late, &b_pushed, &b_early, &a_tie, &b_tie, &a_pushed] {
        store.create_artifact(x).await.unwrap();
    }
    assert_eq!(
        store.list_upstream_artifacts().await.unwrap(),
        by_creation(vec![
            a_late.clone(),
            b_early.clone(),
            a_tie.clone(),
            b_tie.clone()
        ])
    );
    // Clearing an upstream drops the artifact from the list, setting one
    // adds it.
    assert!(store
        .update_artifact_upstream(b_early.id, None)
        .await
        .unwrap());
    let a_now_mirrored = mirror(&a, "pushed", up("acme/pushed"), 25);
    let a_now_mirrored = Artifact {
        id: a_pushed.id,
        ..a_now_mirrored
    };
    assert!(store
        .update_artifact_upstream(a_pushed.id, a_now_mirrored.upstream.as_ref())
        .await
        .unwrap());
    assert!(store.delete_artifact(a_late.id).await.unwrap());
    assert_eq!(
        store.list_upstream_artifacts().await.unwrap(),
        by_creation(vec![a_tie, b_tie, a_now_mirrored])
    );
}

/// Sync statuses: the default until one is stored, stored only for existing
/// artifacts, never moving the access version, and gone with the artifact.
pub async fn sync_status_roundtrips_without_moving_the_access_version(store: &dyn AccessStore) {
    let a = org("acme", 1);
    store.create_org(&a).await.unwrap();
    let x = mirror(&a, "app", upstream("ghcr.io/acme/app", basic(), false), 10);
    let y = mirror(&a, "other", upstream("ghcr.io/acme/other", ecr(), true), 11);
    store.create_artifact(&x).await.unwrap();
    store.create_artifact(&y).await.unwrap();
    let ghost = ArtifactId::new();
    assert_eq!(
        store.get_sync_status(x.id).await.unwrap(),
        SyncStatus::default()
    );
    assert_eq!(
        store.get_sync_status(ghost).await.unwrap(),
        SyncStatus::default()
    );

    let version = store.access_version().await.unwrap();
    let failed = SyncStatus {
        last_synced_at_ms: None,
        last_sync_attempt_at_ms: Some(100),
        last_sync_error: Some("upstream: 401 Unauthorized — \"bad\" credentials".into()),
    };
    assert!(store.put_sync_status(x.id, &failed).await.unwrap());
    assert_eq!(store.get_sync_status(x.id).await.unwrap(), failed);
    let synced = SyncStatus {
        last_synced_at_ms: Some(250),
        last_sync_attempt_at_ms: Some(200),
        last_sync_error: None,
    };
    assert!(store.put_sync_status(x.id, &synced).await.unwrap());
    assert_eq!(store.get_sync_status(x.id).await.unwrap(), synced);
    let failed_again = SyncStatus {
        last_sync_attempt_at_ms: Some(300),
        last_sync_error: Some("timeout".into()),
        ..synced.clone()
    };
    assert!(store.put_sync_status(y.id, &failed_again).await.unwrap());
    assert_eq!(store.get_sync_status(y.id).await.unwrap(), failed_again);
    assert_eq!(store.get_sync_status(x.id).await.unwrap(), synced);
    // A missing artifact gets no status.
    assert!(!store.put_sync_status(ghost, &synced).await.unwrap());
    assert_eq!(
        store.get_sync_status(ghost).await.unwrap(),
        SyncStatus::default()
    );
    assert_eq!(
        store.access_version().await.unwrap(),
        version,
        "put_sync_status must not move the version"
    );
    // Sync statuses do not show in the artifacts.
    assert_eq!(store.get_artifact(x.id).await.unwrap(), Some(x.clone()));

    // Deleting the artifact deletes its status; a new artifact of the same
    // name starts afresh.
    assert!(store.delete_artifact(x.id).await.unwrap());
    assert_eq!(
        store.get_sync_status(x.id).await.unwrap(),
        SyncStatus::default()
    );
    assert!(!store.put_sync_status(x.id, &synced).await.unwrap());
    assert_eq!(
        store.get_sync_status(x.id).await.unwrap(),
        SyncStatus::default()
    );
    let again = mirror(&a, "app", upstream("ghcr.io/acme/app", basic(), false), 20);
    store.create_artifact(&again).await.unwrap();
    assert_eq!(
        store.get_sync_status(again.id).await.unwrap(),
        SyncStatus::default()
    );
    assert_eq!(store.get_sync_status(y.id).await.unwrap(), failed_again);
}
