//! `GET /analytics/pulls.csv`: the pull log as CSV (RFC 4180: CRLF line
//! ends, fields quoted when they hold `,`, `"`, CR or LF, quotes doubled),
//! newest first, streamed page by page, at most [`MAX_ROWS`] rows.
//!
//! Text that a spreadsheet would read as a formula (starting with `=`, `+`,
//! `-`, `@`, tab or CR: a user agent is whatever the client sent) gets a
//! leading `'`.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use distr_core::access::{ArtifactId, CustomerId};
use distr_core::analytics::{DynAnalyticsStore, PullCursor, PullEvent, PullFilter};
use futures::StreamExt;
use http::{header, HeaderValue, Response};
use http_body_util::{BodyExt, StreamBody};

use super::super::error::ApiError;
use super::super::instant::format_rfc3339;
use crate::body::{BoxError, ResponseBody};

/// Most rows exported at once; narrow the filter (`from`/`to`) for more.
pub(super) const MAX_ROWS: usize = 1_000_000;
/// Events read per store query.
const PAGE: usize = 1000;

/// The header row.
const HEADER: &str = "id,at_ms,time,artifact_id,artifact,tag,digest,index,customer_id,customer,user_id,token_id,ip,user_agent\r\n";

/// Names shown next to ids.
pub(super) struct Names {
    pub artifacts: HashMap<ArtifactId, String>,
    pub customers: HashMap<CustomerId, String>,
}

/// Appends one field, quoted and escaped as needed.
fn field(out: &mut String, value: &str) {
    let formula = value.starts_with(['=', '+', '-', '@', '\t', '\r']);
    let quote = formula || value.contains([',', '"', '\r', '\n']);
    if quote {
        out.push('"');
    }
    if formula {
        out.push('\'');
    }
    for c in value.chars() {
        if c == '"' {
            out.push('"');
        }
        out.push(c);
    }
    if quote {
        out.push('"');
    }
}

/// One event as a CSV line.
fn row(out: &mut String, e: &PullEvent, names: &Names) {
    let opt = |v: Option<String>| v.unwrap_or_default();
    let cells = [
        e.id.to_string(),
        e.at_ms.to_string(),
        format_rfc3339(e.at_ms),
        e.artifact.to_string(),
        opt(names.artifacts.get(&e.artifact).cloned()),
        opt(e.tag.as_ref().map(|t| t.as_str().to_owned())),
        e.digest.to_string(),
        e.index.to_string(),
        opt(e.customer.map(|c| c.to_string())),
        opt(e.customer.and_then(|c| names.customers.get(&c).cloned())),
        opt(e.user.map(|u| u.to_string())),
        opt(e.token.map(|t| t.to_string())),
        opt(e.ip.map(|ip| ip.to_string())),
        opt(e.user_agent.clone()),
    ];
    for (i, cell) in cells.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        field(out, cell);
    }
    out.push_str("\r\n");
}

/// Where the export is.
struct State {
    store: Arc<DynAnalyticsStore>,
    filter: PullFilter,
    names: Names,
    /// The next page starts after this; `None` once done.
    next: Option<Option<PullCursor>>,
    rows: usize,
}

impl State {
    /// The next chunk of CSV; `None` at the end.
    async fn chunk(mut self) -> Option<(Result<Bytes, BoxError>, State)> {
        let cursor = self.next.take()?;
        let limit = PAGE.min(MAX_ROWS - self.rows);
        if limit == 0 {
            return None;
        }
        let (events, next) = match self
            .store
            .list_pulls(&self.filter, cursor.as_ref(), limit)
            .await
        {
            Ok(page) => page,
            Err(e) => {
                // Ends the response abnormally: the client sees a broken
                // transfer rather than a silently short file.
                tracing::error!(error = %e, "CSV export of pulls failed mid-stream");
                return Some((Err(Box::new(e) as BoxError), self));
            }
        };
        let mut out = String::with_capacity(events.len() * 300);
        for e in &events {
            row(&mut out, e, &self.names);
        }
        self.rows += events.len();
        self.next = next.map(Some);
        if self.rows >= MAX_ROWS && self.next.is_some() {
            tracing::warn!(rows = self.rows, "CSV export of pulls cut at its row limit");
            self.next = None;
        }
        Some((Ok(Bytes::from(out)), self))
    }
}

/// The streamed CSV response. The first page is read before answering, so
/// an unusable store is a clean 500, not a broken download.
pub(super) async fn response(
    store: Arc<DynAnalyticsStore>,
    filter: PullFilter,
    names: Names,
) -> Result<Response<ResponseBody>, ApiError> {
    let state = State {
        store,
        filter,
        names,
        next: Some(None),
        rows: 0,
    };
    let first = match state.chunk().await {
        Some((Ok(bytes), state)) => Some((bytes, state)),
        Some((Err(e), _)) => return Err(ApiError::internal(e)),
        None => None,
    };
    let (first, rest) = match first {
        Some((bytes, state)) => (bytes, Some(state)),
        None => (Bytes::new(), None),
    };
    let head = [Bytes::from_static(HEADER.as_bytes()), first]
        .into_iter()
        .map(Ok::<_, BoxError>);
    let tail = futures::stream::unfold(rest, |s| async move {
        let (item, s) = s?.chunk().await?;
        Some((item, Some(s)))
    });
    let body = futures::stream::iter(head)
        .chain(tail)
        .map(|r| r.map(http_body::Frame::data));
    let mut resp = Response::new(StreamBody::new(body).boxed_unsync());
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8; header=present"),
    );
    h.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"pulls.csv\""),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_quoted_per_rfc_4180_and_formulas_defused() {
        let f = |v: &str| {
            let mut s = String::new();
            field(&mut s, v);
            s
        };
        assert_eq!(f("plain"), "plain");
        assert_eq!(f("a,b"), "\"a,b\"");
        assert_eq!(f("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(f("line\r\nbreak"), "\"line\r\nbreak\"");
        assert_eq!(f("=HYPERLINK(1)"), "\"'=HYPERLINK(1)\"");
        assert_eq!(f("-1"), "\"'-1\"");
        assert_eq!(f(""), "");
    }
}
