//! A job's progress on stderr while the CLI waits for it, one label per phase: its
//! place in the queue, the build (and how long it has been quiet), the upload's start,
//! the upload as a bar, then the store completing the object. Drawn only when stderr is a terminal; stdout stays for results and log lines.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use reqwest::Method;
use serde_json::Value;

use super::api::Api;
use super::human;
use crate::domain::JobState;

const POLL: Duration = Duration::from_millis(500);

pub(super) struct Progress {
    bar: ProgressBar,
    poller: Option<tokio::task::JoinHandle<()>>,
}

impl Progress {
    /// Starts polling the job's status; shows nothing when stderr is not a terminal.
    pub(super) fn start(api: &Api, id: &str) -> Self {
        if !std::io::stderr().is_terminal() {
            return Self {
                bar: ProgressBar::hidden(),
                poller: None,
            };
        }
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        bar.set_style(spinner());
        bar.enable_steady_tick(Duration::from_millis(120));
        let request = api.request(Method::GET, &format!("/corebuild/v1/jobs/{id}"));
        let shown = bar.clone();
        let poller = tokio::spawn(async move {
            loop {
                if let Some(request) = request.try_clone()
                    && let Ok(response) = request.send().await
                    && let Ok(status) = response.json::<Value>().await
                {
                    show(&shown, &status);
                }
                tokio::time::sleep(POLL).await;
            }
        });
        Self {
            bar,
            poller: Some(poller),
        }
    }

    /// Prints a line on stdout without tearing the bar: it is lifted, the line
    /// printed, and the bar drawn again below it.
    pub(super) fn println(&self, line: &str) {
        self.bar.suspend(|| println!("{line}"));
    }

    /// Stops polling and clears the bar, before the result is printed.
    pub(super) fn finish(mut self) {
        if let Some(poller) = self.poller.take() {
            poller.abort();
        }
        self.bar.finish_and_clear();
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(poller) = self.poller.take() {
            poller.abort();
        }
    }
}

fn spinner() -> ProgressStyle {
    ProgressStyle::with_template("{spinner} {msg}").expect("a valid template")
}

fn upload_bar() -> ProgressStyle {
    ProgressStyle::with_template(
        "{msg} {bar:30} {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec}",
    )
    .expect("a valid template")
}

/// What a job is doing, as the progress line names it.
#[derive(Debug, PartialEq, Eq)]
enum Phase {
    Queued {
        position: Option<u64>,
    },
    /// isocreator runs; `quiet` seconds since its last line when that is long.
    Building {
        quiet: Option<u64>,
    },
    /// The upload began: hashing and the first part are on their way.
    UploadStarting {
        total: u64,
    },
    Uploading {
        done: u64,
        total: u64,
    },
    /// Every byte is sent; the store puts the object together.
    Completing {
        total: u64,
    },
    Other,
}

/// A build that has said nothing for this long is shown as quiet.
const QUIET_AFTER_MS: u64 = 30_000;

fn phase(status: &Value, now_ms: u64) -> Phase {
    let state = status["state"].as_str().and_then(JobState::from_wire);
    let done = status["progress"]["bytesDone"].as_u64();
    let total = status["progress"]["bytesTotal"].as_u64();
    match (state, done, total) {
        (Some(JobState::Queued), ..) => Phase::Queued {
            position: status["queuePosition"].as_u64(),
        },
        (Some(JobState::Running), ..) => {
            let last = status["lastActivityAt"].as_u64().unwrap_or(now_ms);
            let quiet = now_ms.saturating_sub(last);
            Phase::Building {
                quiet: (quiet >= QUIET_AFTER_MS).then_some(quiet / 1000),
            }
        }
        (Some(JobState::Uploading), done, total) => match (done.unwrap_or(0), total) {
            (done, Some(total)) if done > 0 && done < total => Phase::Uploading { done, total },
            (done, Some(total)) if done > 0 => Phase::Completing { total },
            // Nothing sent yet, or no size known yet.
            (_, total) => Phase::UploadStarting {
                total: total.unwrap_or(0),
            },
        },
        _ => Phase::Other,
    }
}

fn show(bar: &ProgressBar, status: &Value) {
    let now = u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap_or(0);
    match phase(status, now) {
        Phase::Queued { position } => {
            let place =
                position.map_or_else(String::new, |p| format!(", {}", human::queue_place(p)));
            bar.set_message(format!("queued{place}"));
        }
        Phase::Building { quiet: None } => bar.set_message("building: isocreator runs"),
        Phase::Building { quiet: Some(secs) } => bar.set_message(format!(
            "building: isocreator runs, nothing logged for {}",
            human::duration(secs * 1000)
        )),
        Phase::UploadStarting { total } => {
            bar.set_style(spinner());
            bar.set_message(format!(
                "upload: hashing and sending {}",
                human::size(total)
            ));
        }
        Phase::Uploading { done, total } => {
            if bar.length() != Some(total) {
                bar.set_style(upload_bar());
                bar.set_length(total);
                bar.set_message("upload: sending");
            }
            bar.set_position(done);
        }
        Phase::Completing { total } => {
            bar.set_style(spinner());
            bar.set_message(format!(
                "upload: {} sent, the store completes the object",
                human::size(total)
            ));
        }
        Phase::Other => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn each_phase_of_a_job_has_its_own_label() {
        let now = 1_000_000;
        let at = |status: Value| phase(&status, now);
        assert_eq!(
            at(json!({"state": "queued", "queuePosition": 2})),
            Phase::Queued { position: Some(2) }
        );
        assert_eq!(
            at(json!({"state": "running", "lastActivityAt": now - 1_000})),
            Phase::Building { quiet: None }
        );
        assert_eq!(
            at(json!({"state": "running", "lastActivityAt": now - 90_000})),
            Phase::Building { quiet: Some(90) }
        );
        let upload = |done: u64| json!({"state": "uploading", "progress": {"phase": "uploading", "bytesDone": done, "bytesTotal": 100}});
        assert_eq!(at(upload(0)), Phase::UploadStarting { total: 100 });
        assert_eq!(
            at(upload(40)),
            Phase::Uploading {
                done: 40,
                total: 100
            }
        );
        assert_eq!(at(upload(100)), Phase::Completing { total: 100 });
        assert_eq!(at(json!({"state": "succeeded"})), Phase::Other);
    }
}
