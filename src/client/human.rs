//! The worker's answers as text for people: local times with how long ago, sizes in
//! binary units, queue places counted from 1, aligned columns.

use bytesize::ByteSize;
use chrono::{Local, TimeZone};
use serde_json::Value;

/// `128.0 MiB`.
pub(super) fn size(bytes: u64) -> String {
    ByteSize::b(bytes).display().iec().to_string()
}

/// `2026-11-27 20:13:05 (3 min ago)` for epoch milliseconds, in local time.
pub(super) fn time(ms: u64) -> String {
    let Some(at) = i64::try_from(ms)
        .ok()
        .and_then(|ms| Local.timestamp_millis_opt(ms).single())
    else {
        return ms.to_string();
    };
    let ago = Local::now().signed_duration_since(at).num_seconds();
    format!("{} ({})", at.format("%Y-%m-%d %H:%M:%S"), ago_text(ago))
}

/// `2026-11-27 20:13:05.120` for epoch milliseconds, in local time: a log line's time.
pub(super) fn clock(ms: u64) -> String {
    i64::try_from(ms)
        .ok()
        .and_then(|ms| Local.timestamp_millis_opt(ms).single())
        .map_or_else(
            || ms.to_string(),
            |at| at.format("%Y-%m-%d %H:%M:%S%.3f").to_string(),
        )
}

/// `850 ms`, `42 s`, `3 min 12 s`, `2 h 05 min`.
pub(super) fn duration(ms: u64) -> String {
    let s = ms / 1000;
    match ms {
        ms if ms < 1000 => format!("{ms} ms"),
        _ if s < 60 => format!("{s} s"),
        _ if s < 3600 => format!("{} min {} s", s / 60, s % 60),
        _ => format!("{} h {:02} min", s / 3600, s % 3600 / 60),
    }
}

/// How long a job ran (so far, while it runs); `-` before it started.
fn ran(job: &Value) -> String {
    let Some(started) = job["startedAt"].as_u64() else {
        return "-".to_owned();
    };
    match job["finishedAt"].as_u64() {
        Some(finished) => duration(finished.saturating_sub(started)),
        None => {
            let now = u64::try_from(Local::now().timestamp_millis()).unwrap_or(0);
            format!("{} so far", duration(now.saturating_sub(started)))
        }
    }
}

/// How long ago `ms` (since the epoch) was.
pub(super) fn ago(ms: u64) -> String {
    let now = u64::try_from(Local::now().timestamp_millis()).unwrap_or(0);
    ago_text(i64::try_from(now.saturating_sub(ms) / 1000).unwrap_or(i64::MAX))
}

fn ago_text(seconds: i64) -> String {
    match seconds {
        s if s < 0 => "just now".to_owned(),
        s if s < 60 => format!("{s} s ago"),
        s if s < 3600 => format!("{} min ago", s / 60),
        s if s < 86_400 => format!("{} h ago", s / 3600),
        s => format!("{} d ago", s / 86_400),
    }
}

/// A waiting job's place: `next` for 0, else `3rd`-style counting from 1.
pub(super) fn queue_place(position: u64) -> String {
    if position == 0 {
        return "next in the queue".to_owned();
    }
    let n = position + 1;
    let suffix = match (n % 10, n % 100) {
        (1, 11) | (2, 12) | (3, 13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix} in the queue")
}

/// Rows under a header, each column as wide as its widest cell.
pub(super) fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([header[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: Vec<&str>| {
        cells
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_owned()
    };
    let mut out = vec![line(header.to_vec())];
    out.extend(
        rows.iter()
            .map(|r| line(r.iter().map(String::as_str).collect())),
    );
    out.join("\n")
}

/// One line: `job ID (arch kind, attempt N): state`, and what the state adds.
pub(super) fn status_line(s: &Value) -> String {
    // Cluster mode names the worker that runs the job.
    let on = s["workerId"]
        .as_str()
        .map(|w| format!(", on {w}"))
        .unwrap_or_default();
    let mut out = format!(
        "job {} ({} {}, attempt {}{on}): {}",
        s["id"].as_str().unwrap_or("?"),
        s["architecture"].as_str().unwrap_or("?"),
        s["imageKind"].as_str().unwrap_or("?"),
        s["attempt"],
        s["state"].as_str().unwrap_or("?")
    );
    if let Some(position) = s["queuePosition"].as_u64() {
        out.push_str(&format!(", {}", queue_place(position)));
    }
    if let (Some(done), Some(total)) = (
        s["progress"]["bytesDone"].as_u64(),
        s["progress"]["bytesTotal"].as_u64(),
    ) {
        let percent = (done * 100).checked_div(total).unwrap_or(100);
        out.push_str(&format!(
            ", uploaded {} of {} ({percent}%)",
            size(done),
            size(total)
        ));
    }
    out
}

/// A labelled line of `status`: every value starts in the same column.
fn field(label: &str, value: &str) -> String {
    format!("{label:<13}  {value}")
}

/// The whole status: the line above, its times (a job that runs also its last
/// activity: a line logged or upload bytes moved), artifact or error.
pub(super) fn status(s: &Value) -> String {
    let mut lines = vec![status_line(s)];
    let running = matches!(s["state"].as_str(), Some("running" | "uploading"));
    for (label, key, shown) in [
        ("created", "createdAt", true),
        ("started", "startedAt", true),
        ("last activity", "lastActivityAt", running),
        ("finished", "finishedAt", true),
    ] {
        if let (true, Some(ms)) = (shown, s[key].as_u64()) {
            lines.push(field(label, &time(ms)));
        }
    }
    if s["startedAt"].is_u64() {
        lines.push(field("ran", &ran(s)));
    }
    if s["artifact"].is_object() {
        lines.push(artifact(&s["artifact"]));
    }
    if s["error"].is_object() {
        let error = format!(
            "{}: {}",
            s["error"]["code"].as_str().unwrap_or("?"),
            s["error"]["message"].as_str().unwrap_or("?")
        );
        lines.push(field("error", &error));
    }
    lines.join("\n")
}

pub(super) fn artifact(a: &Value) -> String {
    let object = format!(
        "s3://{}/{} ({}, {})",
        a["bucketName"].as_str().unwrap_or("?"),
        a["key"].as_str().unwrap_or("?"),
        a["size"].as_u64().map_or_else(|| "?".to_owned(), size),
        a["contentType"].as_str().unwrap_or("?"),
    );
    let sha = a["sha256"].as_str().unwrap_or("?");
    format!("{}\n{}", field("artifact", &object), field("sha256", sha))
}

pub(super) fn jobs(list: &Value) -> String {
    let jobs: Vec<&Value> = list["jobs"].as_array().into_iter().flatten().collect();
    // A fleet's list says which worker runs what; a standalone worker's has no column.
    let fleet = jobs.iter().any(|job| job.get("workerId").is_some());
    let rows: Vec<Vec<String>> = jobs
        .iter()
        .map(|job| {
            let mut row = vec![
                job["id"].as_str().unwrap_or("?").to_owned(),
                job["state"].as_str().unwrap_or("?").to_owned(),
                job["architecture"].as_str().unwrap_or("?").to_owned(),
                job["imageKind"].as_str().unwrap_or("?").to_owned(),
                job["attempt"].to_string(),
            ];
            if fleet {
                row.push(job["workerId"].as_str().unwrap_or("-").to_owned());
            }
            row.push(
                job["createdAt"]
                    .as_u64()
                    .map_or_else(|| "?".to_owned(), time),
            );
            row.push(ran(job));
            row
        })
        .collect();
    let mut header = vec!["ID", "STATE", "ARCH", "KIND", "ATTEMPT"];
    if fleet {
        header.push("WORKER");
    }
    header.extend(["CREATED", "DURATION"]);
    table(&header, &rows)
}

pub(super) fn capabilities(c: &Value) -> String {
    let join = |list: &Value| {
        list.as_array()
            .map(|items| {
                items
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default()
    };
    let rows = [
        ("worker", c["workerId"].as_str().unwrap_or("?").to_owned()),
        ("version", c["version"].as_str().unwrap_or("?").to_owned()),
        ("accepting", c["acceptingJobs"].to_string()),
        (
            "token",
            match c["authRequired"].as_bool() {
                Some(false) => "not required".to_owned(),
                _ => "required".to_owned(),
            },
        ),
        (
            "jobs",
            format!(
                "{} running, {} queued (pool {}, queue {})",
                c["runningJobs"], c["queuedJobs"], c["maxConcurrentJobs"], c["queueCapacity"]
            ),
        ),
        (
            "machine",
            format!(
                "{} cores, {} GiB memory, {} GiB free in {}",
                c["cpuCores"],
                c["memoryGb"],
                c["diskFreeGb"],
                c["workdir"].as_str().unwrap_or("?")
            ),
        ),
        (
            "builds",
            format!(
                "{} for {}",
                join(&c["supportedImageKinds"]),
                join(&c["supportedArchitectures"])
            ),
        ),
        ("features", join(&c["features"])),
    ];
    let state = match (c["state"].as_str(), c["paused"]["reason"].as_str()) {
        (Some("paused"), Some(reason)) => Some(("state", format!("paused ({reason})"))),
        (state, _) => state.map(|s| ("state", s.to_owned())),
    };
    let cluster = c["cluster"]
        .as_str()
        .map(|state| ("cluster", format!("NATS {state}")));
    let fleet = c["fleet"].is_object().then(|| {
        let f = &c["fleet"];
        (
            "fleet",
            format!(
                "{} of {} live workers active; builds {}",
                f["activeWorkers"],
                f["liveWorkers"],
                join(&f["supportedClasses"])
            ),
        )
    });
    rows.iter()
        .chain(state.iter())
        .chain(cluster.iter())
        .chain(fleet.iter())
        .map(|(label, value)| format!("{label:<11} {value}"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_in_the_unit_that_fits() {
        assert_eq!(duration(850), "850 ms");
        assert_eq!(duration(42_000), "42 s");
        assert_eq!(duration(192_400), "3 min 12 s");
        assert_eq!(duration(7_500_000), "2 h 05 min");
        let finished = serde_json::json!({"startedAt": 1_000, "finishedAt": 62_000});
        assert_eq!(ran(&finished), "1 min 1 s");
        assert_eq!(ran(&serde_json::json!({"state": "queued"})), "-");
    }

    #[test]
    fn readable_sizes_places_and_ages() {
        assert_eq!(size(134_217_728), "128.0 MiB");
        assert_eq!(queue_place(0), "next in the queue");
        assert_eq!(queue_place(1), "2nd in the queue");
        assert_eq!(queue_place(10), "11th in the queue");
        assert_eq!(queue_place(20), "21st in the queue");
        assert_eq!(ago_text(5), "5 s ago");
        assert_eq!(ago_text(7200), "2 h ago");
    }

    #[test]
    fn columns_line_up() {
        let rows = vec![
            vec!["a-long-job-id".to_owned(), "queued".to_owned()],
            vec!["b".to_owned(), "succeeded".to_owned()],
        ];
        let text = table(&["ID", "STATE"], &rows);
        let starts: Vec<usize> = text
            .lines()
            .map(|l| l.find(['q', 's', 'S']).unwrap())
            .collect();
        assert!(starts.windows(2).all(|w| w[0] == w[1]), "{text}");
    }

    #[test]
    fn a_fleet_job_names_its_worker_and_a_standalone_one_does_not() {
        let fleet = serde_json::json!({"jobs": [
            {"id": "a", "state": "running", "attempt": 2, "workerId": "build-7", "createdAt": 0},
            {"id": "b", "state": "queued", "attempt": 1, "createdAt": 0}
        ]});
        let text = jobs(&fleet);
        assert!(text.lines().next().unwrap().contains("WORKER"), "{text}");
        assert!(
            text.contains("build-7") && text.lines().nth(2).unwrap().contains(" - "),
            "{text}"
        );
        let line = status_line(&fleet["jobs"][0]);
        assert!(line.contains("attempt 2, on build-7): running"), "{line}");

        let standalone = serde_json::json!({"jobs": [{"id": "b", "state": "queued", "attempt": 1, "createdAt": 0}]});
        assert!(!jobs(&standalone).contains("WORKER"));
        assert!(status_line(&standalone["jobs"][0]).contains("attempt 1): queued"));
    }
}
