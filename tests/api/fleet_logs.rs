//! A fleet job's log read from a worker that does not run it: pages start at the batch
//! that holds their cursor (the job's document says where its batches are), and must
//! give exactly the lines a whole read gives, at every cursor, while the job runs and
//! once it has finished.

use serde_json::Value;

use crate::support::fleet::{Process, cluster_worker};
use crate::support::helpers::{TestApp, job, log_lines};
use crate::support::nats::NatsServer;
use crate::support::s3::start_s3;

async fn page(app: &TestApp, id: &str, query: &str) -> Value {
    let response = app
        .get(&format!("/corebuild/v1/jobs/{id}/logs{query}"))
        .await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

fn lines(page: &Value) -> Vec<(u64, String)> {
    page["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            let seq = l["seq"].as_u64().unwrap();
            (seq, l["text"].as_str().unwrap().to_owned())
        })
        .collect()
}

/// A builder that runs every job and a reader that builds nothing the jobs need, both
/// keeping `keep` lines per job.
async fn builder_and_reader(nats: &NatsServer, mode: &str, keep: &str) -> (TestApp, TestApp) {
    let builder = cluster_worker(&nats.url(), "builder", mode, &["--log-lines", keep]).await;
    let reader = cluster_worker(
        &nats.url(),
        "reader",
        mode,
        &["--log-lines", keep, "--architectures", "arm64"],
    )
    .await;
    (builder, reader)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_page_of_a_long_finished_log_is_the_same_lines_as_the_whole_log() {
    let nats = NatsServer::start();
    let s3 = start_s3().await;
    // 2 × 3,000 lines, in batches of up to 1,000, of which the newest 2,500 are kept.
    let (_builder, reader) = builder_and_reader(&nats, "flood 3000", "2500").await;
    let answer: Value = reader
        .submit(&job("long-log", &s3))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(answer["success"], true, "{}", answer["error"]);
    let whole = log_lines(&answer);
    assert_eq!(whole.len(), 2500, "the blocking answer has the kept lines");
    let status = reader.status("long-log").await;
    assert_eq!(status["workerId"], "builder");
    let end = status["logLines"].as_u64().unwrap();
    let first = end - 2500;
    let text_of = |seq: u64| whole[usize::try_from(seq - first).unwrap()];

    // Read through with a cursor, as a client does.
    let (mut since, mut read) = (0, Vec::new());
    loop {
        let current = page(&reader, "long-log", &format!("?since={since}&limit=700")).await;
        assert_eq!(current["firstSeq"], first, "{since}");
        read.extend(lines(&current));
        since = current["nextSeq"].as_u64().unwrap();
        if current["done"] == true {
            break;
        }
    }
    assert_eq!(since, end);
    let seqs: Vec<u64> = read.iter().map(|(seq, _)| *seq).collect();
    assert_eq!(
        seqs,
        (first..end).collect::<Vec<_>>(),
        "every kept line once, in order"
    );
    for (seq, text) in &read {
        assert_eq!(text, text_of(*seq), "line {seq}");
    }

    // Any page on its own: below the kept lines, in a batch, across batches, at the end.
    for since in [
        0,
        first,
        first + 1,
        first + 997,
        first + 1234,
        end - 5,
        end,
        end + 50,
    ] {
        let current = page(&reader, "long-log", &format!("?since={since}&limit=10")).await;
        let from = since.clamp(first, end);
        let expected: Vec<u64> = (from..(from + 10).min(end)).collect();
        let got = lines(&current);
        let got_seqs: Vec<u64> = got.iter().map(|(seq, _)| *seq).collect();
        assert_eq!(got_seqs, expected, "since={since}");
        for (seq, text) in &got {
            assert_eq!(text, text_of(*seq), "since={since}, line {seq}");
        }
        assert_eq!(current["nextSeq"], expected.last().map_or(from, |s| s + 1));
        assert_eq!(current["done"], from + 10 >= end, "since={since}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_flooding_job_polled_from_another_worker_is_gap_free() {
    let nats = NatsServer::start();
    let s3 = start_s3().await;
    // 2 × 20,000 lines through 5,000 kept: the oldest go while the client reads, and
    // some before they were published.
    let (_builder, reader) = builder_and_reader(&nats, "flood 20000", "5000").await;
    assert_eq!(reader.submit_async(&job("tail", &s3)).await.status(), 202);
    let (mut since, mut seen, mut skipped) = (0, Vec::new(), 0);
    loop {
        let current = page(&reader, "tail", &format!("?since={since}&limit=700")).await;
        let first_seq = current["firstSeq"].as_u64().unwrap();
        let got: Vec<u64> = lines(&current).iter().map(|(seq, _)| *seq).collect();
        if let Some(&first) = got.first() {
            assert!(first >= since.max(first_seq), "since={since}");
            assert!(got.windows(2).all(|w| w[1] > w[0]), "in order");
            // A gap is lines the running worker's own log (of 5,000 lines) dropped
            // before its next batch went out: the flood outruns the half-second batches.
            skipped += (first - since) + got.windows(2).map(|w| w[1] - w[0] - 1).sum::<u64>();
        }
        assert!(got.len() <= 700);
        seen.extend(got);
        let next = current["nextSeq"].as_u64().unwrap();
        assert!(next >= since, "the cursor never goes back");
        since = next;
        if current["done"] == true {
            assert_eq!(current["state"], "succeeded");
            break;
        }
        if current["lines"].as_array().unwrap().is_empty() {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
    let total = reader.status("tail").await["logLines"].as_u64().unwrap();
    assert_eq!(since, total, "the cursor ends at the last line");
    assert_eq!(
        seen.len() as u64 + skipped,
        total,
        "read or counted as gone"
    );
    assert!(total > 40_000);
}

/// The worst moment for the batch index: the log stream is made again while a job
/// writes its log, and other jobs fill the new stream past the old sequences before
/// the job's worker publishes again (it is stopped with SIGSTOP meanwhile). Its
/// document then holds index entries that name batches of other jobs; the worker
/// cannot tell, since its next sequence is higher than its last. Invariant: a page is
/// exactly what a read of the whole log gives from its cursor (in order, no line
/// twice), at every cursor, and no page fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pages_after_the_log_stream_was_made_again_mid_job_are_what_the_whole_log_gives() {
    let nats = NatsServer::start();
    let s3 = start_s3().await;
    let dir = tempfile::tempdir().unwrap();
    // A long ack wait: the builder's lease outlives its stop.
    let builder = Process::start(
        &nats.url(),
        "dripper",
        dir.path(),
        "drip 300",
        &[
            ("COREBUILD_NATS_ACK_WAIT_SECS", "20"),
            ("COREBUILD_ARCHITECTURES", "amd64"),
        ],
    )
    .await;
    // The reader builds the other jobs: the ones that fill the new stream.
    let reader = cluster_worker(
        &nats.url(),
        "reader",
        "flood 3000",
        &["--nats-ack-wait-secs", "20", "--architectures", "arm64"],
    )
    .await;
    assert_eq!(
        reader.submit_async(&job("dripping", &s3)).await.status(),
        202
    );
    reader
        .wait_for_status("dripping", |s| s["logLines"].as_u64().unwrap_or(0) >= 60)
        .await;

    builder.pause();
    let js = async_nats::jetstream::new(async_nats::connect(nats.url()).await.unwrap());
    js.delete_stream("corebuild_logs").await.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while js.get_stream("corebuild_logs").await.is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "the healer made no new stream"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let mut flood = job("flooding", &s3);
    flood["architecture"] = serde_json::json!("arm64");
    let flooded: Value = reader.submit(&flood).await.json().await.unwrap();
    assert_eq!(flooded["success"], true, "{flooded}");
    builder.resume();

    let done = reader.wait_for_state("dripping", "succeeded").await;
    assert_eq!(done["workerId"], "dripper", "one run: {done}");
    let end = done["logLines"].as_u64().unwrap();
    assert!(end >= 300, "{done}");

    // The whole log as the reader has it, read through from the start.
    let (mut since, mut whole) = (0, Vec::new());
    loop {
        let current = page(&reader, "dripping", &format!("?since={since}&limit=10000")).await;
        whole.extend(lines(&current));
        since = current["nextSeq"].as_u64().unwrap();
        if current["done"] == true {
            break;
        }
    }
    assert!(
        whole.windows(2).all(|w| w[1].0 > w[0].0),
        "in order, no line twice"
    );
    assert!(
        whole
            .iter()
            .all(|(_, text)| text.starts_with("drip line") || !text.contains("line")),
        "no other job's line"
    );
    assert!(
        whole.last().is_some_and(|(seq, _)| seq + 1 == end),
        "the lines after the stream came back are all there: {} lines, end {end}",
        whole.len()
    );
    // Every cursor, in the lost part and the kept part: the page is the whole log's
    // lines from there.
    for since in (0..end).step_by(7).chain([end, end + 3]) {
        let current = page(&reader, "dripping", &format!("?since={since}&limit=10")).await;
        let expected: Vec<(u64, String)> = whole
            .iter()
            .filter(|(seq, _)| *seq >= since)
            .take(10)
            .cloned()
            .collect();
        assert_eq!(lines(&current), expected, "since={since}");
    }
    drop(builder);
}
