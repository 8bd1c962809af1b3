//! The real job: workspace, config, isocreator, then hash-and-upload, then cleanup.
//! This is the [`JobRunner`] the executor pool is started with.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::build::isocreator_config;
use crate::build::runner::{BuildFailure, IsoCreator};
use crate::build::workspace::Workspace;
use crate::jobs::executor::{BoxFuture, JobRunner};
use crate::jobs::log::Stream;
use crate::jobs::record::{Artifact, FailureCode, JobFailure, JobRecord, Outcome};
use crate::metrics::Metrics;
use crate::time::now_ms;
use crate::upload::{self, UploadError, UploadSettings};

pub struct BuildPipeline {
    pub iso_creator: IsoCreator,
    /// Absolute, so the config path handed to isocreator is absolute too.
    pub workdir: PathBuf,
    /// For the whole job: isocreator and upload together.
    pub time_limit: Duration,
    pub upload: UploadSettings,
    pub metrics: Arc<Metrics>,
}

impl JobRunner for Arc<BuildPipeline> {
    fn run(&self, record: Arc<JobRecord>) -> BoxFuture<Outcome> {
        let pipeline = Arc::clone(self);
        Box::pin(async move {
            let outcome = pipeline.run_job(&record).await;
            if let Err(failure) = &outcome {
                record.log.push(
                    Stream::Corebuild,
                    &format!("Job failed: {}", failure.message),
                );
            }
            outcome
        })
    }
}

impl BuildPipeline {
    async fn run_job(&self, record: &Arc<JobRecord>) -> Outcome {
        let deadline = Instant::now() + self.time_limit;
        let workspace = Workspace::create(&self.workdir, &record.job.id).map_err(|e| {
            fail(
                FailureCode::BuildFailed,
                format!("could not create the workspace: {e}"),
            )
        })?;
        let outcome = self.build_and_upload(record, &workspace, deadline).await;
        // Removed whatever happened; the guard's Drop covers a panic on the way here.
        if let Err(e) = workspace.cleanup().await {
            tracing::warn!("could not remove the workspace: {e}");
        }
        outcome
    }

    async fn build_and_upload(
        &self,
        record: &Arc<JobRecord>,
        workspace: &Workspace,
        deadline: Instant,
    ) -> Outcome {
        let job = &record.job;
        let log = &record.log;
        let config = isocreator_config::render(job, workspace.path());
        let config_path = workspace
            .write_private(isocreator_config::FILE_NAME, &config)
            .map_err(|e| {
                fail(
                    FailureCode::BuildFailed,
                    format!("could not write the config: {e}"),
                )
            })?;
        let output = isocreator_config::output_path(job, workspace.path());
        if let Some(dir) = output.parent() {
            std::fs::create_dir_all(dir).map_err(|e| {
                fail(
                    FailureCode::BuildFailed,
                    format!("could not create the output folder: {e}"),
                )
            })?;
        }

        let remaining = deadline.saturating_duration_since(Instant::now());
        self.iso_creator
            .run(
                &config_path,
                workspace.path(),
                &record.log,
                remaining,
                &record.cancel,
            )
            .await
            .map_err(|f| build_failure(f, self.time_limit, record))?;
        let size = match std::fs::metadata(&output) {
            Ok(m) if m.is_file() && m.len() > 0 => m.len(),
            _ => {
                let failure = BuildFailure::NoArtifact(output.display().to_string());
                return Err(fail(FailureCode::BuildFailed, failure.to_string()));
            }
        };

        log.push(
            Stream::Corebuild,
            &format!(
                "Uploading {size} bytes to {}/{}",
                job.s3.bucket(),
                job.artifact_key
            ),
        );
        let progress: upload::Progress = {
            let record = Arc::clone(record);
            Arc::new(move |done, total| record.set_progress(done, total))
        };
        let upload_started = Instant::now();
        let uploaded = match upload::upload_file(
            &job.s3,
            &job.artifact_key,
            &output,
            &self.upload,
            progress,
            &record.cancel,
            deadline,
        )
        .await
        {
            Ok(uploaded) => uploaded,
            Err(UploadError::TimedOut) => {
                return Err(fail(
                    FailureCode::TimedOut,
                    time_limit_message(self.time_limit),
                ));
            }
            Err(UploadError::Cancelled) => {
                return Err(fail(FailureCode::Cancelled, record.cancel_message()));
            }
            Err(e) => {
                let message = log.scrubber().scrub(&format!(
                    "upload to {}/{} failed: {e}",
                    job.s3.bucket(),
                    job.artifact_key
                ));
                return Err(fail(FailureCode::UploadFailed, message));
            }
        };
        let seconds = upload_started.elapsed().as_secs_f64();
        self.metrics.uploaded(uploaded.size, seconds);
        log.push(
            Stream::Corebuild,
            &format!(
                "Uploaded {} bytes in {seconds:.3} s ({:.1} MB/s), sha256 {}",
                uploaded.size,
                uploaded.size as f64 / 1e6 / seconds.max(1e-9),
                uploaded.sha256
            ),
        );
        Ok(Artifact {
            bucket_name: job.s3.bucket().to_owned(),
            key: job.artifact_key.to_string(),
            filename: job.artifact_key.filename().to_owned(),
            content_type: job.artifact_key.content_type().to_owned(),
            size: uploaded.size,
            sha256: uploaded.sha256,
            created_at: now_ms(),
        })
    }
}

fn fail(code: FailureCode, message: String) -> JobFailure {
    JobFailure { code, message }
}

fn time_limit_message(limit: Duration) -> String {
    format!(
        "the job ran past its time limit of {} seconds",
        limit.as_secs()
    )
}

fn build_failure(failure: BuildFailure, limit: Duration, record: &JobRecord) -> JobFailure {
    match failure {
        BuildFailure::TimedOut(_) => fail(FailureCode::TimedOut, time_limit_message(limit)),
        BuildFailure::Cancelled => fail(FailureCode::Cancelled, record.cancel_message()),
        other => fail(FailureCode::BuildFailed, other.to_string()),
    }
}
