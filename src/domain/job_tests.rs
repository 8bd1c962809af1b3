//! Every validation rule of docs/api.md ("Submitting a job"), one row each.

use serde_json::{Value, json};

use super::job::{Architecture, Image};
use super::parse_job;

fn valid() -> Value {
    json!({
        "id": "build-123",
        "architecture": "amd64",
        "imageKind": "ubuntu-iso",
        "cloudlyUrl": "https://cloudly.example.com",
        "provisioningToken": "one-time-baseos-token",
        "s3Descriptor": {
            "endpoint": "s3.example.com",
            "accessKey": "access-key",
            "accessSecret": "secret-key",
            "bucketName": "servezone-artifacts"
        }
    })
}

/// `valid()` with `pointer` (a JSON pointer) set to `value`, or removed for `Null`.
fn with(pointer: &str, value: Value) -> Value {
    let mut job = valid();
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    let target = if parent.is_empty() {
        &mut job
    } else {
        job.pointer_mut(parent).unwrap()
    };
    let object = target.as_object_mut().unwrap();
    if value.is_null() {
        object.remove(key);
    } else {
        object.insert(key.to_owned(), value);
    }
    job
}

#[test]
fn invalid_requests_name_the_field() {
    let long_id = "a".repeat(129);
    let long_key = format!("a/{}", "b".repeat(1024));
    let rows: Vec<(&str, Value, &str)> = vec![
        ("/id", Value::Null, "job.id: is required"),
        ("/id", json!(""), "job.id: is required"),
        ("/id", json!(long_id), "job.id: must be 1 to 128"),
        ("/id", json!("../etc"), "job.id:"),
        ("/id", json!("a/b"), "job.id:"),
        ("/id", json!("has space"), "job.id:"),
        (
            "/id",
            json!("-leading"),
            "job.id: must start with a letter or digit",
        ),
        (
            "/id",
            json!(".hidden"),
            "job.id: must start with a letter or digit",
        ),
        ("/id", json!(42), "job.id: invalid type"),
        (
            "/architecture",
            Value::Null,
            "job.architecture: is required",
        ),
        (
            "/architecture",
            json!("x86"),
            "job.architecture: must be amd64, arm64 or rpi",
        ),
        (
            "/imageKind",
            json!("qcow2"),
            "job.imageKind: must be ubuntu-iso or balena-raw",
        ),
        (
            "/architecture",
            json!("rpi"),
            "job.imageKind: ubuntu-iso is built for amd64 and arm64",
        ),
        ("/cloudlyUrl", Value::Null, "job.cloudlyUrl: is required"),
        (
            "/cloudlyUrl",
            json!("cloudly.example.com"),
            "job.cloudlyUrl: must be an absolute URL",
        ),
        (
            "/cloudlyUrl",
            json!("ftp://cloudly.example.com"),
            "job.cloudlyUrl: must be an http or https URL",
        ),
        (
            "/cloudlyUrl",
            json!("https://cloudly.example.com\nX=1"),
            "job.cloudlyUrl: must not contain control characters",
        ),
        (
            "/provisioningToken",
            Value::Null,
            "job.provisioningToken: is required",
        ),
        (
            "/provisioningToken",
            json!(""),
            "job.provisioningToken: is required",
        ),
        (
            "/provisioningToken",
            json!("tok\nBASEOS_X=1"),
            "job.provisioningToken: must not contain control characters",
        ),
        (
            "/ubuntuVersion",
            json!("24.4"),
            "job.ubuntuVersion: must look like 24.04",
        ),
        (
            "/ubuntuVersion",
            json!("noble"),
            "job.ubuntuVersion: must look like 24.04",
        ),
        (
            "/hostname",
            json!("bad_host"),
            "job.hostname: must be an RFC 1123 host name",
        ),
        ("/hostname", json!("-lead"), "job.hostname:"),
        ("/hostname", json!("a".repeat(64)), "job.hostname:"),
        (
            "/hostname",
            json!("host\0"),
            "job.hostname: must not contain control characters",
        ),
        (
            "/sshUser",
            json!("Root"),
            "job.sshUser: must be a POSIX user name",
        ),
        ("/sshUser", json!("1user"), "job.sshUser:"),
        ("/sshUser", json!("a".repeat(33)), "job.sshUser:"),
        (
            "/sshPublicKey",
            json!("ssh-ed25519 AAAA\nroot"),
            "job.sshPublicKey: must not contain control characters",
        ),
        (
            "/wifi",
            json!({ "password": "secret-pass" }),
            "job.wifi.ssid: is required",
        ),
        (
            "/wifi",
            json!({ "ssid": "office", "password": "short" }),
            "job.wifi.password: must be 8 to 64",
        ),
        ("/wifi", json!("office"), "job.wifi: invalid type"),
        (
            "/sourceImageUrl",
            json!("not a url"),
            "job.sourceImageUrl: must be an absolute URL",
        ),
        (
            "/s3Descriptor",
            Value::Null,
            "job.s3Descriptor: is required",
        ),
        (
            "/s3Descriptor/endpoint",
            Value::Null,
            "job.s3Descriptor.endpoint: is required",
        ),
        (
            "/s3Descriptor/endpoint",
            json!("https://s3.example.com/path"),
            "job.s3Descriptor.endpoint: must be a host",
        ),
        (
            "/s3Descriptor/endpoint",
            json!("ftp://s3.example.com"),
            "job.s3Descriptor.endpoint: scheme must be http or https",
        ),
        (
            "/s3Descriptor/endpoint",
            json!("s3.example.com:abc"),
            "job.s3Descriptor.endpoint:",
        ),
        (
            "/s3Descriptor/accessKey",
            Value::Null,
            "job.s3Descriptor.accessKey: is required",
        ),
        (
            "/s3Descriptor/accessSecret",
            json!(""),
            "job.s3Descriptor.accessSecret: is required",
        ),
        (
            "/s3Descriptor/bucketName",
            Value::Null,
            "job.s3Descriptor.bucketName: is required",
        ),
        (
            "/s3Descriptor/bucketName",
            json!("a/b"),
            "job.s3Descriptor.bucketName:",
        ),
        (
            "/s3Descriptor/port",
            json!("https"),
            "job.s3Descriptor.port: expected a port number",
        ),
        ("/s3Descriptor/port", json!(70000), "job.s3Descriptor.port:"),
        (
            "/s3Descriptor/useSsl",
            json!("yes"),
            "job.s3Descriptor.useSsl: invalid type",
        ),
        (
            "/s3Descriptor/region",
            json!("eu\n"),
            "job.s3Descriptor.region: must not contain control characters",
        ),
        (
            "/artifactKey",
            json!("/abs/key.iso"),
            "job.artifactKey: must not start with '/'",
        ),
        (
            "/artifactKey",
            json!("a//b.iso"),
            "job.artifactKey: must not have empty",
        ),
        (
            "/artifactKey",
            json!("a/../b.iso"),
            "job.artifactKey: must not have empty",
        ),
        (
            "/artifactKey",
            json!("a/./b.iso"),
            "job.artifactKey: must not have empty",
        ),
        (
            "/artifactKey",
            json!("a/b/"),
            "job.artifactKey: must not have empty",
        ),
        (
            "/artifactKey",
            json!(long_key),
            "job.artifactKey: must be at most 1024 bytes",
        ),
        (
            "/artifactKey",
            json!("a/b\r.iso"),
            "job.artifactKey: must not contain control characters",
        ),
    ];
    for (pointer, value, expected) in rows {
        let shown = value.to_string();
        let err =
            parse_job(with(pointer, value)).expect_err(&format!("{pointer} = {shown} must fail"));
        let message = err.to_string();
        assert!(
            message.starts_with(expected),
            "{pointer} = {shown}: got `{message}`, want `{expected}`"
        );
    }
}

#[test]
fn balena_needs_a_source_image() {
    let job = with("/imageKind", json!("balena-raw"));
    let err = parse_job(job).unwrap_err();
    assert_eq!(
        err.to_string(),
        "job.sourceImageUrl: is required for balena-raw"
    );
}

#[test]
fn the_s3_endpoint_agrees_with_use_ssl_and_port() {
    let mut job = with("/s3Descriptor/endpoint", json!("http://minio.local:9000"));
    job["s3Descriptor"]["useSsl"] = json!(true);
    assert!(
        parse_job(job)
            .unwrap_err()
            .to_string()
            .starts_with("job.s3Descriptor.useSsl:")
    );
    // A written port counts even when it is the scheme's default, which the URL
    // parser drops.
    for endpoint in [
        "minio.local:9000",
        "http://minio.local:80",
        "minio.local:80/",
    ] {
        let mut job = with("/s3Descriptor/endpoint", json!(endpoint));
        job["s3Descriptor"]["port"] = json!(9001);
        assert!(
            parse_job(job)
                .unwrap_err()
                .to_string()
                .starts_with("job.s3Descriptor.port:"),
            "{endpoint}"
        );
    }
    // `host:80` without a scheme keeps port 80, with TLS by default.
    let job = parse_job(with("/s3Descriptor/endpoint", json!("minio.local:80"))).unwrap();
    assert_eq!(job.s3.endpoint(), "https://minio.local:80");
}

#[test]
fn endpoint_spellings_resolve_to_one_url() {
    let endpoint = |endpoint: Value, port: Value, ssl: Value| {
        let mut job = with("/s3Descriptor/endpoint", endpoint);
        let s3 = job["s3Descriptor"].as_object_mut().unwrap();
        if !port.is_null() {
            s3.insert("port".into(), port);
        }
        if !ssl.is_null() {
            s3.insert("useSsl".into(), ssl);
        }
        parse_job(job).unwrap().s3.endpoint().to_owned()
    };
    let n = Value::Null;
    assert_eq!(
        endpoint(json!("s3.example.com"), n.clone(), n.clone()),
        "https://s3.example.com:443"
    );
    assert_eq!(
        endpoint(json!("s3.example.com"), n.clone(), json!(false)),
        "http://s3.example.com:80"
    );
    assert_eq!(
        endpoint(json!("127.0.0.1:9000"), n.clone(), json!(false)),
        "http://127.0.0.1:9000"
    );
    assert_eq!(
        endpoint(json!("127.0.0.1"), json!(9000), json!(false)),
        "http://127.0.0.1:9000"
    );
    assert_eq!(
        endpoint(json!("127.0.0.1"), json!("9000"), json!(false)),
        "http://127.0.0.1:9000"
    );
    assert_eq!(
        endpoint(json!("http://minio:9000/"), n.clone(), n.clone()),
        "http://minio:9000"
    );
    assert_eq!(
        endpoint(json!("https://s3.example.com"), json!(443), json!(true)),
        "https://s3.example.com:443"
    );
}

#[test]
fn defaults_fill_what_was_left_out() {
    let job = parse_job(valid()).unwrap();
    assert_eq!(job.architecture, Architecture::Amd64);
    match &job.image {
        Image::UbuntuIso { version } => assert_eq!(version.as_str(), "24.04"),
        other => panic!("unexpected image {other:?}"),
    }
    assert_eq!(job.hostname.as_str(), "baseos-build-123");
    assert!(job.ssh.is_none());
    assert!(job.wifi.is_none());
    assert_eq!(job.s3.region(), "us-east-1");
    assert!(job.s3.use_tls());
    assert_eq!(
        job.artifact_key.as_str(),
        "corebuild/baseos/build-123/baseos.iso"
    );
    assert_eq!(job.artifact_key.filename(), "baseos.iso");
    assert_eq!(
        job.artifact_key.content_type(),
        "application/x-iso9660-image"
    );

    let mut balena = valid();
    balena["architecture"] = json!("rpi");
    balena["imageKind"] = json!("balena-raw");
    balena["sourceImageUrl"] = json!("https://images.example.com/balena.img.zip");
    let job = parse_job(balena).unwrap();
    assert_eq!(
        job.artifact_key.as_str(),
        "corebuild/baseos/build-123/baseos-rpi.img.xz"
    );
    assert_eq!(job.artifact_key.content_type(), "application/x-xz");

    let mut ssh = valid();
    ssh["sshPublicKey"] = json!("ssh-ed25519 AAAA user@host");
    assert_eq!(parse_job(ssh).unwrap().ssh.unwrap().user.as_str(), "baseos");
}

#[test]
fn the_default_hostname_is_a_valid_label() {
    let long = format!("Build_{}.x", "A".repeat(80));
    let job = parse_job(with("/id", json!(long))).unwrap();
    let host = job.hostname.as_str();
    assert!(
        host.len() <= 63 && host.starts_with("baseos-build-aaa"),
        "{host}"
    );
    assert!(!host.ends_with('-'));
    let job = parse_job(with("/id", json!("Job_7.b"))).unwrap();
    assert_eq!(job.hostname.as_str(), "baseos-job-7-b");
}

#[test]
fn unknown_fields_are_ignored() {
    let mut job = valid();
    job["futureField"] = json!({ "anything": [1, 2, 3] });
    job["s3Descriptor"]["sessionToken"] = json!("x");
    assert!(parse_job(job).is_ok());
}

#[test]
fn debug_output_hides_every_secret() {
    let mut job = valid();
    job["wifi"] = json!({ "ssid": "office", "password": "wifi-password-1" });
    let job = parse_job(job).unwrap();
    let debug = format!("{job:?}");
    for secret in ["one-time-baseos-token", "secret-key", "wifi-password-1"] {
        assert!(!debug.contains(secret), "{secret} leaked: {debug}");
    }
    assert_eq!(job.secrets().len(), 3);
}

#[test]
fn a_secret_of_the_wrong_type_is_not_echoed() {
    let job = with("/s3Descriptor/port", json!("hunter2-secret"));
    let message = parse_job(job).unwrap_err().to_string();
    assert!(!message.contains("hunter2"), "{message}");
    let job = with("/wifi", json!("hunter2-secret"));
    let message = parse_job(job).unwrap_err().to_string();
    assert!(!message.contains("hunter2"), "{message}");
}
