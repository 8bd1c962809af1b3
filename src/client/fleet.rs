//! The fleet view and a worker's pause, as text for a terminal.

use serde_json::Value;

use super::human::{ago, table};

/// `corebuild workers`: one row per live worker.
pub(super) fn workers(list: &Value) -> String {
    let join = |list: &Value| {
        list.as_array()
            .map(|items| {
                items
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .unwrap_or_default()
    };
    let rows: Vec<Vec<String>> = list["workers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|w| {
            let state = match (w["state"].as_str(), w["paused"]["reason"].as_str()) {
                (Some("paused"), Some(reason)) => format!("paused ({reason})"),
                (state, _) => state.unwrap_or("?").to_owned(),
            };
            vec![
                w["workerId"].as_str().unwrap_or("?").to_owned(),
                state,
                format!("{} {}", join(&w["architectures"]), join(&w["imageKinds"])),
                format!("{}/{}", w["busy"], w["executors"]),
                join(&w["jobs"]),
                w["url"].as_str().unwrap_or("-").to_owned(),
                w["lastSeenAt"].as_u64().map_or_else(|| "?".to_owned(), ago),
            ]
        })
        .collect();
    table(
        &["WORKER", "STATE", "BUILDS", "BUSY", "JOBS", "URL", "SEEN"],
        &rows,
    )
}

/// `corebuild pause` and `resume`: the worker's state after the call.
pub(super) fn worker(answer: &Value) -> String {
    let w = &answer["worker"];
    let id = w["workerId"].as_str().unwrap_or("?");
    match (w["state"].as_str(), w["paused"]["reason"].as_str()) {
        (Some("paused"), Some(reason)) => format!(
            "{id} is paused ({reason}): its {} running job(s) finish, nothing new starts",
            w["busy"]
        ),
        (Some(state), _) => format!("{id} is {state}"),
        (None, _) => format!("{id}: no state in the answer"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_paused_worker_shows_its_reason_and_every_worker_its_classes() {
        let list = serde_json::json!({"workers": [
            {"workerId": "a", "state": "active", "architectures": ["amd64"], "imageKinds": ["ubuntu-iso"],
             "busy": 1, "executors": 2, "jobs": ["j1"], "url": "http://a:3060", "lastSeenAt": 0},
            {"workerId": "b", "state": "paused", "paused": {"reason": "kernel update", "since": 0},
             "architectures": ["arm64", "rpi"], "imageKinds": ["balena-raw"], "busy": 0, "executors": 1,
             "jobs": [], "lastSeenAt": 0}
        ]});
        let text = workers(&list);
        assert!(text.lines().next().unwrap().starts_with("WORKER"), "{text}");
        assert!(
            text.contains("amd64 ubuntu-iso") && text.contains("1/2") && text.contains("j1"),
            "{text}"
        );
        assert!(
            text.contains("paused (kernel update)") && text.contains("arm64,rpi balena-raw"),
            "{text}"
        );
        let answer = serde_json::json!({"worker": list["workers"][1]});
        assert!(worker(&answer).starts_with("b is paused (kernel update)"));
    }
}
