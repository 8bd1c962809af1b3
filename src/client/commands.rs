//! Each client subcommand: one or a few API calls, then a summary or JSON.

use std::io::Read;
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use super::api::{Api, refused};
use super::progress::Progress;
use super::sse::{StreamError, read_events};
use super::{ClientCommand, ClientError, Exit, fleet, human};
use crate::domain::JobState;

/// Lines per page when reading a whole log.
const PAGE: usize = 10_000;
/// How often following by pages (`--json`, `--timestamps`) asks for new lines.
const FOLLOW_POLL: Duration = Duration::from_millis(500);
/// How often a blocking `submit --wait` checks that the worker still answers.
const LIVENESS_POLL: Duration = Duration::from_secs(5);

pub(super) async fn run(command: ClientCommand) -> Result<Exit, ClientError> {
    let api = Api::new(command.connection().clone())?;
    let json = api.conn.json;
    match command {
        ClientCommand::Capabilities { .. } => {
            let caps = api.get("/corebuild/v1/capabilities").await?;
            print_value(json, &caps, human::capabilities);
            Ok(Exit::Ok)
        }
        ClientCommand::Status { id, .. } => {
            let status = api.get(&format!("/corebuild/v1/jobs/{id}")).await?;
            print_value(json, &status, human::status);
            Ok(exit_for(&status["state"]))
        }
        ClientCommand::Jobs { state, .. } => {
            let query = state.map(|s| format!("?state={s}")).unwrap_or_default();
            let list = api.get(&format!("/corebuild/v1/jobs{query}")).await?;
            print_value(json, &list, human::jobs);
            Ok(Exit::Ok)
        }
        ClientCommand::Cancel { id, .. } => {
            let request = api.request(Method::DELETE, &format!("/corebuild/v1/jobs/{id}"));
            let (_, status) = api.send(request).await?;
            print_value(json, &status, |s| {
                format!(
                    "cancel requested; job {} is {}",
                    s["id"].as_str().unwrap_or("?"),
                    s["state"].as_str().unwrap_or("?")
                )
            });
            Ok(Exit::Ok)
        }
        ClientCommand::Workers { .. } => {
            let list = api.get("/corebuild/v1/workers").await?;
            print_value(json, &list, fleet::workers);
            Ok(Exit::Ok)
        }
        ClientCommand::Pause { reason, .. } => {
            let request = api
                .request(Method::POST, "/corebuild/v1/worker/pause")
                .json(&json!({ "reason": reason }));
            let (_, answer) = api.send(request).await?;
            print_value(json, &answer, fleet::worker);
            Ok(Exit::Ok)
        }
        ClientCommand::Resume { .. } => {
            let request = api.request(Method::POST, "/corebuild/v1/worker/resume");
            let (_, answer) = api.send(request).await?;
            print_value(json, &answer, fleet::worker);
            Ok(Exit::Ok)
        }
        ClientCommand::Logs {
            id,
            follow,
            timestamps,
            ..
        } => {
            let format = match (json, timestamps) {
                (true, _) => LineFormat::Json,
                (false, true) => LineFormat::Timestamped,
                (false, false) => LineFormat::Text,
            };
            logs(&api, &id, follow, format).await
        }
        ClientCommand::Submit {
            file, wait, follow, ..
        } => submit(&api, &file, wait, follow).await,
    }
}

/// How `logs` prints a line.
#[derive(Clone, Copy, PartialEq, Eq)]
enum LineFormat {
    /// The text alone.
    Text,
    /// The local time it was logged, then the text.
    Timestamped,
    /// The API's line object.
    Json,
}

async fn logs(api: &Api, id: &str, follow: bool, format: LineFormat) -> Result<Exit, ClientError> {
    match (follow, format) {
        (true, LineFormat::Text) => Ok(interruptible(id, follow_text(api, id, None))
            .await?
            .unwrap_or(Exit::Interrupted)),
        // The event stream carries a line's text alone; pages carry its time too.
        (true, format) => Ok(interruptible(id, follow_pages(api, id, format))
            .await?
            .unwrap_or(Exit::Interrupted)),
        (false, format) => {
            let mut since = 0;
            loop {
                let page = log_page(api, id, since).await?;
                print_lines(format, &page, |line| println!("{line}"));
                let next = page["nextSeq"].as_u64().unwrap_or(since);
                if next == since || page["lines"].as_array().is_none_or(Vec::is_empty) {
                    return Ok(Exit::Ok);
                }
                since = next;
            }
        }
    }
}

/// The page of the job's log from `since` on.
async fn log_page(api: &Api, id: &str, since: u64) -> Result<Value, ClientError> {
    api.get(&format!(
        "/corebuild/v1/jobs/{id}/logs?since={since}&limit={PAGE}"
    ))
    .await
}

/// Each line of a log page, in `format`.
fn print_lines(format: LineFormat, page: &Value, mut out: impl FnMut(&str)) {
    for line in page["lines"].as_array().into_iter().flatten() {
        let text = line["text"].as_str().unwrap_or("");
        match format {
            LineFormat::Json => out(&line.to_string()),
            LineFormat::Text => out(text),
            LineFormat::Timestamped => {
                let at = line["time"]
                    .as_u64()
                    .map_or_else(|| "?".to_owned(), human::clock);
                out(&format!("{at}  {text}"));
            }
        }
    }
}

async fn submit(api: &Api, file: &str, wait: bool, follow: bool) -> Result<Exit, ClientError> {
    let body = read_job(file)?;
    let id = body["job"]["id"].as_str().unwrap_or_default().to_owned();
    if wait {
        // The answer comes when the job ends, so it has no time limit of its own; a
        // worker that stops answering meanwhile is found by asking for the job's status.
        let request = api
            .open_request(Method::POST, "/corebuild/v1/jobs/baseos-image")
            .json(&body);
        let progress = Progress::start(api, &id);
        let blocking = async {
            tokio::select! {
                answer = api.send(request) => answer,
                err = still_answering(api, &id) => Err(err),
            }
        };
        let answer = interruptible(&id, blocking).await;
        progress.finish();
        let Some((_, answer)) = answer? else {
            return Ok(Exit::Interrupted);
        };
        print_value(api.conn.json, &answer, result_summary);
        return Ok(if answer["success"] == true {
            Exit::Ok
        } else {
            Exit::JobFailed
        });
    }
    let request = api
        .request(Method::POST, "/corebuild/v1/jobs/baseos-image")
        .header("Prefer", "respond-async")
        .json(&body);
    let (_, answer) = api.send(request).await?;
    let id = answer["id"].as_str().unwrap_or(&id).to_owned();
    if !follow {
        print_value(api.conn.json, &answer, |s| {
            format!(
                "{}\nfollow it with: corebuild logs {id} --follow",
                human::status_line(s)
            )
        });
        return Ok(Exit::Ok);
    }
    if api.conn.json {
        return Ok(interruptible(&id, follow_pages(api, &id, LineFormat::Json))
            .await?
            .unwrap_or(Exit::Interrupted));
    }
    let progress = Progress::start(api, &id);
    let exit = interruptible(&id, follow_text(api, &id, Some(&progress))).await;
    progress.finish();
    let Some(exit) = exit? else {
        return Ok(Exit::Interrupted);
    };
    let status = api.get(&format!("/corebuild/v1/jobs/{id}")).await?;
    println!("{}", human::status(&status));
    Ok(exit)
}

/// Asks for the job's status every few seconds while a blocking call waits, and
/// returns the error once the worker no longer answers within `--timeout`. A refusal
/// (the job not admitted yet, say) is an answer: the worker is there.
async fn still_answering(api: &Api, id: &str) -> ClientError {
    let path = format!("/corebuild/v1/jobs/{id}");
    loop {
        tokio::time::sleep(LIVENESS_POLL).await;
        if let Err(err @ ClientError::Unreachable(_)) = api.get(&path).await {
            return err;
        }
    }
}

/// The job file: a job object, or `{"job": …}` as the API takes it.
fn read_job(file: &str) -> Result<Value, ClientError> {
    let text = if file == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| ClientError::Input(format!("reading standard input: {e}")))?;
        text
    } else {
        std::fs::read_to_string(file).map_err(|e| ClientError::Input(format!("{file}: {e}")))?
    };
    let parsed: Value = serde_json::from_str(&text)
        .map_err(|e| ClientError::Input(format!("{file}: not JSON: {e}")))?;
    Ok(if parsed.get("job").is_some() {
        parsed
    } else {
        json!({ "job": parsed })
    })
}

/// Runs `work` until it ends, or until Ctrl-C (`None`), saying then that the job
/// goes on without the CLI.
async fn interruptible<T>(
    id: &str,
    work: impl Future<Output = Result<T, ClientError>>,
) -> Result<Option<T>, ClientError> {
    tokio::select! {
        done = work => done.map(Some),
        _ = tokio::signal::ctrl_c() => {
            eprintln!(
                "\ninterrupted: job {id} keeps running on the worker; follow it again with: corebuild logs {id} --follow"
            );
            Ok(None)
        }
    }
}

/// Streams the log as text until the job ends; returns how it ended.
async fn follow_text(
    api: &Api,
    id: &str,
    progress: Option<&Progress>,
) -> Result<Exit, ClientError> {
    let request = api.open_request(
        Method::GET,
        &format!("/corebuild/v1/jobs/{id}/logs?follow=true"),
    );
    // The answer's head comes at once; the stream after it is watched for silence.
    let response = tokio::time::timeout(api.timeout(), request.send())
        .await
        .map_err(|_| api.silent())?
        .map_err(|e| api.unreachable(&e))?;
    let status = response.status().as_u16();
    if status >= 400 {
        let body = response.json().await.map_err(|e| api.unreachable(&e))?;
        return Err(refused(status, body));
    }
    let mut end = Value::Null;
    read_events(response, api.idle_timeout(), |event| {
        match event.event.as_deref() {
            Some("end") => end = serde_json::from_str(&event.data).unwrap_or(Value::Null),
            _ => match progress {
                Some(progress) => progress.println(&event.data),
                None => println!("{}", event.data),
            },
        }
    })
    .await
    .map_err(|e| match e {
        StreamError::Http(e) => api.unreachable(&e),
        StreamError::Silent => api.silent(),
    })?;
    Ok(exit_for(&end["state"]))
}

/// Follows by reading pages by cursor, which carry every field the event stream
/// leaves out: with `--json` each line as the API's line object (seq, time, stream,
/// text), one per line, then the job's final status as one line; with `--timestamps`
/// each line after its local time.
async fn follow_pages(api: &Api, id: &str, format: LineFormat) -> Result<Exit, ClientError> {
    let mut since = 0;
    loop {
        let page = log_page(api, id, since).await?;
        print_lines(format, &page, |line| println!("{line}"));
        since = page["nextSeq"].as_u64().unwrap_or(since);
        if page["done"] == true {
            let status = api.get(&format!("/corebuild/v1/jobs/{id}")).await?;
            if format == LineFormat::Json {
                println!("{status}");
            }
            return Ok(exit_for(&status["state"]));
        }
        if page["lines"].as_array().is_none_or(Vec::is_empty) {
            tokio::time::sleep(FOLLOW_POLL).await;
        }
    }
}

fn exit_for(state: &Value) -> Exit {
    match state.as_str().and_then(JobState::from_wire) {
        Some(JobState::Failed | JobState::Cancelled) => Exit::JobFailed,
        _ => Exit::Ok,
    }
}

fn print_value(json: bool, value: &Value, summary: impl Fn(&Value) -> String) {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(value).expect("JSON prints")
        );
    } else {
        println!("{}", summary(value));
    }
}

fn result_summary(r: &Value) -> String {
    if r["success"] == true {
        return human::artifact(&r["artifact"]);
    }
    let logs = r["logs"]
        .as_array()
        .map(|l| {
            l.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default();
    format!(
        "{}\nerror {}: {}",
        logs,
        r["code"].as_str().unwrap_or("?"),
        r["error"].as_str().unwrap_or("?")
    )
}
