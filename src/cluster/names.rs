//! Names of the fleet's streams, bucket and subjects, all under one prefix so several
//! fleets can share a NATS account.

use crate::domain::BuildClass;

/// Names derived from `COREBUILD_NATS_PREFIX`.
#[derive(Debug, Clone)]
pub(crate) struct Names {
    prefix: String,
}

impl Names {
    pub(crate) fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_owned(),
        }
    }

    pub(crate) fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The work-queue stream of sealed jobs.
    pub(crate) fn jobs_stream(&self) -> String {
        format!("{}_jobs", self.prefix)
    }

    /// Where the jobs of one class are queued: `<prefix>.jobs.<arch>.<kind>`.
    pub(crate) fn jobs_subject(&self, class: BuildClass) -> String {
        format!(
            "{}.jobs.{}.{}",
            self.prefix, class.architecture, class.image_kind
        )
    }

    /// The subject of jobs queued before the queue had classes: drained, never fed.
    pub(crate) fn unrouted_subject(&self) -> String {
        format!("{}.jobs", self.prefix)
    }

    /// Every subject of the job queue.
    pub(crate) fn jobs_subjects(&self) -> Vec<String> {
        vec![self.unrouted_subject(), format!("{}.jobs.*.*", self.prefix)]
    }

    /// The durable pull consumer of one class, shared by the workers that build it
    /// (and watched by an autoscaler: its pending count is the class's backlog).
    pub(crate) fn consumer(&self, class: BuildClass) -> String {
        format!(
            "{}_{}_{}",
            self.prefix, class.architecture, class.image_kind
        )
    }

    /// The consumer of the unrouted subject, which every worker drains.
    pub(crate) fn unrouted_consumer(&self) -> String {
        format!("{}_unrouted", self.prefix)
    }

    /// The one consumer of the queue before it had classes; it would overlap the
    /// classes' consumers, which a work-queue stream refuses, so it is removed.
    pub(crate) fn unfiltered_consumer(&self) -> String {
        format!("{}_workers", self.prefix)
    }

    /// Rung after a job of `class` is queued, so idle workers of the class look at once.
    pub(crate) fn doorbell_subject(&self, class: BuildClass) -> String {
        format!(
            "{}.ready.{}.{}",
            self.prefix, class.architecture, class.image_kind
        )
    }

    pub(crate) fn doorbell_subjects(&self) -> String {
        format!("{}.ready.>", self.prefix)
    }

    /// The key-value bucket of job status documents.
    pub(crate) fn status_bucket(&self) -> String {
        format!("{}_status", self.prefix)
    }

    /// The key-value bucket of worker records: each worker process's lease.
    pub(crate) fn workers_bucket(&self) -> String {
        format!("{}_workers", self.prefix)
    }

    /// The stream of log batches, one subject per job.
    pub(crate) fn logs_stream(&self) -> String {
        format!("{}_logs", self.prefix)
    }

    pub(crate) fn logs_subject(&self, id: &str) -> String {
        format!("{}.logs.{}", self.prefix, key(id))
    }

    pub(crate) fn logs_subjects(&self) -> String {
        format!("{}.logs.*", self.prefix)
    }

    /// Where cancel requests are announced to the worker running the job.
    pub(crate) fn cancel_subject(&self) -> String {
        format!("{}.cancel", self.prefix)
    }

    /// What a sealed job is bound to: it opens only as this job's submission `round`.
    pub(crate) fn seal_context(&self, id: &str, round: u32) -> String {
        format!("{}/{id}/{round}", self.prefix)
    }
}

/// A job id as one key and one subject token. Ids hold only `A-Za-z0-9._-`; a dot
/// would split a subject into tokens (and `a..b` is no subject at all), so it is
/// written `=2e`, which no id contains.
pub(crate) fn key(id: &str) -> String {
    id.replace('.', "=2e")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_job_id_is_one_subject_token_and_ids_stay_apart() {
        let names = Names::new("fleet-a");
        assert_eq!(names.logs_subject("a..b."), "fleet-a.logs.a=2e=2eb=2e");
        assert_ne!(key("a.b"), key("a_b"));
        assert_eq!(names.jobs_stream(), "fleet-a_jobs");
        let class = BuildClass::from_label("arm64/balena-raw").unwrap();
        assert_eq!(names.jobs_subject(class), "fleet-a.jobs.arm64.balena-raw");
        assert_eq!(names.consumer(class), "fleet-a_arm64_balena-raw");
    }
}
