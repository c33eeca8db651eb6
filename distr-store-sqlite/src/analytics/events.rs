//! The `pull_events` table: recording manifest GETs and listing them.

use std::sync::OnceLock;

use distr_core::analytics::{PullCursor, PullEvent, PullFilter};
use distr_core::StoreResult;
use sqlx::sqlite::SqliteConnection;
use sqlx::{QueryBuilder, Sqlite};

use super::codec::{backend, flag};
use crate::codec::{parse, parse_opt};
use crate::SqliteStore;

/// The columns of an event row, in the order of [`EventRow`].
const COLUMNS: &str = "id, org_id, artifact_id, at_ms, tag, digest, is_index, \
                       customer_id, user_id, token_id, ip, user_agent";

/// An event as selected by [`COLUMNS`].
type EventRow = (
    String,
    String,
    String,
    i64,
    Option<String>,
    String,
    i64,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

fn decode(row: EventRow) -> StoreResult<PullEvent> {
    let (id_, org, artifact, at_ms, tag, digest, index, customer, user, token, ip, user_agent) =
        row;
    Ok(PullEvent {
        id: parse("pull event id", &id_)?,
        at_ms,
        org: parse("pull event organisation id", &org)?,
        artifact: parse("pull event artifact id", &artifact)?,
        tag: parse_opt("pull event tag", tag.as_deref())?,
        digest: parse("pull event digest", &digest)?,
        index: flag("pull event index flag", index)?,
        customer: parse_opt("pull event customer id", customer.as_deref())?,
        user: parse_opt("pull event user id", user.as_deref())?,
        token: parse_opt("pull event token id", token.as_deref())?,
        ip: parse_opt("pull event address", ip.as_deref())?,
        user_agent,
    })
}

/// Rows per multi-row `INSERT`, largest first. A batch is written with as
/// few statements as these sizes allow (a batch of 1 000: three of 256,
/// seven of 32, two of 4), and each size's statement is prepared once per
/// connection and then reused, so recording costs SQLite's row and index
/// inserts and little else. 256 rows bind 3 072 parameters, well under
/// SQLite's limit of 32 766.
///
/// `OR IGNORE` rather than `ON CONFLICT (id) DO NOTHING`: a multi-row
/// statement that may abort half-way makes SQLite copy every page it
/// changes to a statement journal first (measured: the largest single cost
/// of a batch); one that ignores conflicts cannot abort. It skips rows
/// breaking any constraint, but the only one a row built here can break is
/// the id's uniqueness (the others are `NOT NULL` columns always bound and
/// a flag bound from a `bool`). A trigger raising an error still fails the
/// batch, whole.
const CHUNK_ROWS: [usize; 4] = [256, 32, 4, 1];

/// The `INSERT` statement of `rows` events, for each of [`CHUNK_ROWS`].
fn insert_sql(rows: usize) -> &'static str {
    static SQL: OnceLock<Vec<String>> = OnceLock::new();
    let all = SQL.get_or_init(|| {
        CHUNK_ROWS
            .iter()
            .map(|&n| {
                let row = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
                format!(
                    "INSERT OR IGNORE INTO pull_events ({COLUMNS}) VALUES {}",
                    vec![row; n].join(", ")
                )
            })
            .collect()
    });
    let i = CHUNK_ROWS
        .iter()
        .position(|&n| n == rows)
        .expect("a chunk size of CHUNK_ROWS");
    &all[i]
}

/// Inserts `events`, skipping ids already stored (and repeats within
/// `events`: the first one is kept), with one multi-row statement per
/// chunk of [`CHUNK_ROWS`].
pub(crate) async fn insert(tx: &mut SqliteConnection, events: &[PullEvent]) -> StoreResult<()> {
    let mut rest = events;
    while !rest.is_empty() {
        let rows = CHUNK_ROWS
            .into_iter()
            .find(|&n| n <= rest.len())
            .unwrap_or(1);
        let (chunk, tail) = rest.split_at(rows);
        rest = tail;
        let mut q = sqlx::query(insert_sql(rows));
        for e in chunk {
            q = q
                .bind(e.id.to_string())
                .bind(e.org.to_string())
                .bind(e.artifact.to_string())
                .bind(e.at_ms)
                .bind(e.tag.as_ref().map(|t| t.as_str().to_owned()))
                .bind(e.digest.to_string())
                .bind(i64::from(e.index))
                .bind(e.customer.map(|c| c.to_string()))
                .bind(e.user.map(|u| u.to_string()))
                .bind(e.token.map(|t| t.to_string()))
                .bind(e.ip.map(|ip| ip.to_string()))
                .bind(e.user_agent.clone());
        }
        q.execute(&mut *tx).await.map_err(backend)?;
    }
    Ok(())
}

/// A page of the events matching `filter`, newest first, after `cursor`.
///
/// The statement is built from the filter's set fields only, so that it
/// stays a range scan of `pull_events_by_time` whatever the page.
pub(crate) async fn list(
    store: &SqliteStore,
    filter: &PullFilter,
    cursor: Option<&PullCursor>,
    limit: usize,
) -> StoreResult<(Vec<PullEvent>, Option<PullCursor>)> {
    if limit == 0 {
        return Ok((Vec::new(), None));
    }
    let mut q: QueryBuilder<Sqlite> = QueryBuilder::new("SELECT ");
    q.push(COLUMNS)
        .push(" FROM pull_events WHERE org_id = ")
        .push_bind(filter.org.to_string());
    if let Some(a) = filter.artifact {
        q.push(" AND artifact_id = ").push_bind(a.to_string());
    }
    if let Some(t) = &filter.tag {
        q.push(" AND tag = ").push_bind(t.as_str().to_owned());
    }
    if let Some(c) = filter.customer {
        q.push(" AND customer_id = ").push_bind(c.to_string());
    }
    if let Some(u) = filter.user {
        q.push(" AND user_id = ").push_bind(u.to_string());
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
            .push_bind(c.id.to_string())
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
