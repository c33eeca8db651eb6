//! Upload sessions: compare-and-set updates.

use crate::error::StoreError;
use crate::store::{MetadataStore, UploadPart, UploadRecord};
use crate::testkit::repo;

/// Upload sessions are per repository and updated by compare-and-set.
pub async fn upload_sessions_compare_and_set(store: &dyn MetadataStore) {
    let r = repo("org/app");
    let mut up = UploadRecord {
        id: "0b7e2b8a-1c1e-4c1a-9d8f-000000000001".into(),
        repo: r.clone(),
        parts: vec![],
        created_at_ms: 1,
    };
    store.create_upload(&up).await.unwrap();
    assert!(matches!(
        store.create_upload(&up).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store.get_upload(&r, &up.id).await.unwrap(),
        Some(up.clone())
    );
    assert_eq!(
        store.get_upload(&repo("org/other"), &up.id).await.unwrap(),
        None
    );
    up.parts.push(UploadPart {
        key: "p1".into(),
        size: 10,
    });
    store.update_upload(&up, 0).await.unwrap();
    up.parts.push(UploadPart {
        key: "p2".into(),
        size: 5,
    });
    // A stale writer that still thinks the upload is empty loses.
    assert!(matches!(
        store.update_upload(&up, 0).await,
        Err(StoreError::Conflict(_))
    ));
    store.update_upload(&up, 10).await.unwrap();
    let got = store.get_upload(&r, &up.id).await.unwrap().unwrap();
    assert_eq!((got.size(), got.parts.len()), (15, 2));
    assert!(!store
        .delete_upload(&repo("org/other"), &up.id)
        .await
        .unwrap());
    assert!(store.delete_upload(&r, &up.id).await.unwrap());
    assert_eq!(store.get_upload(&r, &up.id).await.unwrap(), None);
    assert!(matches!(
        store.update_upload(&up, 15).await,
        Err(StoreError::Conflict(_))
    ));
}
