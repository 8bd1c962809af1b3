//! A BaseOS image job as the worker knows it: parsed once at the edge from the wire
//! request, so that every value inside is valid by construction.

use std::fmt;

use super::fields::{
    ArtifactKey, FieldError, HostName, HttpUrl, JobId, UbuntuVersion, UserName, required, text,
};
use super::s3_target::S3Target;
use super::wire::{WireJob, WireWifi};
use crate::secret::Secret;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Architecture {
    Amd64,
    Arm64,
    Rpi,
}

impl Architecture {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Amd64 => "amd64",
            Self::Arm64 => "arm64",
            Self::Rpi => "rpi",
        }
    }
}

impl fmt::Display for Architecture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What is built, with the inputs only that kind has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Image {
    UbuntuIso { version: UbuntuVersion },
    BalenaRaw { source_image_url: HttpUrl },
}

impl Image {
    pub fn kind(&self) -> &'static str {
        match self {
            Self::UbuntuIso { .. } => "ubuntu-iso",
            Self::BalenaRaw { .. } => "balena-raw",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshAccess {
    pub user: UserName,
    pub public_key: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wifi {
    pub ssid: String,
    pub password: Option<Secret>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub id: JobId,
    pub architecture: Architecture,
    pub image: Image,
    pub cloudly_url: HttpUrl,
    pub provisioning_token: Secret,
    pub hostname: HostName,
    pub ssh: Option<SshAccess>,
    pub wifi: Option<Wifi>,
    pub s3: S3Target,
    pub artifact_key: ArtifactKey,
}

impl Job {
    /// The file name isocreator writes and the default key ends in.
    pub fn default_filename(&self) -> String {
        default_filename(&self.image, self.architecture)
    }

    /// Every secret value of the job, for scrubbing log lines and messages.
    pub fn secrets(&self) -> Vec<&str> {
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

fn default_filename(image: &Image, architecture: Architecture) -> String {
    match image {
        Image::UbuntuIso { .. } => "baseos.iso".to_owned(),
        Image::BalenaRaw { .. } => format!("baseos-{architecture}.img.xz"),
    }
}

impl TryFrom<WireJob> for Job {
    type Error = FieldError;

    fn try_from(wire: WireJob) -> Result<Self, FieldError> {
        let id = JobId::parse("job.id", required("job.id", wire.id)?)?;
        let architecture = match required("job.architecture", wire.architecture)?.as_str() {
            "amd64" => Architecture::Amd64,
            "arm64" => Architecture::Arm64,
            "rpi" => Architecture::Rpi,
            _ => {
                return Err(FieldError::new(
                    "job.architecture",
                    "must be amd64, arm64 or rpi",
                ));
            }
        };
        let source_image_url = text("job.sourceImageUrl", wire.source_image_url)?
            .map(|u| HttpUrl::parse("job.sourceImageUrl", u))
            .transpose()?;
        let ubuntu_version = text("job.ubuntuVersion", wire.ubuntu_version)?
            .map(|v| UbuntuVersion::parse("job.ubuntuVersion", v))
            .transpose()?;
        let image = match required("job.imageKind", wire.image_kind)?.as_str() {
            "ubuntu-iso" if architecture == Architecture::Rpi => {
                return Err(FieldError::new(
                    "job.imageKind",
                    "ubuntu-iso is built for amd64 and arm64 only",
                ));
            }
            "ubuntu-iso" => Image::UbuntuIso {
                version: ubuntu_version.unwrap_or_else(UbuntuVersion::default_version),
            },
            "balena-raw" => Image::BalenaRaw {
                source_image_url: source_image_url.ok_or_else(|| {
                    FieldError::new("job.sourceImageUrl", "is required for balena-raw")
                })?,
            },
            _ => {
                return Err(FieldError::new(
                    "job.imageKind",
                    "must be ubuntu-iso or balena-raw",
                ));
            }
        };
        let cloudly_url = HttpUrl::parse(
            "job.cloudlyUrl",
            required("job.cloudlyUrl", wire.cloudly_url)?,
        )?;
        let provisioning_token =
            Secret::new(required("job.provisioningToken", wire.provisioning_token)?);
        let hostname = match text("job.hostname", wire.hostname)? {
            Some(h) => HostName::parse("job.hostname", h)?,
            None => HostName::default_for(&id),
        };
        let ssh_user = text("job.sshUser", wire.ssh_user)?
            .map(|u| UserName::parse("job.sshUser", u))
            .transpose()?
            .unwrap_or_else(UserName::default_user);
        let ssh = text("job.sshPublicKey", wire.ssh_public_key)?
            .filter(|k| !k.trim().is_empty())
            .map(|public_key| SshAccess {
                user: ssh_user,
                public_key: public_key.trim().to_owned(),
            });
        let wifi = wire.wifi.map(parse_wifi).transpose()?;
        let s3 = S3Target::parse(
            wire.s3_descriptor
                .ok_or_else(|| FieldError::new("job.s3Descriptor", "is required"))?,
        )?;
        let artifact_key = match text("job.artifactKey", wire.artifact_key)? {
            Some(k) => ArtifactKey::parse("job.artifactKey", k)?,
            None => ArtifactKey::parse(
                "job.artifactKey",
                format!(
                    "corebuild/baseos/{id}/{}",
                    default_filename(&image, architecture)
                ),
            )?,
        };
        Ok(Self {
            id,
            architecture,
            image,
            cloudly_url,
            provisioning_token,
            hostname,
            ssh,
            wifi,
            s3,
            artifact_key,
        })
    }
}

fn parse_wifi(wire: WireWifi) -> Result<Wifi, FieldError> {
    let ssid = required("job.wifi.ssid", wire.ssid)?;
    if ssid.len() > 32 {
        return Err(FieldError::new("job.wifi.ssid", "must be at most 32 bytes"));
    }
    let password = text("job.wifi.password", wire.password)?.filter(|p| !p.is_empty());
    if let Some(p) = &password
        && !(8..=64).contains(&p.len())
    {
        return Err(FieldError::new(
            "job.wifi.password",
            "must be 8 to 64 characters (WPA)",
        ));
    }
    Ok(Wifi {
        ssid,
        password: password.map(Secret::new),
    })
}
