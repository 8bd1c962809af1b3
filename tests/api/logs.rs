//! The log endpoint: a cursor that never repeats or skips a retained line, and SSE.

use serde_json::Value;

use crate::support::helpers::{TestApp, job, spawn_worker};
use crate::support::s3::start_s3;

async fn page(app: &TestApp, id: &str, query: &str) -> Value {
    let response = app
        .get(&format!("/corebuild/v1/jobs/{id}/logs{query}"))
        .await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

fn seqs(page: &Value) -> Vec<u64> {
    page["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["seq"].as_u64().unwrap())
        .collect()
}

#[tokio::test]
async fn polling_a_flooding_job_with_next_seq_is_gap_free() {
    let s3 = start_s3().await;
    // 2 × 30,000 lines through a ring of 5,000: lines are evicted while we poll.
    let app = spawn_worker("flood 30000", &["--log-lines", "5000"]).await;
    app.submit_async(&job("tail", &s3)).await;
    let mut since = 0;
    let mut seen: Vec<u64> = Vec::new();
    let mut skipped = 0;
    loop {
        let current = page(&app, "tail", &format!("?since={since}&limit=700")).await;
        let first_seq = current["firstSeq"].as_u64().unwrap();
        let lines = seqs(&current);
        if let Some(&first) = lines.first() {
            // Starts exactly where asked, or at the oldest kept line if that was evicted.
            assert_eq!(first, since.max(first_seq), "since={since}");
            assert!(lines.windows(2).all(|w| w[1] == w[0] + 1), "contiguous");
            skipped += first - since;
        }
        assert!(lines.len() <= 700);
        seen.extend(&lines);
        assert!(
            current["nextSeq"].as_u64().unwrap() >= since,
            "the cursor never goes back"
        );
        since = current["nextSeq"].as_u64().unwrap();
        if current["done"] == true {
            assert_eq!(current["state"], "succeeded");
            break;
        }
    }
    assert!(seen.windows(2).all(|w| w[1] > w[0]), "nothing repeated");
    let status = app.status("tail").await;
    let total = status["logLines"].as_u64().unwrap();
    assert_eq!(since, total, "the cursor ends at the last line");
    assert_eq!(
        seen.len() as u64 + skipped,
        total,
        "every line was read or counted as evicted"
    );
    assert!(total > 60_000);
}

#[tokio::test]
async fn a_cursor_below_the_ring_starts_at_the_oldest_kept_line() {
    let s3 = start_s3().await;
    let app = spawn_worker("flood 300", &["--log-lines", "100"]).await;
    app.submit(&job("evicted", &s3)).await;
    let oldest = page(&app, "evicted", "?since=0&limit=10").await;
    let first_seq = oldest["firstSeq"].as_u64().unwrap();
    assert!(first_seq > 500);
    assert_eq!(
        seqs(&oldest),
        (first_seq..first_seq + 10).collect::<Vec<_>>()
    );
    assert_eq!(oldest["nextSeq"], first_seq + 10);
    assert_eq!(oldest["done"], false, "more lines remain");
    let line = &oldest["lines"][0];
    assert!(["stdout", "stderr"].contains(&line["stream"].as_str().unwrap()));
    assert!(line["time"].as_u64().unwrap() > 1_700_000_000_000);

    let full = page(&app, "evicted", "?limit=20000").await;
    assert_eq!(
        full["lines"].as_array().unwrap().len(),
        100,
        "a limit above 10000 is capped, the ring holds 100"
    );
    assert_eq!(full["done"], true);
    let zero = app.get("/corebuild/v1/jobs/evicted/logs?limit=0").await;
    assert_eq!(zero.status(), 400);
    let bad = app.get("/corebuild/v1/jobs/evicted/logs?since=-1").await;
    assert_eq!(bad.status(), 400);
    let body: Value = bad.json().await.unwrap();
    assert_eq!(body["code"], "invalid_request");
}

/// (id, event name, data) of each event in an SSE body.
fn parse_sse(body: &str) -> Vec<(Option<u64>, Option<String>, String)> {
    body.split("\n\n")
        .filter(|block| !block.trim().is_empty() && !block.starts_with(':'))
        .map(|block| {
            let (mut id, mut event, mut data) = (None, None, Vec::new());
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("id: ") {
                    id = Some(v.parse().unwrap());
                } else if let Some(v) = line.strip_prefix("event: ") {
                    event = Some(v.to_owned());
                } else if let Some(v) = line.strip_prefix("data: ") {
                    data.push(v.to_owned());
                }
            }
            (id, event, data.join("\n"))
        })
        .collect()
}

async fn follow(app: &TestApp, id: &str, last_event_id: Option<u64>) -> String {
    let mut request = app
        .client
        .get(app.url(&format!("/corebuild/v1/jobs/{id}/logs?follow=true")));
    if let Some(last) = last_event_id {
        request = request.header("Last-Event-ID", last.to_string());
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    // The stream ends by itself after `event: end`.
    tokio::time::timeout(std::time::Duration::from_secs(30), response.text())
        .await
        .expect("the stream ended")
        .unwrap()
}

#[tokio::test]
async fn follow_streams_every_line_then_end_and_resumes_after_last_event_id() {
    let s3 = start_s3().await;
    let app = spawn_worker("sleep 1", &[]).await;
    app.submit_async(&job("follow", &s3)).await;
    // Subscribed while the job still runs: lines arrive as they are written.
    let events = parse_sse(&follow(&app, "follow", None).await);
    let (lines, end) = events.split_at(events.len() - 1);
    let ids: Vec<u64> = lines.iter().map(|(id, _, _)| id.unwrap()).collect();
    assert_eq!(
        ids,
        (0..ids.len() as u64).collect::<Vec<_>>(),
        "every line once, in order"
    );
    assert_eq!(lines[0].2, "Starting isocreator for amd64 ubuntu-iso");
    assert_eq!(end[0].1.as_deref(), Some("end"));
    let end_data: Value = serde_json::from_str(&end[0].2).unwrap();
    assert_eq!(end_data["state"], "succeeded");

    let resumed = parse_sse(&follow(&app, "follow", Some(2)).await);
    assert_eq!(resumed[0].0, Some(3), "resumes after the last event seen");
    assert_eq!(resumed.len(), events.len() - 3);
}

#[tokio::test]
async fn follow_ends_with_the_failure_code() {
    let s3 = start_s3().await;
    let app = spawn_worker("exit 9", &[]).await;
    app.submit_async(&job("follow-fail", &s3)).await;
    let events = parse_sse(&follow(&app, "follow-fail", None).await);
    let end: Value = serde_json::from_str(&events.last().unwrap().2).unwrap();
    assert_eq!(end["state"], "failed");
    assert_eq!(end["code"], "build_failed");
}

#[tokio::test]
async fn a_last_event_id_past_the_end_sends_only_what_is_new() {
    let s3 = start_s3().await;
    let app = spawn_worker("success 100", &[]).await;
    app.submit(&job("past-end", &s3)).await;
    // u64::MAX + 1 once wrapped to 0 and replayed the whole log.
    for last in [u64::MAX, u64::MAX - 1, 1_000_000] {
        let events = parse_sse(&follow(&app, "past-end", Some(last)).await);
        assert_eq!(
            events.len(),
            1,
            "only the end event after {last}: {events:?}"
        );
        assert_eq!(events[0].1.as_deref(), Some("end"));
    }
    let page: Value = app
        .authed(
            reqwest::Method::GET,
            &format!("/corebuild/v1/jobs/past-end/logs?since={}", u64::MAX),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(page["lines"], serde_json::json!([]));
    assert_eq!(page["done"], true);
}

fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .unwrap_or_else(|| panic!("{name} missing"))
        .parse()
        .unwrap()
}

#[tokio::test]
async fn all_retained_log_text_stays_within_its_budget() {
    let s3 = start_s3().await;
    // 100 lines of 16 KiB: 1.6 MB per job, against a budget of 2 MiB for all.
    let app = spawn_worker("long-lines 100", &["--log-bytes", "2MiB"]).await;
    for id in ["budget-1", "budget-2", "budget-3"] {
        assert_eq!(app.submit(&job(id, &s3)).await.status(), 200);
    }
    let metrics = app.get("/metrics").await.text().await.unwrap();
    let used = metric(&metrics, "corebuild_log_bytes");
    assert_eq!(
        metric(&metrics, "corebuild_log_bytes_limit"),
        2 * 1024 * 1024
    );
    assert!(used <= 2 * 1024 * 1024, "{used}");
    // The oldest job's lines went first; the newest job kept all of its own.
    let oldest = page(&app, "budget-1", "").await;
    assert!(
        oldest["firstSeq"].as_u64().unwrap() > 0,
        "{}",
        oldest["firstSeq"]
    );
    let newest = page(&app, "budget-3", "").await;
    assert_eq!(newest["firstSeq"], 0);
}

#[tokio::test]
async fn a_logs_answer_is_cut_at_four_mib_with_the_cursor_to_go_on() {
    let s3 = start_s3().await;
    let app = spawn_worker("long-lines 400", &[]).await;
    assert_eq!(app.submit(&job("big-log", &s3)).await.status(), 200);
    let first = page(&app, "big-log", "?limit=10000").await;
    let text: usize = first["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["text"].as_str().unwrap().len())
        .sum();
    assert!(text <= 4 * 1024 * 1024, "{text} bytes of text");
    assert_eq!(first["done"], false);
    let next = first["nextSeq"].as_u64().unwrap();
    let second = page(&app, "big-log", &format!("?since={next}&limit=10000")).await;
    assert_eq!(
        seqs(&second)[0],
        next,
        "the cursor goes on where the page stopped"
    );
}
