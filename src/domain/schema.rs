//! The JSON Schema of a job request, as the OpenAPI document publishes it.
//!
//! The wire structs are all-optional so that the parser can name a missing field; the
//! published schema carries the real rules instead: required fields, enums, patterns,
//! lengths, ranges, and the rules between fields that JSON Schema can say (`if`/`then`).
//! It is written here, beside the rules it describes, and a test below holds the two
//! together by running the same values through both.
//!
//! Two rules JSON Schema cannot say are in the descriptions only: a port in
//! `s3Descriptor.endpoint` and the `port` field must be equal when both are given, and
//! lengths count UTF-8 bytes where the schema counts characters (the same for ASCII).

use serde_json::{Value, json};

use super::job::{Architecture, ImageKind};

/// No control character (Unicode `Cc`: U+0000-U+001F, U+007F-U+009F), as every
/// string of a job must be: they end up in env and unit files on the built image.
const NO_CONTROL: &str = r"^[^\u0000-\u001F\u007F-\u009F]*$";

/// `[A-Za-z0-9._-]`, first a letter or digit; the length is `maxLength`.
const JOB_ID: &str = r"^[A-Za-z0-9][A-Za-z0-9._-]*$";

const UBUNTU_VERSION: &str = r"^[0-9]{2}\.[0-9]{2}$";

/// RFC 1123 labels; the total length is `maxLength`.
const HOST_NAME: &str = r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$";

const USER_NAME: &str = r"^[a-z_][a-z0-9_-]{0,31}$";

const BUCKET: &str = r"^[A-Za-z0-9._-]{1,255}$";

/// Segments without `/` or control characters that are not `.` or `..`, joined by
/// `/`; the length is `maxLength`.
const ARTIFACT_KEY: &str = concat!(
    r"^(\.\.[^/\u0000-\u001F\u007F-\u009F]+|\.[^./\u0000-\u001F\u007F-\u009F][^/\u0000-\u001F\u007F-\u009F]*|[^./\u0000-\u001F\u007F-\u009F][^/\u0000-\u001F\u007F-\u009F]*)",
    r"(/(\.\.[^/\u0000-\u001F\u007F-\u009F]+|\.[^./\u0000-\u001F\u007F-\u009F][^/\u0000-\u001F\u007F-\u009F]*|[^./\u0000-\u001F\u007F-\u009F][^/\u0000-\u001F\u007F-\u009F]*))*$",
);

/// Host names whose labels start with a letter (a label of digits only would read as
/// an IPv4 number), or a dotted IPv4 address.
macro_rules! host {
    () => {
        r"([A-Za-z][A-Za-z0-9]*(-[A-Za-z0-9]+)*(\.[A-Za-z][A-Za-z0-9]*(-[A-Za-z0-9]+)*)*|((25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\.){3}(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9]))"
    };
}

/// `:1` to `:65535`.
macro_rules! port {
    () => {
        r"(:(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3}))"
    };
}

/// An absolute `http` or `https` URL with a host; what follows the authority is free.
const HTTP_URL: &str = concat!(
    r"^[Hh][Tt][Tt][Pp][Ss]?://",
    host!(),
    port!(),
    r"?([/?#][^\u0000-\u001F\u007F-\u009F]*)?$"
);

/// `host`, `host:port`, or `http(s)://host[:port]`, with at most a `/` after it.
const ENDPOINT: &str = concat!(r"^([Hh][Tt][Tt][Pp][Ss]?://)?", host!(), port!(), r"?/?$");

/// A port as text: digits for 1-65535, possibly zero-padded, with spaces around.
const PORT_TEXT: &str = r"^[ \t\n\r]*0*(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3})[ \t\n\r]*$";

fn text(description: &str) -> Value {
    json!({ "type": "string", "pattern": NO_CONTROL, "description": description })
}

fn required_text(description: &str) -> Value {
    json!({ "type": "string", "minLength": 1, "pattern": NO_CONTROL, "description": description })
}

/// May be left out or sent as `null`.
fn optional(mut schema: Value) -> Value {
    schema["type"] = json!([schema["type"].clone(), "null"]);
    schema
}

fn pattern(pattern: &str, description: &str) -> Value {
    json!({ "type": "string", "pattern": pattern, "description": description })
}

/// `Job`, `S3Descriptor` and `Wifi`, for the document's components.
pub(crate) fn request_schemas() -> Vec<(&'static str, Value)> {
    vec![
        ("Job", job()),
        ("S3Descriptor", s3_descriptor()),
        ("Wifi", wifi()),
    ]
}

fn job() -> Value {
    let mut id = pattern(JOB_ID, "The job's id, also its idempotency key.");
    id["maxLength"] = json!(128);
    let mut hostname = pattern(HOST_NAME, "RFC 1123 host name [default: baseos-<id>].");
    hostname["maxLength"] = json!(253);
    let mut artifact_key = pattern(
        ARTIFACT_KEY,
        "Object key, at most 1024 bytes [default: corebuild/baseos/<id>/<file name>].",
    );
    artifact_key["maxLength"] = json!(1024);
    json!({
        "type": "object",
        "description": "A BaseOS image job (docs/api.md, \"Job fields\"). Unknown fields are ignored.",
        "required": ["id", "architecture", "imageKind", "cloudlyUrl", "provisioningToken", "s3Descriptor"],
        "properties": {
            "id": id,
            "architecture": { "type": "string", "enum": Architecture::names() },
            "imageKind": {
                "type": "string",
                "enum": ImageKind::names(),
                "description": "ubuntu-iso is built for amd64 and arm64 only."
            },
            "ubuntuVersion": optional(pattern(UBUNTU_VERSION, "NN.NN [default: 24.04].")),
            "sourceImageUrl": optional(pattern(HTTP_URL, "The image to start from; required for balena-raw.")),
            "cloudlyUrl": pattern(HTTP_URL, "Where the built host reports to."),
            "provisioningToken": required_text("The built host's join token (secret)."),
            "hostname": optional(hostname),
            "sshUser": optional(pattern(USER_NAME, "POSIX user name [default: baseos].")),
            "sshPublicKey": optional(text("One authorized key; no user is made without one.")),
            "wifi": { "anyOf": [{ "$ref": "#/components/schemas/Wifi" }, { "type": "null" }] },
            "s3Descriptor": { "$ref": "#/components/schemas/S3Descriptor" },
            "artifactKey": optional(artifact_key),
        },
        "examples": [{
            "id": "build-123",
            "architecture": "amd64",
            "imageKind": "ubuntu-iso",
            "cloudlyUrl": "https://cloudly.example.com",
            "provisioningToken": "one-time-baseos-token",
            "hostname": "baseos-build-123",
            "s3Descriptor": {
                "endpoint": "127.0.0.1:9000",
                "useSsl": false,
                "accessKey": "access-key",
                "accessSecret": "secret-key",
                "bucketName": "servezone-artifacts"
            }
        }],
        "allOf": [
            {
                "if": { "properties": { "imageKind": { "const": ImageKind::BalenaRaw.as_str() } } },
                "then": {
                    "required": ["sourceImageUrl"],
                    "properties": { "sourceImageUrl": { "type": "string" } }
                }
            },
            {
                "if": { "properties": { "architecture": { "const": Architecture::Rpi.as_str() } } },
                "then": { "properties": { "imageKind": { "not": { "const": ImageKind::UbuntuIso.as_str() } } } }
            }
        ]
    })
}

fn s3_descriptor() -> Value {
    json!({
        "type": "object",
        "description": "Where the artifact is uploaded (docs/api.md, \"Job fields\"). Unknown fields are ignored.",
        "required": ["endpoint", "accessKey", "accessSecret", "bucketName"],
        "properties": {
            "endpoint": pattern(
                ENDPOINT,
                "host, host:port or http(s)://host[:port]. A port here and the port field must be equal when both are given."
            ),
            "accessKey": required_text("Access key id."),
            "accessSecret": required_text("Secret access key (secret)."),
            "bucketName": pattern(BUCKET, "Bucket, addressed path-style."),
            "port": {
                "anyOf": [
                    { "type": "integer", "minimum": 1, "maximum": 65535 },
                    { "type": "string", "pattern": PORT_TEXT },
                    { "type": "null" }
                ],
                "description": "[default: the endpoint's port, else 443 with TLS and 80 without]"
            },
            "useSsl": {
                "type": ["boolean", "null"],
                "description": "Must agree with a scheme in the endpoint [default: the endpoint's scheme, else true]."
            },
            "region": optional(text("[default: us-east-1]")),
        },
        "allOf": [
            {
                "if": { "properties": { "endpoint": { "type": "string", "pattern": "^[Hh][Tt][Tt][Pp][Ss]://" } }, "required": ["endpoint"] },
                "then": { "properties": { "useSsl": { "not": { "const": false } } } }
            },
            {
                "if": { "properties": { "endpoint": { "type": "string", "pattern": "^[Hh][Tt][Tt][Pp]://" } }, "required": ["endpoint"] },
                "then": { "properties": { "useSsl": { "not": { "const": true } } } }
            }
        ]
    })
}

fn wifi() -> Value {
    json!({
        "type": "object",
        "description": "A WiFi network for the built host. Unknown fields are ignored.",
        "required": ["ssid"],
        "properties": {
            "ssid": {
                "type": "string", "minLength": 1, "maxLength": 32, "pattern": NO_CONTROL,
                "description": "1 to 32 bytes."
            },
            "password": {
                "type": ["string", "null"],
                "pattern": r"^([^\u0000-\u001F\u007F-\u009F]{8,64})?$",
                "description": "WPA passphrase of 8 to 64 bytes (secret); empty or null for an open network."
            }
        }
    })
}

#[cfg(test)]
mod tests {
    //! The schema and the parser, held to the same values: every job here is accepted
    //! by both or refused by both.
    use serde_json::{Value, json};

    use super::*;
    use crate::domain::parse_job;

    fn validator() -> jsonschema::Validator {
        let mut schemas = serde_json::Map::new();
        for (name, schema) in request_schemas() {
            schemas.insert(name.to_owned(), schema);
        }
        let root = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "components": { "schemas": schemas },
            "$ref": "#/components/schemas/Job",
        });
        jsonschema::validator_for(&root).unwrap()
    }

    fn base() -> Value {
        json!({
            "id": "build-1", "architecture": "amd64", "imageKind": "ubuntu-iso",
            "cloudlyUrl": "https://cloudly.example.com", "provisioningToken": "t",
            "s3Descriptor": {"endpoint": "s3.example.com", "accessKey": "k",
                "accessSecret": "s", "bucketName": "b"}
        })
    }

    fn with(pointer: &str, value: Value) -> Value {
        let mut job = base();
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        let target = if parent.is_empty() {
            &mut job
        } else {
            job.pointer_mut(parent).unwrap()
        };
        target[key] = value;
        job
    }

    #[test]
    fn the_schema_and_the_parser_agree() {
        let cases: Vec<(&str, Value)> = vec![
            ("/id", json!("a")),
            ("/id", json!("A.b_c-9")),
            ("/id", json!("a".repeat(128))),
            ("/id", json!("a".repeat(129))),
            ("/id", json!("-a")),
            ("/id", json!("a/b")),
            ("/id", json!("")),
            ("/id", Value::Null),
            ("/id", json!(7)),
            ("/architecture", json!("rpi")),
            ("/architecture", json!("x86")),
            ("/imageKind", json!("balena-raw")),
            ("/imageKind", json!("iso")),
            ("/ubuntuVersion", json!("22.04")),
            ("/ubuntuVersion", json!("22.4")),
            ("/ubuntuVersion", Value::Null),
            ("/cloudlyUrl", json!("http://a")),
            ("/cloudlyUrl", json!("HTTPS://a-b.c:8080/path?q=1#f")),
            ("/cloudlyUrl", json!("http://127.0.0.1:3000/x")),
            ("/cloudlyUrl", json!("ftp://a")),
            ("/cloudlyUrl", json!("http://")),
            ("/cloudlyUrl", json!("cloudly.example.com")),
            ("/provisioningToken", json!("")),
            ("/provisioningToken", json!("tok\nen")),
            ("/provisioningToken", json!("tok\u{85}en")),
            ("/provisioningToken", json!(" spaced token é ")),
            ("/hostname", json!("edge-7.example")),
            ("/hostname", json!("-edge")),
            ("/hostname", json!("")),
            ("/hostname", json!(format!("{}.b", "a".repeat(63)))),
            ("/hostname", json!(format!("{}.b", "a".repeat(64)))),
            ("/sshUser", json!("_ops-1")),
            ("/sshUser", json!("Ops")),
            ("/sshUser", json!("a".repeat(33))),
            ("/sshPublicKey", json!("   ")),
            ("/sshPublicKey", json!("ssh-ed25519 AAAA x@y")),
            ("/sshPublicKey", json!("a\nb")),
            ("/wifi", json!({"ssid": "office"})),
            ("/wifi", json!({"ssid": "office", "password": ""})),
            ("/wifi", json!({"ssid": "office", "password": "1234567"})),
            ("/wifi", json!({"ssid": "office", "password": "12345678"})),
            (
                "/wifi",
                json!({"ssid": "office", "password": "a".repeat(65)}),
            ),
            ("/wifi", json!({"ssid": "a".repeat(33)})),
            ("/wifi", json!({"ssid": ""})),
            ("/wifi", json!({})),
            ("/wifi", Value::Null),
            ("/s3Descriptor", Value::Null),
            ("/s3Descriptor/endpoint", json!("127.0.0.1:9000")),
            ("/s3Descriptor/endpoint", json!("https://s3.example.com/")),
            ("/s3Descriptor/endpoint", json!("s3.example.com/bucket")),
            ("/s3Descriptor/endpoint", json!("ftp://s3.example.com")),
            ("/s3Descriptor/endpoint", json!("s3.example.com:0")),
            ("/s3Descriptor/endpoint", json!("s3.example.com:65536")),
            ("/s3Descriptor/endpoint", json!("")),
            ("/s3Descriptor/port", json!(9000)),
            ("/s3Descriptor/port", json!(289.0)),
            ("/s3Descriptor/port", json!(289.5)),
            ("/s3Descriptor/port", json!(" 0080 ")),
            ("/s3Descriptor/port", json!(0)),
            ("/s3Descriptor/port", json!("0")),
            ("/s3Descriptor/port", json!(65536)),
            ("/s3Descriptor/port", json!("x")),
            ("/s3Descriptor/useSsl", json!(false)),
            ("/s3Descriptor/useSsl", json!("yes")),
            ("/s3Descriptor/bucketName", json!("my.bucket_1-a")),
            ("/s3Descriptor/bucketName", json!("my bucket")),
            ("/s3Descriptor/bucketName", json!("")),
            ("/s3Descriptor/accessKey", json!("")),
            ("/s3Descriptor/region", json!("eu-central-1")),
            ("/s3Descriptor/region", json!("eu\tcentral")),
            ("/artifactKey", json!("a/b.iso")),
            ("/artifactKey", json!("...")),
            ("/artifactKey", json!(".hidden/..x")),
            ("/artifactKey", json!("/a")),
            ("/artifactKey", json!("a//b")),
            ("/artifactKey", json!("a/./b")),
            ("/artifactKey", json!("a/..")),
            ("/artifactKey", json!("a".repeat(1025))),
            ("/unknown", json!({"ignored": true})),
        ];
        let validator = validator();
        let mut disagreements = Vec::new();
        let mut check = |label: String, job: Value| {
            let by_schema = validator.is_valid(&job);
            let by_parser = parse_job(job.clone());
            if by_schema != by_parser.is_ok() {
                disagreements.push(format!("{label}: schema {by_schema}, parser {by_parser:?}"));
            }
        };
        for (pointer, value) in cases {
            check(format!("{pointer} = {value}"), with(pointer, value));
        }
        // Rules between fields.
        let mut balena = with("/imageKind", json!("balena-raw"));
        check("balena-raw without a source".into(), balena.clone());
        balena["sourceImageUrl"] = json!("https://images.example.com/x.img");
        check("balena-raw with a source".into(), balena);
        let rpi = with("/architecture", json!("rpi"));
        check("ubuntu-iso for rpi".into(), rpi);
        for (endpoint, use_ssl) in [
            ("https://s3.example.com", json!(false)),
            ("http://s3.example.com", json!(true)),
            ("HTTP://s3.example.com", json!(false)),
            ("s3.example.com", json!(false)),
        ] {
            let mut job = with("/s3Descriptor/endpoint", json!(endpoint));
            job["s3Descriptor"]["useSsl"] = use_ssl.clone();
            check(format!("{endpoint} with useSsl {use_ssl}"), job);
        }
        assert!(disagreements.is_empty(), "{disagreements:#?}");
    }
}
