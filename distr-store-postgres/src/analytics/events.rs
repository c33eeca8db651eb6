//! The `pull_events` table: recording manifest GETs and listing them.

use distr_core::access::{ArtifactId, CustomerId, OrgId, TokenId, UserId};
use distr_core::analytics::{PullCursor, PullEvent, PullFilter, PullId};
use distr_core::StoreResult;
use sqlx::types::Uuid;
use sqlx::{Postgres, QueryBuilder, Transaction};

use super::codec::{backend, storable_text};
use crate::codec::{parse, parse_opt};
use crate::PostgresStore;

/// The columns of an event row, in the order of [`EventRow`].
const COLUMNS: &str = "id, org_id, artifact_id, at_ms, tag, digest, is_index, \
                       customer_id, user_id, token_id, ip, user_agent";

/// An event as selected by [`COLUMNS`].
type EventRow = (
    Uuid,
    Uuid,
    Uuid,
    i64,
    Option<String>,
    String,
    bool,
    Option<Uuid>,
    Option<Uuid>,
    Option<Uuid>,
    Option<String>,
    Option<String>,
);

fn decode(row: EventRow) -> StoreResult<PullEvent> {
    let (id, org, artifact, at_ms, tag, digest, index, customer, user, token, ip, user_agent) = row;
    Ok(PullEvent {
        id: PullId(id),
        at_ms,
        org: OrgId(org),
        artifact: ArtifactId(artifact),
        tag: parse_opt("pull event tag", tag.as_deref())?,
        digest: parse("pull event digest", &digest)?,
        index,
        customer: customer.map(CustomerId),
        user: user.map(UserId),
        token: token.map(TokenId),
        ip: parse_opt("pull event address", ip.as_deref())?,
        user_agent,
    })
}

/// Inserts `events` with one statement, skipping ids already stored.
pub(crate) async fn insert(
    tx: &mut Transaction<'static, Postgres>,
    events: &[PullEvent],
) -> StoreResult<()> {
    if events.is_empty() {
        return Ok(());
    }
    let column = |f: fn(&PullEvent) -> Option<Uuid>| events.iter().map(f).collect::<Vec<_>>();
    let ids: Vec<Uuid> = events.iter().map(|e| e.id.0).collect();
    let orgs: Vec<Uuid> = events.iter().map(|e| e.org.0).collect();
    let artifacts: Vec<Uuid> = events.iter().map(|e| e.artifact.0).collect();
    let times: Vec<i64> = events.iter().map(|e| e.at_ms).collect();
    let tags: Vec<Option<String>> = events
        .iter()
        .map(|e| e.tag.as_ref().map(|t| t.as_str().to_owned()))
        .collect();
    let digests: Vec<String> = events.iter().map(|e| e.digest.to_string()).collect();
    let indexes: Vec<bool> = events.iter().map(|e| e.index).collect();
    let ips: Vec<Option<String>> = events
        .iter()
        .map(|e| e.ip.map(|ip| ip.to_string()))
        .collect();
    let agents: Vec<Option<String>> = events
        .iter()
        .map(|e| e.user_agent.as_deref().map(storable_text))
        .collect();
    sqlx::query(
        "INSERT INTO pull_events (id, org_id, artifact_id, at_ms, tag, digest, is_index, \
         customer_id, user_id, token_id, ip, user_agent) \
         SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[], $4::int8[], $5::text[], \
         $6::text[], $7::bool[], $8::uuid[], $9::uuid[], $10::uuid[], $11::text[], $12::text[]) \
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(ids)
    .bind(orgs)
    .bind(artifacts)
    .bind(times)
    .bind(tags)
    .bind(digests)
    .bind(indexes)
    .bind(column(|e| e.customer.map(|c| c.0)))
    .bind(column(|e| e.user.map(|u| u.0)))
    .bind(column(|e| e.token.map(|t| t.0)))
    .bind(ips)
    .bind(agents)
    .execute(&mut **tx)
    .await
    .map_err(backend)?;
    Ok(())
}

/// A page of the events matching `filter`, newest first, after `cursor`.
///
/// The statement is built from the filter's set fields only, so that it
/// stays a range scan of `pull_events_by_time` whatever the page.
pub(crate) async fn list(
    store: &PostgresStore,
    filter: &PullFilter,
    cursor: Option<&PullCursor>,
    limit: usize,
) -> StoreResult<(Vec<PullEvent>, Option<PullCursor>)> {
    if limit == 0 {
        return Ok((Vec::new(), None));
    }
    let mut q: QueryBuilder<Postgres> = QueryBuilder::new("SELECT ");
    q.push(COLUMNS)
        .push(" FROM pull_events WHERE org_id = ")
        .push_bind(filter.org.0);
    if let Some(a) = filter.artifact {
        q.push(" AND artifact_id = ").push_bind(a.0);
    }
    if let Some(t) = &filter.tag {
        q.push(" AND tag = ").push_bind(t.as_str().to_owned());
    }
    if let Some(c) = filter.customer {
        q.push(" AND customer_id = ").push_bind(c.0);
    }
    if let Some(u) = filter.user {
        q.push(" AND user_id = ").push_bind(u.0);
    }
    if let Some(ip) = filter.ip {
        q.push(" AND ip = ").push_bind(ip.to_string());
    }
    if let Some(from) = filter.from_ms {
        q.push(" AND at_ms >= ").push_bind(from);
    }
    if let Some(to) = filter.to_ms {
        q.push(" AND at_ms < ").push_bind(to);
    }
    if let Some(c) = cursor {
        q.push(" AND (at_ms, id) < (")
            .push_bind(c.at_ms)
            .push(", ")
            .push_bind(c.id.0)
            .push(")");
    }
    // One more row than asked tells whether another page follows.
    let fetch = i64::try_from(limit)
        .unwrap_or(i64::MAX - 1)
        .saturating_add(1);
    q.push(" ORDER BY at_ms DESC, id DESC LIMIT ")
        .push_bind(fetch);
    let rows: Vec<EventRow> = q
        .build_query_as()
        .fetch_all(&store.pool)
        .await
        .map_err(backend)?;
    let more = rows.len() > limit;
    let events = rows
        .into_iter()
        .take(limit)
        .map(decode)
        .collect::<StoreResult<Vec<_>>>()?;
    let next = if more {
        events.last().map(PullCursor::after)
    } else {
        None
    };
    Ok((events, next))
}
