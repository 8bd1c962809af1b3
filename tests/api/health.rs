use serde_json::{Value, json};

use crate::support::helpers::spawn_app;

#[tokio::test]
async fn health_answers_ok_without_a_token() {
    let app = crate::support::helpers::spawn_app_with(&["--token", "s3cret"]).await;
    let response = app.get("/health").await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/json",
        "health is JSON"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body, json!({ "ok": true }));
}

#[tokio::test]
async fn unknown_routes_answer_in_the_error_shape() {
    let app = spawn_app().await;
    let response = app.get("/corebuild/v1/nothing-here").await;
    assert_eq!(response.status(), 404);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["success"], false);
    assert_eq!(body["code"], "not_found");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("/corebuild/v1/nothing-here")
    );
}
