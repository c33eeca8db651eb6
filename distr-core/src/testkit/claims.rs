//! Conformance suite of [`RunClaims`]: every backend runs [`run_all`].

use std::sync::Arc;

use crate::store::RunClaims;

/// Runs every case against `store` (fresh, without claims).
pub async fn run_all(store: Arc<dyn RunClaims>) {
    one_claim_per_run(store.as_ref()).await;
    concurrent_claims_elect_one(store).await;
}

/// A run is claimed once; other runs and other jobs are separate.
pub async fn one_claim_per_run(store: &dyn RunClaims) {
    assert!(store.claim_run("sync", 1_000, "a").await.unwrap());
    assert!(!store.claim_run("sync", 1_000, "b").await.unwrap());
    assert!(
        !store.claim_run("sync", 1_000, "a").await.unwrap(),
        "not twice by the same holder either"
    );
    assert!(store.claim_run("sync", 2_000, "b").await.unwrap());
    assert!(store.claim_run("gc", 1_000, "b").await.unwrap());
}

/// Of many concurrent claims of one run, exactly one succeeds.
pub async fn concurrent_claims_elect_one(store: Arc<dyn RunClaims>) {
    let mut tasks = Vec::new();
    for i in 0..16 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            store
                .claim_run("race", 42, &format!("replica-{i}"))
                .await
                .unwrap()
        }));
    }
    let mut won = 0;
    for t in tasks {
        if t.await.unwrap() {
            won += 1;
        }
    }
    assert_eq!(won, 1, "exactly one of 16 concurrent claims wins");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryRunClaims;

    #[tokio::test]
    async fn memory_run_claims_conform() {
        run_all(Arc::new(MemoryRunClaims::new())).await;
    }
}
