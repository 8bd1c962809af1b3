//! The first step: a private workspace with isocreator's config in it and a folder
//! for the output. Done on a blocking thread, because these are file-system calls
//! (with an fsync) that a slow or full disk could stretch out, and the runtime's
//! threads serve every other job and request meanwhile.

use std::path::{Path, PathBuf};

use super::failure::internal;
use crate::domain::{Job, JobFailure};
use crate::isocreator::{Workspace, config};

pub(super) struct Prepared {
    pub(super) workspace: Workspace,
    /// The config file's absolute path.
    pub(super) config: PathBuf,
    /// Where isocreator must write the artifact.
    pub(super) output: PathBuf,
}

pub(super) async fn prepare(job: &Job, workdir: &Path) -> Result<Prepared, JobFailure> {
    let (job, workdir) = (job.clone(), workdir.to_owned());
    tokio::task::spawn_blocking(move || prepare_blocking(&job, &workdir))
        .await
        .map_err(|e| internal(format!("preparing the workspace failed: {e}")))?
}

fn prepare_blocking(job: &Job, workdir: &Path) -> Result<Prepared, JobFailure> {
    let workspace = Workspace::create(workdir, &job.id)
        .map_err(|e| internal(format!("could not create the workspace: {e}")))?;
    let rendered = config::render(job, workspace.path());
    let config = workspace
        .write_private(config::FILE_NAME, &rendered)
        .map_err(|e| internal(format!("could not write the config: {e}")))?;
    // The builder's HOME and TMPDIR: inside the workspace, so they go with it.
    for dir in ["home", "tmp"] {
        std::fs::create_dir(workspace.path().join(dir))
            .map_err(|e| internal(format!("could not create the workspace's {dir}: {e}")))?;
    }
    let output = config::output_path(job, workspace.path());
    if let Some(dir) = output.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| internal(format!("could not create the output folder: {e}")))?;
    }
    Ok(Prepared {
        workspace,
        config,
        output,
    })
}
