//! Job files through the API: `rove job run -output` produces a body `PUT /v1/jobs` takes,
//! the job read back equals what was submitted, and `/v1/validate/job` and
//! `/v1/jobs/parse` explain mistakes without changing anything.

mod common;

use common::{http, Agent, TempDir};
use serde_json::Value;

/// Removes what the servers set on a registered job (status, indexes, version, time).
fn spec(mut job: Value) -> Value {
    for field in
        ["Status", "StatusDescription", "Version", "SubmitTime", "CreateIndex", "ModifyIndex", "JobModifyIndex", "Stop"]
    {
        job.as_object_mut().unwrap().remove(field);
    }
    job
}

#[test]
fn output_json_registers_and_reads_back_unchanged() {
    let dir = TempDir::new("jobspec-api");
    let agent = Agent::dev(dir.path());
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/jobspecs/service-full.nomad.hcl");
    let body = agent.cli_ok(&["job", "run", "-output", "-var", "version=2.0.0", file]);
    let submitted: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(submitted["Job"]["TaskGroups"][0]["Services"][0]["Tags"][0], "shop-2.0.0", "-var applies");
    let (status, answer) = http(agent.http_port, "PUT", "/v1/jobs", Some(body.as_bytes())).unwrap();
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
    let read_back = agent.get("/v1/job/shop");
    assert_eq!(spec(read_back), spec(submitted["Job"].clone()));
}

#[test]
fn validate_and_parse_endpoints_explain_mistakes() {
    let dir = TempDir::new("jobspec-validate");
    let agent = Agent::dev(dir.path());
    let bad = serde_json::json!({ "Job": { "ID": "v", "Priority": 900, "TaskGroups": [{ "Name": "g", "Tasks": [{ "Name": "t", "Driver": "exec" }] }] } });
    let (status, body) = http(agent.http_port, "PUT", "/v1/validate/job", Some(bad.to_string().as_bytes())).unwrap();
    assert_eq!(status, 200);
    let answer: Value = serde_json::from_slice(&body).unwrap();
    let errors: Vec<&str> =
        answer["ValidationErrors"].as_array().unwrap().iter().map(|e| e.as_str().unwrap()).collect();
    assert!(errors.iter().any(|e| e.contains("priority must be between 1 and 100, got 900")), "{errors:?}");
    assert!(errors.iter().any(|e| e.contains("missing required field \"command\"")), "{errors:?}");
    assert!(agent.get("/v1/jobs").as_array().unwrap().is_empty(), "validation registers nothing");

    let hcl = serde_json::json!({ "JobHCL": "job \"p\" {\n  group \"g\" {\n    task \"t\" {\n      drvier = \"exec\"\n    }\n  }\n}" });
    let (status, body) = http(agent.http_port, "POST", "/v1/jobs/parse", Some(hcl.to_string().as_bytes())).unwrap();
    assert_eq!(status, 400);
    assert!(
        String::from_utf8_lossy(&body).contains("did you mean \\\"driver\\\"?"),
        "{}",
        String::from_utf8_lossy(&body)
    );

    let out =
        agent.cli(&["job", "validate", concat!(env!("CARGO_MANIFEST_DIR"), "/tests/jobspecs/parameterized.nomad.hcl")]);
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "Job validation successful\n");
}
