//! The one door in: the wire request's `job` object to a [`Job`], or the first rule it
//! breaks, named by its field (docs/api.md, "Submitting a job", lists every rule).

use super::fields::{
    ArtifactKey, FieldError, HostName, HttpUrl, JobId, UbuntuVersion, UserName, required, text,
};
use super::job::{Architecture, Image, ImageKind, Job, SshAccess, Wifi};
use super::s3_target::S3Target;
use super::secret::Secret;
use super::wire::{WireJob, WireWifi};

/// Parses the request's `job` value, checking its JSON shape first. It reads the value
/// in place, so a caller that keeps the raw JSON (cluster mode queues it) copies nothing.
pub fn parse_job(value: impl std::borrow::Borrow<serde_json::Value>) -> Result<Job, FieldError> {
    Job::try_from(super::wire::from_value(value.borrow())?)
}

impl TryFrom<WireJob> for Job {
    type Error = FieldError;

    fn try_from(wire: WireJob) -> Result<Self, FieldError> {
        let id = JobId::parse("job.id", required("job.id", wire.id)?)?;
        let architecture = architecture(wire.architecture)?;
        let image = image(
            architecture,
            wire.image_kind,
            wire.ubuntu_version,
            wire.source_image_url,
        )?;
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
        let ssh = ssh(wire.ssh_user, wire.ssh_public_key)?;
        let wifi = wire.wifi.map(wifi).transpose()?;
        let s3 = S3Target::parse(
            wire.s3_descriptor
                .ok_or_else(|| FieldError::new("job.s3Descriptor", "is required"))?,
        )?;
        let artifact_key = artifact_key(wire.artifact_key, &id, &image, architecture)?;
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

fn architecture(value: Option<String>) -> Result<Architecture, FieldError> {
    let value = required("job.architecture", value)?;
    value
        .parse()
        .map_err(|message: String| FieldError::new("job.architecture", message))
}

/// The image kind with the inputs only that kind takes.
fn image(
    architecture: Architecture,
    kind: Option<String>,
    ubuntu_version: Option<String>,
    source_image_url: Option<String>,
) -> Result<Image, FieldError> {
    let source_image_url = text("job.sourceImageUrl", source_image_url)?
        .map(|u| HttpUrl::parse("job.sourceImageUrl", u))
        .transpose()?;
    let ubuntu_version = text("job.ubuntuVersion", ubuntu_version)?
        .map(|v| UbuntuVersion::parse("job.ubuntuVersion", v))
        .transpose()?;
    let kind: ImageKind = required("job.imageKind", kind)?
        .parse()
        .map_err(|message: String| FieldError::new("job.imageKind", message))?;
    match kind {
        ImageKind::UbuntuIso if architecture == Architecture::Rpi => Err(FieldError::new(
            "job.imageKind",
            "ubuntu-iso is built for amd64 and arm64 only",
        )),
        ImageKind::UbuntuIso => Ok(Image::UbuntuIso {
            version: ubuntu_version.unwrap_or_else(UbuntuVersion::default_version),
        }),
        ImageKind::BalenaRaw => Ok(Image::BalenaRaw {
            source_image_url: source_image_url.ok_or_else(|| {
                FieldError::new("job.sourceImageUrl", "is required for balena-raw")
            })?,
        }),
    }
}

/// A user is created only when a key is given; the user name has a default.
fn ssh(user: Option<String>, public_key: Option<String>) -> Result<Option<SshAccess>, FieldError> {
    let user = text("job.sshUser", user)?
        .map(|u| UserName::parse("job.sshUser", u))
        .transpose()?
        .unwrap_or_else(UserName::default_user);
    Ok(text("job.sshPublicKey", public_key)?
        .filter(|k| !k.trim().is_empty())
        .map(|public_key| SshAccess {
            user,
            public_key: public_key.trim().to_owned(),
        }))
}

fn wifi(wire: WireWifi) -> Result<Wifi, FieldError> {
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

/// The key given, or `corebuild/baseos/<id>/<default file name>`.
fn artifact_key(
    value: Option<String>,
    id: &JobId,
    image: &Image,
    architecture: Architecture,
) -> Result<ArtifactKey, FieldError> {
    let key = text("job.artifactKey", value)?.unwrap_or_else(|| {
        format!(
            "corebuild/baseos/{id}/{}",
            image.default_filename(architecture)
        )
    });
    ArtifactKey::parse("job.artifactKey", key)
}
