//! One job's steps, in order: prepare the workspace and config, run isocreator, find
//! the artifact, hash-and-upload it, and remove the workspace whatever happened. This
//! is the [`JobRunner`] the executor pool is started with.

mod failure;
mod prepare;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use self::failure::{build_failure, internal, upload_failure};
use self::prepare::Prepared;
use crate::domain::{Artifact, FailureCode, Job, JobFailure, Outcome};
use crate::isocreator::{BuildFailure, BuildRun, IsoCreator};
use crate::joblog::LogSink;
use crate::jobs::{BoxFuture, JobRecord, JobRunner};
use crate::metrics::Metrics;
use crate::time::now_ms;
use crate::upload::{self, Stop, UploadSettings, UploadTarget, Uploaded};

pub(crate) struct BuildPipeline {
    pub(crate) iso_creator: IsoCreator,
    /// Absolute, so the config path handed to isocreator is absolute too.
    pub(crate) workdir: PathBuf,
    /// For the whole job: isocreator and upload together.
    pub(crate) time_limit: Duration,
    pub(crate) upload: UploadSettings,
    pub(crate) metrics: Arc<Metrics>,
}

impl JobRunner for Arc<BuildPipeline> {
    fn admitted(&self, job: &Job, log: &LogSink) {
        log.note(&format!(
            "Starting isocreator for {} {}",
            job.architecture,
            job.image.kind()
        ));
    }

    fn run(&self, record: Arc<JobRecord>) -> BoxFuture<Outcome> {
        let pipeline = Arc::clone(self);
        Box::pin(async move {
            let outcome = pipeline.run_job(&record).await;
            if let Err(failure) = &outcome {
                record
                    .log_sink()
                    .note(&format!("Job failed: {}", failure.message));
            }
            outcome
        })
    }
}

impl BuildPipeline {
    async fn run_job(&self, record: &Arc<JobRecord>) -> Outcome {
        let deadline = Instant::now() + self.time_limit;
        let prepared = prepare::prepare(&record.job, &self.workdir).await?;
        let outcome = self.build_and_upload(record, &prepared, deadline).await;
        // Removed whatever happened; the guard's Drop covers a panic on the way here.
        if let Err(e) = prepared.workspace.cleanup().await {
            tracing::warn!("could not remove the workspace: {e}");
        }
        outcome
    }

    async fn build_and_upload(
        &self,
        record: &Arc<JobRecord>,
        prepared: &Prepared,
        deadline: Instant,
    ) -> Outcome {
        self.build(record, prepared, deadline).await?;
        let size = artifact_size(&prepared.output).await?;
        let uploaded = self.upload(record, prepared, size, deadline).await?;
        let key = &record.job.artifact_key;
        Ok(Artifact {
            bucket_name: record.job.s3.bucket().to_owned(),
            key: key.to_string(),
            filename: key.filename().to_owned(),
            content_type: key.content_type().to_owned(),
            size: uploaded.size,
            sha256: uploaded.sha256,
            created_at: now_ms(),
        })
    }

    /// Runs isocreator with what is left of the job's time.
    async fn build(
        &self,
        record: &JobRecord,
        prepared: &Prepared,
        deadline: Instant,
    ) -> Result<(), JobFailure> {
        let remaining = deadline.saturating_duration_since(Instant::now());
        let log = record.log_sink();
        let run = BuildRun {
            config: &prepared.config,
            workspace: prepared.workspace.path(),
            log: &log,
            limit: remaining,
            cancel: &record.cancel,
        };
        self.iso_creator
            .run(run)
            .await
            .map_err(|f| build_failure(f, self.time_limit, record))
    }

    async fn upload(
        &self,
        record: &Arc<JobRecord>,
        prepared: &Prepared,
        size: u64,
        deadline: Instant,
    ) -> Result<Uploaded, JobFailure> {
        let job = &record.job;
        let log = record.log_sink();
        log.note(&format!(
            "Uploading {size} bytes to {}/{}",
            job.s3.bucket(),
            job.artifact_key
        ));
        let progress: upload::Progress = {
            let record = Arc::clone(record);
            Arc::new(move |done, total| record.set_progress(done, total))
        };
        let target = UploadTarget {
            store: &job.s3,
            key: &job.artifact_key,
            file: &prepared.output,
            size,
            fence: record.fence(),
        };
        let stop = Stop {
            cancel: &record.cancel,
            deadline,
        };
        let started = Instant::now();
        let uploaded = upload::upload_file(target, &self.upload, progress, stop)
            .await
            .map_err(|e| upload_failure(e, self.time_limit, record))?;
        let seconds = started.elapsed().as_secs_f64();
        self.metrics.uploaded(uploaded.size, seconds);
        log.note(&format!(
            "Uploaded {} bytes in {seconds:.3} s ({:.1} MB/s), sha256 {}",
            uploaded.size,
            uploaded.size as f64 / 1e6 / seconds.max(1e-9),
            uploaded.sha256
        ));
        Ok(uploaded)
    }
}

/// The artifact must exist and hold something; a missing or empty one is the build's
/// failure (isocreator said it succeeded but did not deliver).
async fn artifact_size(output: &std::path::Path) -> Result<u64, JobFailure> {
    match tokio::fs::metadata(output).await {
        Ok(m) if m.is_file() && m.len() > 0 => Ok(m.len()),
        Ok(_) => Err(no_artifact(output)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(no_artifact(output)),
        Err(e) => Err(internal(format!("could not look at the artifact: {e}"))),
    }
}

fn no_artifact(output: &std::path::Path) -> JobFailure {
    let failure = BuildFailure::NoArtifact(output.display().to_string());
    JobFailure::new(FailureCode::BuildFailed, failure.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::parse_job;
    use crate::joblog::{JobLog, LogBudget, Scrubber};

    #[test]
    fn the_first_log_line_names_architecture_and_kind() {
        let pipeline = Arc::new(BuildPipeline {
            iso_creator: IsoCreator::parse("isocreator").unwrap(),
            workdir: PathBuf::from("/nonexistent"),
            time_limit: Duration::from_secs(1),
            upload: UploadSettings {
                part_size: 5 << 20,
                concurrency: 1,
                max_retries: 0,
                unsigned_payload: None,
            },
            metrics: Arc::new(Metrics::new()),
        });
        let job = parse_job(serde_json::json!({
            "id": "first", "architecture": "rpi", "imageKind": "balena-raw",
            "sourceImageUrl": "https://images.example.com/x.img",
            "cloudlyUrl": "https://cloudly.example.com", "provisioningToken": "t",
            "s3Descriptor": {"endpoint": "127.0.0.1:9", "accessKey": "k",
                "accessSecret": "s", "bucketName": "b"}
        }))
        .unwrap();
        let log = JobLog::new(10, Scrubber::new([]), &LogBudget::new(u64::MAX));
        pipeline.admitted(&job, &LogSink::new(Arc::clone(&log)));
        assert_eq!(log.texts(), ["Starting isocreator for rpi balena-raw"]);
    }
}
