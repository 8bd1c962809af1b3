//! `isocreator.config.json`, schema version 1: what isocreator is asked to build.
//!
//! Rendered from serde structs whose field order is the key order, so the same job
//! always gives the same bytes and golden files can pin the output.

use std::path::Path;

use serde::Serialize;

use crate::domain::Job;
use crate::domain::job::Image;

pub(crate) const FILE_NAME: &str = "isocreator.config.json";
const ENV_PATH: &str = "/etc/baseos/baserunner.env";
const UNIT_NAME: &str = "baseos-baserunner.service";
const INSTALL_PATH: &str = "/usr/local/sbin/baseos-install";
const BASEOS_REPO: &str = "https://code.foss.global/serve.zone/baseos.git";

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Config<'a> {
    schema_version: u32,
    job_id: &'a str,
    image_kind: &'a str,
    architecture: &'a str,
    hostname: &'a str,
    output: Output,
    ubuntu: Option<Ubuntu<'a>>,
    balena: Option<Balena<'a>>,
    files: Vec<File>,
    systemd_units: Vec<Unit>,
    first_boot_commands: Vec<&'static str>,
    users: Vec<User<'a>>,
    wifi: Option<Wifi<'a>>,
}

#[derive(Serialize)]
struct Output {
    path: String,
    compression: &'static str,
}

#[derive(Serialize)]
struct Ubuntu<'a> {
    version: &'a str,
    edition: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Balena<'a> {
    source_image_url: &'a str,
    config: BalenaConfig<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct BalenaConfig<'a> {
    cloudly_url: &'a str,
    provisioning_token: &'a str,
    hostname: &'a str,
}

#[derive(Serialize)]
struct File {
    path: &'static str,
    mode: &'static str,
    content: String,
}

#[derive(Serialize)]
struct Unit {
    name: &'static str,
    enable: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct User<'a> {
    name: &'a str,
    ssh_authorized_keys: Vec<&'a str>,
    sudo: bool,
}

#[derive(Serialize)]
struct Wifi<'a> {
    ssid: &'a str,
    password: Option<&'a str>,
}

/// Where isocreator must write the image inside the workspace.
pub(crate) fn output_path(job: &Job, workspace: &Path) -> std::path::PathBuf {
    workspace.join("output").join(job.default_filename())
}

/// The config for `job`, built in `workspace`, as pretty JSON ending in a newline.
pub fn render(job: &Job, workspace: &Path) -> Vec<u8> {
    let (ubuntu, balena, compression) = match &job.image {
        Image::UbuntuIso { version } => (
            Some(Ubuntu {
                version: version.as_str(),
                edition: "server",
            }),
            None,
            "none",
        ),
        Image::BalenaRaw { source_image_url } => (
            None,
            Some(Balena {
                source_image_url: source_image_url.as_str(),
                config: BalenaConfig {
                    cloudly_url: job.cloudly_url.as_str(),
                    provisioning_token: job.provisioning_token.expose(),
                    hostname: job.hostname.as_str(),
                },
            }),
            "xz",
        ),
    };
    let config = Config {
        schema_version: 1,
        job_id: job.id.as_str(),
        image_kind: job.image.kind().as_str(),
        architecture: job.architecture.as_str(),
        hostname: job.hostname.as_str(),
        output: Output {
            path: output_path(job, workspace).display().to_string(),
            compression,
        },
        ubuntu,
        balena,
        files: vec![
            File {
                path: ENV_PATH,
                mode: "0600",
                content: env_file(job),
            },
            File {
                path: "/etc/systemd/system/baseos-baserunner.service",
                mode: "0644",
                content: unit_file(),
            },
            File {
                path: INSTALL_PATH,
                mode: "0755",
                content: install_script(),
            },
        ],
        systemd_units: vec![Unit {
            name: UNIT_NAME,
            enable: true,
        }],
        first_boot_commands: vec![INSTALL_PATH],
        users: job
            .ssh
            .iter()
            .map(|ssh| User {
                name: ssh.user.as_str(),
                ssh_authorized_keys: vec![ssh.public_key.as_str()],
                sudo: true,
            })
            .collect(),
        wifi: job.wifi.as_ref().map(|w| Wifi {
            ssid: &w.ssid,
            password: w.password.as_ref().map(|p| p.expose()),
        }),
    };
    let mut bytes = serde_json::to_vec_pretty(&config).expect("config serializes");
    bytes.push(b'\n');
    bytes
}

/// The baserunner's `EnvironmentFile=`, every value quoted for systemd.
fn env_file(job: &Job) -> String {
    super::envfile::render(&[
        ("BASEOS_CLOUDLY_URL", job.cloudly_url.as_str()),
        ("BASEOS_JOIN_TOKEN", job.provisioning_token.expose()),
        ("BASEOS_STATE_PATH", "/var/lib/baseos/state.json"),
        ("BASEOS_HEARTBEAT_INTERVAL_SECONDS", "30"),
    ])
}

fn unit_file() -> String {
    format!(
        "[Unit]
Description=BaseOS baserunner: joins this host to Cloudly
Wants=network-online.target
After=network-online.target
ConditionPathExists=/opt/baseos

[Service]
Type=simple
EnvironmentFile={ENV_PATH}
WorkingDirectory=/opt/baseos
ExecStart=/usr/local/bin/deno run --allow-all /opt/baseos/mod.ts
Restart=always
RestartSec=10

[Install]
WantedBy=multi-user.target
"
    )
}

fn install_script() -> String {
    format!(
        "#!/bin/sh
# First boot: install Deno when missing, fetch BaseOS, start the baserunner.
set -eu
export DEBIAN_FRONTEND=noninteractive
missing=''
for tool in curl git unzip; do
  command -v \"$tool\" >/dev/null 2>&1 || missing=\"$missing $tool\"
done
if [ -n \"$missing\" ]; then
  apt-get update
  apt-get install -y $missing
fi
if ! command -v deno >/dev/null 2>&1 && [ ! -x /usr/local/bin/deno ]; then
  curl -fsSL https://deno.land/install.sh | DENO_INSTALL=/usr/local sh -s -- -y
fi
if [ -d /opt/baseos/.git ]; then
  git -C /opt/baseos pull --ff-only
else
  git clone {BASEOS_REPO} /opt/baseos
fi
mkdir -p /var/lib/baseos
systemctl daemon-reload
systemctl enable --now {UNIT_NAME}
"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::parse_job;

    #[test]
    fn the_env_file_carries_awkward_values_intact() {
        let (url, token) = ("https://cloudly.example.com/a\\", "\"quoted\" $HOME #x '");
        let job = parse_job(serde_json::json!({
            "id": "env", "architecture": "amd64", "imageKind": "ubuntu-iso",
            "cloudlyUrl": url, "provisioningToken": token,
            "s3Descriptor": {"endpoint": "127.0.0.1:9", "accessKey": "k",
                "accessSecret": "s", "bucketName": "b"}
        }))
        .unwrap();
        let parsed = super::super::envfile::tests::parse(&env_file(&job));
        assert_eq!(parsed[0], ("BASEOS_CLOUDLY_URL".to_owned(), url.to_owned()));
        assert_eq!(
            parsed[1],
            ("BASEOS_JOIN_TOKEN".to_owned(), token.to_owned())
        );
        assert_eq!(parsed.len(), 4);
    }
}
