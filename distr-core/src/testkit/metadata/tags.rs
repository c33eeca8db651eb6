//! Tags: moving, listing, deleting and paginating them.

use crate::store::{MetadataStore, Page};
use crate::testkit::{manifest, repo, tag};

/// Tags point at manifests, move when re-pushed, and can be deleted alone.
pub async fn tags_move_list_and_delete(store: &dyn MetadataStore) {
    let r = repo("org/app");
    let (m1, m2) = (manifest("1", None), manifest("2", None));
    store
        .put_manifest(&r, &m1, Some(&tag("latest")))
        .await
        .unwrap();
    assert_eq!(
        store.resolve_tag(&r, &tag("latest")).await.unwrap(),
        Some(m1.digest.clone())
    );
    store
        .put_manifest(&r, &m2, Some(&tag("latest")))
        .await
        .unwrap();
    assert_eq!(
        store.resolve_tag(&r, &tag("latest")).await.unwrap(),
        Some(m2.digest.clone())
    );
    store.put_manifest(&r, &m1, Some(&tag("v1"))).await.unwrap();
    let all = store.list_tags(&r, &Page::default()).await.unwrap();
    assert_eq!(all, vec![tag("latest"), tag("v1")]);
    assert!(store.delete_tag(&r, &tag("latest")).await.unwrap());
    assert!(!store.delete_tag(&r, &tag("latest")).await.unwrap());
    assert_eq!(store.resolve_tag(&r, &tag("latest")).await.unwrap(), None);
    // The manifest stays after its tag is deleted.
    assert!(store.get_manifest(&r, &m2.digest).await.unwrap().is_some());
    assert_eq!(
        store
            .resolve_tag(&repo("org/other"), &tag("v1"))
            .await
            .unwrap(),
        None
    );
    assert!(store
        .list_tags(&repo("org/none"), &Page::default())
        .await
        .unwrap()
        .is_empty());
}

/// Tag listing is byte-wise lexical, paged by `last` and `limit`.
pub async fn tag_pagination_is_lexical(store: &dyn MetadataStore) {
    let r = repo("org/app");
    let m = manifest("x", None);
    let names = [
        "v10", "V2", "a", "_x", "1.0", "1.10", "1.9", "B", "b-1", "b.1", "b_1",
    ];
    for n in names {
        store.put_manifest(&r, &m, Some(&tag(n))).await.unwrap();
    }
    let mut expected: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    expected.sort();
    let all: Vec<String> = store
        .list_tags(&r, &Page::default())
        .await
        .unwrap()
        .iter()
        .map(|t| t.to_string())
        .collect();
    assert_eq!(all, expected);
    let mut paged = Vec::new();
    let mut last = None;
    loop {
        let page = store
            .list_tags(
                &r,
                &Page {
                    last: last.clone(),
                    limit: Some(3),
                },
            )
            .await
            .unwrap();
        assert!(page.len() <= 3);
        if page.is_empty() {
            break;
        }
        last = Some(page.last().unwrap().to_string());
        paged.extend(page.iter().map(|t| t.to_string()));
    }
    assert_eq!(paged, expected);
    let after_b = store
        .list_tags(
            &r,
            &Page {
                last: Some("b".into()),
                limit: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(
        after_b.first().map(|t| t.to_string()),
        Some("b-1".to_string())
    );
    assert!(store
        .list_tags(
            &r,
            &Page {
                last: None,
                limit: Some(0)
            }
        )
        .await
        .unwrap()
        .is_empty());
}
