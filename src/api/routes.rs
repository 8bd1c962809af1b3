//! Which methods each path answers, read from the OpenAPI document so that the `Allow`
//! header of a 405 can never disagree with the routes the document declares.

use std::sync::OnceLock;

use utoipa::OpenApi;

use super::openapi::ApiDoc;

/// A route: its path template split into segments (`{id}` matches any one segment),
/// and its methods in upper case.
struct Route {
    segments: Vec<String>,
    methods: Vec<String>,
}

fn routes() -> &'static [Route] {
    static ROUTES: OnceLock<Vec<Route>> = OnceLock::new();
    ROUTES.get_or_init(|| {
        let doc = serde_json::to_value(ApiDoc::openapi()).expect("the document serializes");
        let paths = doc["paths"].as_object().cloned().unwrap_or_default();
        paths
            .into_iter()
            .map(|(path, item)| Route {
                segments: path.split('/').map(str::to_owned).collect(),
                methods: item
                    .as_object()
                    .map(|ops| ops.keys().map(|m| m.to_ascii_uppercase()).collect())
                    .unwrap_or_default(),
            })
            .collect()
    })
}

/// The methods a path answers; empty for a path no route has. As in OpenAPI, a
/// concrete path wins over a template that also matches it
/// (`/corebuild/v1/jobs/baseos-image` is the submission, not a job's status).
pub(crate) fn methods_of(path: &str) -> Vec<&'static str> {
    let segments: Vec<&str> = path.split('/').collect();
    let matches = |route: &&Route, templates: bool| {
        route.segments.len() == segments.len()
            && route
                .segments
                .iter()
                .zip(&segments)
                .all(|(t, s)| t == s || (templates && t.starts_with('{') && !s.is_empty()))
    };
    let route = routes()
        .iter()
        .find(|r| matches(r, false))
        .or_else(|| routes().iter().find(|r| matches(r, true)));
    let mut methods: Vec<&'static str> = route
        .map(|r| r.methods.iter().map(String::as_str).collect())
        .unwrap_or_default();
    methods.sort_unstable();
    methods
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_paths_list_their_methods() {
        assert_eq!(methods_of("/health"), ["GET"]);
        assert_eq!(methods_of("/corebuild/v1/jobs/baseos-image"), ["POST"]);
        assert_eq!(methods_of("/corebuild/v1/jobs/abc"), ["DELETE", "GET"]);
        assert_eq!(methods_of("/corebuild/v1/jobs/abc/logs"), ["GET"]);
        assert!(methods_of("/nope").is_empty());
        assert!(methods_of("/corebuild/v1/jobs//logs").is_empty());
    }
}
