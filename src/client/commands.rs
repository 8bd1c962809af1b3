//! Each client subcommand: one or two API calls, then a summary or the raw JSON.

use std::io::Read;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};

use super::sse::read_events;
use super::{ClientCommand, ClientError, Connection, Exit};
use crate::domain::{ErrorCode, FailureCode, JobState};

struct Api {
    http: reqwest::Client,
    conn: Connection,
}

impl Api {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.conn.url.trim_end_matches('/'))
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let request = self.http.request(method, self.url(path));
        match &self.conn.token {
            Some(token) => request.bearer_auth(token.expose()),
            None => request,
        }
    }

    /// Sends and decodes; a non-2xx answer becomes [`ClientError::Refused`], except
    /// job failures of the blocking call, whose body the caller wants to show.
    async fn send(&self, request: reqwest::RequestBuilder) -> Result<(u16, Value), ClientError> {
        let response = request.send().await?;
        let status = response.status().as_u16();
        let body: Value = response.json().await?;
        if status >= 400 && !is_job_failure(&body) {
            return Err(refused(status, body));
        }
        Ok((status, body))
    }

    async fn get(&self, path: &str) -> Result<Value, ClientError> {
        Ok(self.send(self.request(reqwest::Method::GET, path)).await?.1)
    }
}

/// A blocking call's answer for a job that ran and failed (it carries the job's
/// logs). `shutting_down` is left out: the job never ran, so the worker refused it.
fn is_job_failure(body: &Value) -> bool {
    let failure = body["code"]
        .as_str()
        .and_then(ErrorCode::from_wire)
        .and_then(FailureCode::from_code);
    failure.is_some_and(|f| f != FailureCode::ShuttingDown) && body.get("logs").is_some()
}

fn refused(status: u16, body: Value) -> ClientError {
    ClientError::Refused {
        status,
        code: body["code"].as_str().unwrap_or("unknown").to_owned(),
        message: body["error"].as_str().unwrap_or("no message").to_owned(),
        body,
    }
}

pub async fn run(command: ClientCommand) -> Result<Exit, ClientError> {
    let conn = match &command {
        ClientCommand::Capabilities { conn }
        | ClientCommand::Submit { conn, .. }
        | ClientCommand::Status { conn, .. }
        | ClientCommand::Jobs { conn, .. }
        | ClientCommand::Logs { conn, .. }
        | ClientCommand::Cancel { conn, .. } => conn.clone(),
    };
    let api = Api {
        http: reqwest::Client::new(),
        conn,
    };
    let json = api.conn.json;
    match command {
        ClientCommand::Capabilities { .. } => {
            let caps = api.get("/corebuild/v1/capabilities").await?;
            print_value(json, &caps, capabilities_summary);
            Ok(Exit::Ok)
        }
        ClientCommand::Status { id, .. } => {
            let status = api.get(&format!("/corebuild/v1/jobs/{id}")).await?;
            print_value(json, &status, status_summary);
            Ok(exit_for(&status["state"]))
        }
        ClientCommand::Jobs { state, .. } => {
            let query = state.map(|s| format!("?state={s}")).unwrap_or_default();
            let list = api.get(&format!("/corebuild/v1/jobs{query}")).await?;
            print_value(json, &list, jobs_summary);
            Ok(Exit::Ok)
        }
        ClientCommand::Cancel { id, .. } => {
            let request = api.request(reqwest::Method::DELETE, &format!("/corebuild/v1/jobs/{id}"));
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
        ClientCommand::Logs { id, follow, .. } => {
            if follow {
                let state = follow_logs(&api, &id, false).await?;
                return Ok(exit_for(&state));
            }
            let page = api
                .get(&format!("/corebuild/v1/jobs/{id}/logs?limit=10000"))
                .await?;
            print_value(json, &page, |p| {
                p["lines"]
                    .as_array()
                    .map(|lines| {
                        lines
                            .iter()
                            .map(|l| l["text"].as_str().unwrap_or(""))
                            .collect::<Vec<_>>()
                            .join("\n")
                    })
                    .unwrap_or_default()
            });
            Ok(Exit::Ok)
        }
        ClientCommand::Submit {
            file, wait, follow, ..
        } => submit(&api, &file, wait, follow).await,
    }
}

async fn submit(api: &Api, file: &str, wait: bool, follow: bool) -> Result<Exit, ClientError> {
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
    let body = if parsed.get("job").is_some() {
        parsed
    } else {
        json!({ "job": parsed })
    };
    let mut request = api
        .request(reqwest::Method::POST, "/corebuild/v1/jobs/baseos-image")
        .json(&body);
    if !wait {
        request = request.header("Prefer", "respond-async");
    }
    let (_, answer) = api.send(request).await?;
    if wait {
        print_value(api.conn.json, &answer, result_summary);
        return Ok(if answer["success"] == true {
            Exit::Ok
        } else {
            Exit::JobFailed
        });
    }
    let id = answer["id"].as_str().unwrap_or_default().to_owned();
    if !follow {
        print_value(api.conn.json, &answer, |s| {
            format!(
                "job {} {} (attempt {})\nfollow it with: corebuild logs {} --follow",
                s["id"].as_str().unwrap_or("?"),
                s["state"].as_str().unwrap_or("?"),
                s["attempt"],
                s["id"].as_str().unwrap_or("?")
            )
        });
        return Ok(Exit::Ok);
    }
    let state = follow_logs(api, &id, true).await?;
    let status = api.get(&format!("/corebuild/v1/jobs/{id}")).await?;
    print_value(api.conn.json, &status, status_summary);
    Ok(exit_for(&state))
}

/// Streams the log until the job ends; returns the final state. With `progress`, a
/// progress bar on standard error shows the upload.
async fn follow_logs(api: &Api, id: &str, progress: bool) -> Result<Value, ClientError> {
    let response = api
        .request(
            reqwest::Method::GET,
            &format!("/corebuild/v1/jobs/{id}/logs?follow=true"),
        )
        .send()
        .await?;
    let status = response.status().as_u16();
    if status >= 400 {
        return Err(refused(status, response.json().await?));
    }
    let bar = progress.then(|| upload_bar(api, id));
    let mut end = Value::Null;
    let json = api.conn.json;
    read_events(response, |event| match event.event.as_deref() {
        Some("end") => end = serde_json::from_str(&event.data).unwrap_or(Value::Null),
        _ if json => println!("{}", json!({ "seq": event.id, "text": event.data })),
        _ => println!("{}", event.data),
    })
    .await?;
    if let Some((bar, poller)) = bar {
        poller.abort();
        bar.finish_and_clear();
    }
    Ok(end["state"].clone())
}

/// A bar fed by polling the job's status once a second while it uploads.
fn upload_bar(api: &Api, id: &str) -> (ProgressBar, tokio::task::JoinHandle<()>) {
    let bar = ProgressBar::hidden();
    bar.set_style(
        ProgressStyle::with_template(
            "uploading {bar:40} {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec}",
        )
        .expect("a valid template"),
    );
    let request = api.request(reqwest::Method::GET, &format!("/corebuild/v1/jobs/{id}"));
    let poll_bar = bar.clone();
    let poller = tokio::spawn(async move {
        loop {
            if let Some(request) = request.try_clone()
                && let Ok(response) = request.send().await
                && let Ok(body) = response.json::<Value>().await
                && body["state"] == JobState::Uploading.as_str()
            {
                if poll_bar.is_hidden() {
                    poll_bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
                }
                poll_bar.set_length(body["progress"]["bytesTotal"].as_u64().unwrap_or(0));
                poll_bar.set_position(body["progress"]["bytesDone"].as_u64().unwrap_or(0));
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
    (bar, poller)
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

fn capabilities_summary(c: &Value) -> String {
    format!(
        "worker      {}\nversion     {}\naccepting   {}\njobs        {} running, {} queued (pool {}, queue {})\nmachine     {} cores, {} GiB memory, {} GiB free in {}\nbuilds      {} for {}\nfeatures    {}",
        c["workerId"].as_str().unwrap_or("?"),
        c["version"].as_str().unwrap_or("?"),
        c["acceptingJobs"],
        c["runningJobs"],
        c["queuedJobs"],
        c["maxConcurrentJobs"],
        c["queueCapacity"],
        c["cpuCores"],
        c["memoryGb"],
        c["diskFreeGb"],
        c["workdir"].as_str().unwrap_or("?"),
        join(&c["supportedImageKinds"]),
        join(&c["supportedArchitectures"]),
        join(&c["features"]),
    )
}

fn join(list: &Value) -> String {
    list.as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

fn status_summary(s: &Value) -> String {
    let mut out = format!(
        "job {} ({} {}, attempt {}): {}",
        s["id"].as_str().unwrap_or("?"),
        s["architecture"].as_str().unwrap_or("?"),
        s["imageKind"].as_str().unwrap_or("?"),
        s["attempt"],
        s["state"].as_str().unwrap_or("?")
    );
    if let Some(position) = s["queuePosition"].as_u64() {
        out.push_str(&format!(", position {position} in the queue"));
    }
    if let Some(done) = s["progress"]["bytesDone"].as_u64() {
        out.push_str(&format!(
            ", uploaded {done} of {} bytes",
            s["progress"]["bytesTotal"]
        ));
    }
    if s["artifact"].is_object() {
        out.push('\n');
        out.push_str(&artifact_summary(&s["artifact"]));
    }
    if s["error"].is_object() {
        out.push_str(&format!(
            "\nerror {}: {}",
            s["error"]["code"].as_str().unwrap_or("?"),
            s["error"]["message"].as_str().unwrap_or("?")
        ));
    }
    out
}

fn artifact_summary(a: &Value) -> String {
    format!(
        "artifact s3://{}/{} ({} bytes, {})\nsha256   {}",
        a["bucketName"].as_str().unwrap_or("?"),
        a["key"].as_str().unwrap_or("?"),
        a["size"],
        a["contentType"].as_str().unwrap_or("?"),
        a["sha256"].as_str().unwrap_or("?")
    )
}

fn result_summary(r: &Value) -> String {
    if r["success"] == true {
        artifact_summary(&r["artifact"])
    } else {
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
}

fn jobs_summary(list: &Value) -> String {
    let mut out = format!(
        "{:<32} {:<10} {:>7}  {}",
        "ID", "STATE", "ATTEMPT", "CREATED (ms)"
    );
    for job in list["jobs"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "\n{:<32} {:<10} {:>7}  {}",
            job["id"].as_str().unwrap_or("?"),
            job["state"].as_str().unwrap_or("?"),
            job["attempt"],
            job["createdAt"]
        ));
    }
    out
}
