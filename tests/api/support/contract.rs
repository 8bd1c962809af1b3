//! A checking proxy in front of every test worker: each JSON answer the tests get is
//! validated against the schema the worker's own OpenAPI document gives for its route
//! and status, and each JSON request body against the operation's request schema: a
//! body the worker took must be valid by the document, and a body it refused as
//! invalid must be invalid by it. A test that breaks the document fails when its app
//! is dropped.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

type Body = BoxBody<Bytes, std::io::Error>;

pub struct ContractProxy {
    pub address: SocketAddr,
    pub violations: Arc<Mutex<Vec<String>>>,
    stop: CancellationToken,
}

impl Drop for ContractProxy {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

pub async fn start(upstream: SocketAddr) -> ContractProxy {
    let doc = Arc::new(serde_json::to_value(corebuild::api::openapi::document(true)).unwrap());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let violations = Arc::new(Mutex::new(Vec::new()));
    let stop = CancellationToken::new();
    let client = reqwest::Client::new();
    let accept_violations = Arc::clone(&violations);
    let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
        let (doc, violations, client) = (
            Arc::clone(&doc),
            Arc::clone(&accept_violations),
            client.clone(),
        );
        async move { Ok::<_, Infallible>(forward(req, upstream, &client, &doc, &violations).await) }
    });
    crate::support::serve::serve(listener, stop.clone(), service);
    ContractProxy {
        address,
        violations,
        stop,
    }
}

async fn forward(
    req: hyper::Request<Incoming>,
    upstream: SocketAddr,
    client: &reqwest::Client,
    doc: &Value,
    violations: &Mutex<Vec<String>>,
) -> hyper::Response<Body> {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let target = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut headers = parts.headers.clone();
    headers.remove(hyper::header::HOST);
    let sent = client
        .request(parts.method.clone(), format!("http://{upstream}{target}"))
        .headers(headers)
        .body(body.clone())
        .send()
        .await;
    let response = match sent {
        Ok(response) => response,
        Err(err) => {
            return hyper::Response::builder()
                .status(502)
                .body(full(Bytes::from(format!("proxy: {err}"))))
                .unwrap();
        }
    };
    let status = response.status();
    let mut builder = hyper::Response::builder().status(status.as_u16());
    for (name, value) in response.headers() {
        if name != hyper::header::CONTENT_LENGTH && name != hyper::header::TRANSFER_ENCODING {
            builder = builder.header(name, value);
        }
    }
    let is_json = response
        .headers()
        .get(hyper::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !is_json {
        // Event streams and text pass through as they come.
        let stream = futures::StreamExt::map(response.bytes_stream(), |chunk| {
            chunk.map(Frame::data).map_err(std::io::Error::other)
        });
        return builder.body(BoxBody::new(StreamBody::new(stream))).unwrap();
    }
    let bytes = response.bytes().await.unwrap_or_default();
    let (method, path) = (parts.method.as_str(), parts.uri.path());
    let checked = check(doc, method, path, status.as_u16(), &bytes)
        .and_then(|()| check_request(doc, method, path, status.as_u16(), &bytes, &body));
    if let Err(problem) = checked {
        violations.lock().unwrap().push(problem);
    }
    builder.body(full(bytes)).unwrap()
}

fn full(bytes: Bytes) -> Body {
    BoxBody::new(Full::new(bytes).map_err(|never: Infallible| match never {}))
}

/// The documented route for a concrete path: an exact match first, then a template.
fn route<'a>(doc: &'a Value, path: &str) -> Option<&'a str> {
    let paths = doc["paths"].as_object()?;
    if paths.contains_key(path) {
        return paths.keys().find(|k| *k == path).map(String::as_str);
    }
    let segments: Vec<&str> = path.split('/').collect();
    paths.keys().map(String::as_str).find(|template| {
        let parts: Vec<&str> = template.split('/').collect();
        parts.len() == segments.len()
            && parts
                .iter()
                .zip(&segments)
                .all(|(t, s)| t.starts_with('{') || t == s)
    })
}

/// Holds a request body to the operation's request schema, by what the worker made of
/// it: taken (any answer but 400, 401, 413 and 415) means valid, refused as an invalid
/// request means invalid. The one rule the schema cannot say (a port in the endpoint
/// and the port field must be equal) is left out.
pub fn check_request(
    doc: &Value,
    method: &str,
    path: &str,
    status: u16,
    answer: &[u8],
    request: &[u8],
) -> Result<(), String> {
    let Some(template) = route(doc, path) else {
        return Ok(());
    };
    let operation = &doc["paths"][template][method.to_ascii_lowercase()];
    let schema = &operation["requestBody"]["content"]["application/json"]["schema"];
    let Ok(body) = serde_json::from_slice::<Value>(request) else {
        return Ok(()); // not JSON at all: nothing for a schema to say
    };
    if schema.is_null() || matches!(status, 401 | 413 | 415) {
        return Ok(());
    }
    let answer: Value = serde_json::from_slice(answer).unwrap_or(Value::Null);
    let message = answer["error"].as_str().unwrap_or("");
    if message.contains("differs from the port in the endpoint") {
        return Ok(());
    }
    let valid = validator(doc, schema)?.is_valid(&body);
    match (status, valid) {
        (400, true) => Err(format!(
            "{method} {path}: the worker refused a body the document allows ({message}): {body}"
        )),
        (400, false) => Ok(()),
        (_, false) => Err(format!(
            "{method} {path}: the worker took ({status}) a body the document forbids: {body}"
        )),
        (_, true) => Ok(()),
    }
}

fn validator(doc: &Value, schema: &Value) -> Result<jsonschema::Validator, String> {
    let root = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "components": doc["components"],
        "allOf": [schema],
    });
    jsonschema::validator_for(&root).map_err(|e| e.to_string())
}

/// Checks one answer against the document; an undocumented status is a violation too.
pub fn check(
    doc: &Value,
    method: &str,
    path: &str,
    status: u16,
    bytes: &[u8],
) -> Result<(), String> {
    let Some(template) = route(doc, path) else {
        return Ok(()); // an unknown route: its 404 has no operation to be held to
    };
    let method = method.to_ascii_lowercase();
    let operation = &doc["paths"][template][&method];
    if operation.is_null() {
        return Ok(());
    }
    let schema =
        &operation["responses"][status.to_string()]["content"]["application/json"]["schema"];
    if schema.is_null() {
        return Err(format!(
            "{method} {template} answered {status}, which the document does not list"
        ));
    }
    let body: Value =
        serde_json::from_slice(bytes).map_err(|e| format!("{method} {path}: not JSON: {e}"))?;
    let errors: Vec<String> = validator(doc, schema)?
        .iter_errors(&body)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(format!("{method} {path} {status}: {errors:?}"))
    }
}
