//! A job's progress on stderr while the CLI waits for it: its state and place in the
//! queue, the upload as a bar, then "completing upload" while the store assembles the
//! parts. Drawn only when stderr is a terminal; stdout stays for results and log lines.

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

fn show(bar: &ProgressBar, status: &Value) {
    let state = status["state"].as_str().and_then(JobState::from_wire);
    let done = status["progress"]["bytesDone"].as_u64();
    let total = status["progress"]["bytesTotal"].as_u64();
    match (state, done, total) {
        (Some(JobState::Uploading), Some(done), Some(total)) if done < total => {
            if bar.length() != Some(total) {
                bar.set_style(upload_bar());
                bar.set_length(total);
                bar.set_message("uploading");
            }
            bar.set_position(done);
        }
        (Some(JobState::Uploading), Some(_), Some(total)) => {
            bar.set_style(spinner());
            bar.set_message(format!(
                "completing upload of {}: the store assembles the parts",
                human::size(total)
            ));
        }
        (Some(JobState::Queued), ..) => {
            let place = status["queuePosition"]
                .as_u64()
                .map_or_else(String::new, |p| format!(", {}", human::queue_place(p)));
            bar.set_message(format!("queued{place}"));
        }
        (Some(JobState::Running), ..) => bar.set_message("running isocreator"),
        (Some(JobState::Uploading), ..) => bar.set_message("starting the upload"),
        _ => {}
    }
}
