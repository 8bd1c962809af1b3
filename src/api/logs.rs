//! A job's log (docs/api.md, "Job logs"): a cursor over sequence numbers, or a Server-Sent Events
//! stream that wakes on new lines (no polling inside the worker) and pulls at the
//! reader's pace, so a slow reader holds one batch at most and never slows the job.

use std::time::Duration;

use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, get, web};
use futures::StreamExt;
use serde::{Deserialize, Serialize};

use super::auth::Authorized;
use super::error::{ApiError, ErrorBody};
use super::state::AppState;
use crate::domain::JobState;
use crate::joblog::LogLine;
use crate::jobs::FollowEvent;

const DEFAULT_LIMIT: usize = 1000;
const MAX_LIMIT: usize = 10_000;
/// Text in one answer or one batch of events, at most (a line is never split): with
/// lines of up to 16 KiB, 10,000 of them would be 160 MB.
const PAGE_BYTES: usize = 4 * 1024 * 1024;
/// A comment line now and then keeps proxies from closing a quiet stream.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct LogQuery {
    /// The first sequence number wanted.
    #[param(minimum = 0, maximum = 18446744073709551615_u64)]
    since: Option<u64>,
    /// Lines at most; above 10000 counts as 10000.
    #[param(minimum = 1, maximum = 18446744073709551615_u64)]
    limit: Option<usize>,
    /// Stream Server-Sent Events until the job ends.
    #[serde(default)]
    follow: bool,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LogPage {
    success: bool,
    job_id: String,
    state: JobState,
    first_seq: u64,
    next_seq: u64,
    done: bool,
    lines: Vec<LogLine>,
}

#[utoipa::path(get, path = "/corebuild/v1/jobs/{id}/logs", params(("id" = String, Path, description = "job id"), LogQuery),
    responses((status = 200, description = "a page of lines; with follow=true, Server-Sent Events (docs/api.md, \"Following\")",
            content((LogPage = "application/json"), (String = "text/event-stream"))),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 503, description = "cluster mode: NATS is out of reach", body = ErrorBody)))]
#[get("/corebuild/v1/jobs/{id}/logs")]
pub(crate) async fn logs(
    _: Authorized,
    req: HttpRequest,
    id: web::Path<String>,
    query: web::Query<LogQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let backend = state.backend();
    let limit = match query.limit {
        None => DEFAULT_LIMIT,
        Some(0) => {
            // An unknown job is reported before a bad parameter.
            backend.status(&id).await?;
            return Err(ApiError::InvalidRequest(
                "limit: must be at least 1".to_owned(),
            ));
        }
        Some(n) => n.min(MAX_LIMIT),
    };
    if query.follow {
        let resume = req
            .headers()
            .get("last-event-id")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            // The line after the last one seen; an id past the end sends only new lines.
            .map(|last| last.saturating_add(1));
        let since = resume.or(query.since).unwrap_or(0);
        let events = backend.follow(&id, since, PAGE_BYTES, KEEP_ALIVE).await?;
        return Ok(HttpResponse::Ok()
            .content_type("text/event-stream")
            .insert_header(("Cache-Control", "no-cache"))
            .insert_header(("X-Accel-Buffering", "no"))
            .streaming(events.map(|event| Ok::<_, actix_web::Error>(sse(event)))));
    }
    let page = backend
        .log_page(&id, query.since.unwrap_or(0), limit, PAGE_BYTES)
        .await?;
    Ok(HttpResponse::Ok().json(LogPage {
        success: true,
        job_id: id.into_inner(),
        state: page.state,
        first_seq: page.first_seq,
        next_seq: page.next_seq,
        done: page.done,
        lines: page.lines,
    }))
}

/// One event (or a batch of them) in the Server-Sent Events format.
fn sse(event: FollowEvent) -> Bytes {
    match event {
        FollowEvent::Lines(lines) => events(&lines),
        FollowEvent::KeepAlive => Bytes::from_static(b": keep-alive\n\n"),
        FollowEvent::End { state, code } => {
            let data = serde_json::json!({ "state": state, "code": code });
            Bytes::from(format!("event: end\ndata: {data}\n\n"))
        }
    }
}

fn events(lines: &[LogLine]) -> Bytes {
    let mut out = String::new();
    for line in lines {
        out.push_str(&format!("id: {}\n", line.seq));
        // A data field ends at a line break, so a stray CR becomes its own data line.
        for part in line.text.split('\r') {
            out.push_str("data: ");
            out.push_str(part);
            out.push('\n');
        }
        out.push('\n');
    }
    Bytes::from(out)
}
