//! A BaseOS image job as the worker knows it: parsed once at the edge from the wire
//! request ([`super::parse`]), so that every value inside is valid by construction.

use super::fields::{ArtifactKey, HostName, HttpUrl, JobId, UbuntuVersion, UserName};
use super::names::wire_enum;
use super::s3_target::S3Target;
use super::secret::Secret;

wire_enum! {
    /// The CPU family an image is built for.
    pub(crate) enum Architecture {
        Amd64 = "amd64",
        Arm64 = "arm64",
        Rpi = "rpi",
    }
}

wire_enum! {
    /// Which image is built.
    pub(crate) enum ImageKind {
        UbuntuIso = "ubuntu-iso",
        BalenaRaw = "balena-raw",
    }
}

wire_enum! {
    /// The kinds of job this worker builds; one so far.
    pub(crate) enum BuildType {
        BaseosImage = "baseos-image",
    }
}

/// What is built, with the inputs only that kind has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Image {
    UbuntuIso { version: UbuntuVersion },
    BalenaRaw { source_image_url: HttpUrl },
}

impl Image {
    pub(crate) fn kind(&self) -> ImageKind {
        match self {
            Self::UbuntuIso { .. } => ImageKind::UbuntuIso,
            Self::BalenaRaw { .. } => ImageKind::BalenaRaw,
        }
    }

    /// The file name isocreator writes and the default artifact key ends in.
    pub(crate) fn default_filename(&self, architecture: Architecture) -> String {
        match self {
            Self::UbuntuIso { .. } => "baseos.iso".to_owned(),
            Self::BalenaRaw { .. } => format!("baseos-{architecture}.img.xz"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SshAccess {
    pub(crate) user: UserName,
    pub(crate) public_key: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Wifi {
    pub(crate) ssid: String,
    pub(crate) password: Option<Secret>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub(crate) id: JobId,
    pub(crate) architecture: Architecture,
    pub(crate) image: Image,
    pub(crate) cloudly_url: HttpUrl,
    pub(crate) provisioning_token: Secret,
    pub(crate) hostname: HostName,
    pub(crate) ssh: Option<SshAccess>,
    pub(crate) wifi: Option<Wifi>,
    pub(crate) s3: S3Target,
    pub(crate) artifact_key: ArtifactKey,
}

impl Job {
    /// The file name isocreator writes and the default key ends in.
    pub(crate) fn default_filename(&self) -> String {
        self.image.default_filename(self.architecture)
    }

    /// Every secret value of the job, for scrubbing log lines and messages.
    pub(crate) fn secrets(&self) -> Vec<&str> {
        let mut secrets = vec![
            self.provisioning_token.expose(),
            self.s3.access_secret().expose(),
        ];
        if let Some(password) = self.wifi.as_ref().and_then(|w| w.password.as_ref()) {
            secrets.push(password.expose());
        }
        secrets
    }
}
