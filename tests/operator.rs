//! The scheduler configuration through a real dev agent's API: read, change, check-and-set,
//! bad input refused, and the change surviving a restart.

mod common;

use common::{http, Agent, TempDir};
use serde_json::{json, Value};

fn put(agent: &Agent, path: &str, body: &Value) -> (u16, Value) {
    let (status, bytes) = http(agent.http_port, "PUT", path, Some(body.to_string().as_bytes())).unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

#[test]
fn scheduler_configuration_is_read_changed_and_kept() {
    let dir = TempDir::new("operator");
    let mut agent = Agent::dev(dir.path());
    let path = "/v1/operator/scheduler/configuration";
    let initial = agent.get(path);
    let config = &initial["SchedulerConfig"];
    assert_eq!(config["SchedulerAlgorithm"], "binpack");
    assert_eq!(config["PreemptionConfig"]["SystemSchedulerEnabled"], true, "Nomad's default");
    assert_eq!(config["PreemptionConfig"]["ServiceSchedulerEnabled"], false);

    let mut spread = config.clone();
    spread["SchedulerAlgorithm"] = json!("spread");
    let (status, answer) = put(&agent, path, &spread);
    assert_eq!((status, &answer["Updated"]), (200, &json!(true)), "{answer}");
    let changed = agent.get(path);
    assert_eq!(changed["SchedulerConfig"]["SchedulerAlgorithm"], "spread");
    let modify_index = changed["SchedulerConfig"]["ModifyIndex"].as_u64().unwrap();
    assert!(modify_index > 0);

    let stale = format!("{path}?cas={}", modify_index - 1);
    let (status, answer) = put(&agent, &stale, &config.clone());
    assert_eq!((status, &answer["Updated"]), (200, &json!(false)), "a stale check-and-set changes nothing");
    assert_eq!(agent.get(path)["SchedulerConfig"]["SchedulerAlgorithm"], "spread");

    let (status, bytes) = http(agent.http_port, "PUT", path, Some(br#"{"SchedulerAlgorithm": "random"}"#)).unwrap();
    let message = String::from_utf8_lossy(&bytes);
    assert_eq!(status, 400, "{message}");
    assert!(message.contains("SchedulerAlgorithm") && message.contains("binpack"), "{message}");

    assert!(agent.stop().success());
    agent.restart(&["-dev"]);
    agent.wait_ready();
    assert_eq!(agent.get(path)["SchedulerConfig"]["SchedulerAlgorithm"], "spread", "kept across a restart");

    // The same through the CLI, Nomad's way.
    let out = agent.cli_ok(&[
        "operator",
        "scheduler",
        "set-config",
        "-scheduler-algorithm=binpack",
        "-preempt-service-scheduler=true",
    ]);
    assert!(out.contains("Scheduler configuration updated!"), "{out}");
    let shown = agent.cli_ok(&["operator", "scheduler", "get-config"]);
    let line = |name: &str| shown.lines().find(|l| l.starts_with(name)).unwrap_or_default().to_string();
    assert!(line("Scheduler Algorithm").ends_with("= binpack"), "{shown}");
    assert!(line("Preemption Service Scheduler").ends_with("= true"), "{shown}");
    assert!(line("Preemption System Scheduler").ends_with("= true"), "others stay as they were: {shown}");
    let stale = agent.cli(&["operator", "scheduler", "set-config", "-scheduler-algorithm=spread", "-check-index=1"]);
    assert_eq!(stale.status.code(), Some(1), "a stale -check-index fails");
    assert_eq!(agent.get(path)["SchedulerConfig"]["SchedulerAlgorithm"], "binpack");
}

#[test]
fn snapshots_save_restore_and_refuse_damaged_files() {
    let dir = TempDir::new("snapshot");
    let agent = Agent::dev(dir.path());
    let job = |id: &str| {
        format!("job \"{id}\" {{\n type = \"batch\"\n group \"g\" {{\n task \"t\" {{\n driver = \"raw_exec\"\n config {{\n command = \"/bin/true\"\n }}\n }}\n }}\n}}\n")
    };
    agent.cli_ok(&["job", "run", "-detach", &common::job_file(dir.path(), "kept.hcl", &job("kept"))]);
    let file = dir.path().join("backup.snap");
    let file = file.to_str().unwrap();
    let out = agent.cli_ok(&["operator", "snapshot", "save", file]);
    assert!(out.contains("State file written to"), "{out}");
    let inspected = agent.cli_ok(&["operator", "snapshot", "inspect", file]);
    assert!(inspected.contains("Index") && inspected.contains("SHA-256"), "{inspected}");

    agent.cli_ok(&["job", "run", "-detach", &common::job_file(dir.path(), "later.hcl", &job("later"))]);
    let truncated = dir.path().join("truncated.snap");
    let bytes = std::fs::read(file).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() - 10]).unwrap();
    let refused = agent.cli(&["operator", "snapshot", "restore", truncated.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1), "{err}");
    assert!(err.contains("truncated"), "{err}");
    let (status, body) =
        http(agent.http_port, "PUT", "/v1/operator/snapshot", Some(&bytes[..bytes.len() - 10])).unwrap();
    assert_eq!(status, 400, "the server checks too: {}", String::from_utf8_lossy(&body));
    assert_eq!(agent.get("/v1/job/later")["ID"], "later", "a refused restore changes nothing");

    assert!(agent.cli_ok(&["operator", "snapshot", "restore", file]).contains("Snapshot Restored"));
    assert_eq!(agent.get("/v1/job/kept")["ID"], "kept");
    let (status, _) = agent.try_get("/v1/job/later").unwrap();
    assert_eq!(status, 404, "the job registered after the backup is gone");
}
