//! End-to-end tests of the spine: a real dev agent (server and client in one process) runs
//! batch and service jobs through Raft, the scheduler, the client and the exec, raw_exec
//! and docker drivers; the CLI and HTTP API report what happened.

mod common;

use common::{docker_test_image, job_file, process_running, wait_until, Agent, TempDir};
use serde_json::Value;
use std::process::Command;
use std::time::Duration;

fn batch_job(id: &str, script: &str, extra_group: &str) -> String {
    format!(
        r#"
job "{id}" {{
  type = "batch"
  group "work" {{
    {extra_group}
    task "main" {{
      driver = "raw_exec"
      config {{
        command = "/bin/sh"
        args    = ["-c", "{script}"]
      }}
      resources {{
        cpu    = 50
        memory = 32
      }}
    }}
  }}
}}
"#
    )
}

fn service_job(id: &str, count: u32, marker: &str) -> String {
    format!(
        r#"
job "{id}" {{
  group "web" {{
    count = {count}
    task "server" {{
      driver = "exec"
      config {{
        command = "/bin/sh"
        args    = ["-c", "echo started {marker} $NOMAD_ALLOC_INDEX as $(id -u); sleep 1000; echo done {marker}"]
      }}
      resources {{
        cpu    = 50
        memory = 32
      }}
    }}
  }}
}}
"#
    )
}

fn statuses(allocs: &[Value]) -> Vec<String> {
    allocs.iter().map(|a| a["ClientStatus"].as_str().unwrap_or_default().to_string()).collect()
}

fn running(allocs: &[Value]) -> usize {
    allocs.iter().filter(|a| a["ClientStatus"] == "running" && a["DesiredStatus"] == "run").count()
}

#[test]
fn batch_job_runs_to_completion_with_its_output_and_exit_code() {
    let dir = TempDir::new("batch");
    let agent = Agent::dev(dir.path());
    let ok = job_file(dir.path(), "ok.hcl", &batch_job("ok", "echo batch-output; echo oops >&2", ""));
    let out = agent.cli_ok(&["job", "run", &ok]);
    assert!(out.contains("==> "), "monitor output expected, got {out}");
    assert!(out.contains("Monitoring evaluation"), "{out}");
    assert!(out.contains("finished with status \"complete\""), "{out}");
    let allocs = agent.wait_allocs("ok", "batch alloc to complete", |a| statuses(a) == ["complete"]);
    let alloc_id = allocs[0]["ID"].as_str().unwrap();
    let logs = agent.cli_ok(&["alloc", "logs", &alloc_id[..8]]);
    assert_eq!(logs, "batch-output\n");
    let stderr = agent.cli_ok(&["alloc", "logs", "-stderr", &alloc_id[..8]]);
    assert_eq!(stderr, "oops\n");
    let status = agent.cli_ok(&["job", "status", "ok"]);
    assert!(status.contains("Status        = dead"), "{status}");

    // A batch task exiting non-zero with no restarts left fails, and reports its exit code.
    let restart =
        "restart {\n attempts = 0\n mode = \"fail\"\n }\n reschedule {\n attempts = 0\n unlimited = false\n }";
    let bad = job_file(dir.path(), "bad.hcl", &batch_job("bad", "exit 3", restart));
    agent.cli_ok(&["job", "run", &bad]);
    let allocs = agent.wait_allocs("bad", "batch alloc to fail", |a| statuses(a) == ["failed"]);
    let alloc = agent.get(&format!("/v1/allocation/{}", allocs[0]["ID"].as_str().unwrap()));
    let events = alloc["TaskStates"]["main"]["Events"].as_array().unwrap();
    assert!(events.iter().any(|e| e["Type"] == "Terminated" && e["ExitCode"] == 3), "{events:?}");
    assert!(events.iter().any(|e| e["Type"] == "Not Restarting"), "{events:?}");
}

#[test]
fn service_job_keeps_running_as_nobody_scales_and_stops() {
    let dir = TempDir::new("service");
    let agent = Agent::dev(dir.path());
    let marker = format!("svc-{}", std::process::id());
    let file = job_file(dir.path(), "web.hcl", &service_job("web", 1, &marker));
    let out = agent.cli_ok(&["job", "run", &file]);
    assert!(out.contains("Allocation \""), "{out}");
    agent.wait_allocs("web", "service alloc to run", |a| running(a) == 1);
    std::thread::sleep(Duration::from_secs(2));
    let allocs = agent.allocs("web");
    assert_eq!(running(&allocs), 1, "service must keep running: {allocs:?}");
    let alloc_id = allocs[0]["ID"].as_str().unwrap().to_string();
    let logs = wait_until(Duration::from_secs(10), "task output", || {
        let logs = agent.cli_ok(&["alloc", "logs", &alloc_id[..8], "server"]);
        (!logs.is_empty()).then_some(logs)
    });
    assert_eq!(logs, format!("started {marker} 0 as 65534\n"), "exec runs the task as nobody");
    assert!(process_running(&marker));

    let status = agent.cli_ok(&["job", "status", "web"]);
    assert!(status.contains("Status        = running"), "{status}");
    assert!(status.contains("Task Group"), "{status}");
    assert!(status.contains(&alloc_id[..8]), "{status}");
    let alloc_status = agent.cli_ok(&["alloc", "status", &alloc_id[..8]]);
    assert!(alloc_status.contains("Task \"server\" is \"running\""), "{alloc_status}");

    // Scale up to 3: the first allocation stays, two are added.
    let file = job_file(dir.path(), "web.hcl", &service_job("web", 3, &marker));
    agent.cli_ok(&["job", "run", &file]);
    let allocs = agent.wait_allocs("web", "three running allocs", |a| running(a) == 3);
    assert!(allocs.iter().any(|a| a["ID"] == alloc_id.as_str()), "scaling up must keep the existing alloc");
    let mut names: Vec<&str> = allocs.iter().map(|a| a["Name"].as_str().unwrap()).collect();
    names.sort();
    assert_eq!(names, ["web.web[0]", "web.web[1]", "web.web[2]"]);

    // Scale down to 1: the highest indexes stop.
    let file = job_file(dir.path(), "web.hcl", &service_job("web", 1, &marker));
    agent.cli_ok(&["job", "run", &file]);
    let allocs = agent.wait_allocs("web", "one running alloc", |a| {
        running(a) == 1 && a.iter().filter(|x| x["ClientStatus"] == "complete").count() == 2
    });
    let survivor = allocs.iter().find(|a| a["DesiredStatus"] == "run").unwrap();
    assert_eq!(survivor["Name"], "web.web[0]");

    // Stop: every allocation ends and the processes are gone.
    let out = agent.cli_ok(&["job", "stop", "web"]);
    assert!(out.contains("Monitoring evaluation"), "{out}");
    agent.wait_allocs("web", "all allocs stopped", |a| {
        running(a) == 0 && a.iter().all(|x| x["ClientStatus"] == "complete")
    });
    wait_until(Duration::from_secs(15), "task processes to exit", || (!process_running(&marker)).then_some(()));
    let job = agent.get("/v1/job/web");
    assert_eq!(job["Stop"], true);
    assert_eq!(job["Status"], "dead");
}

#[test]
fn failing_task_is_restarted_by_policy_then_rescheduled_once_then_fails() {
    let dir = TempDir::new("failing");
    let agent = Agent::dev(dir.path());
    let restart = "restart {\n attempts = 2\n interval = \"1m\"\n delay = \"200ms\"\n mode = \"fail\"\n }\n \
                   reschedule {\n attempts = 1\n interval = \"1h\"\n delay = \"2s\"\n unlimited = false\n }";
    let hcl = batch_job("flaky", "echo attempt; exit 1", restart).replace("type = \"batch\"", "type = \"service\"");
    let file = job_file(dir.path(), "flaky.hcl", &hcl);
    agent.cli_ok(&["job", "run", &file]);
    // The first allocation is the one created first; its replacement may already exist by
    // the time a poll sees it failed.
    let first_of = |allocs: &[Value]| allocs.iter().min_by_key(|a| a["CreateIndex"].as_u64()).cloned();
    let allocs = agent.wait_allocs("flaky", "the first alloc to fail", |a| {
        first_of(a).is_some_and(|first| first["ClientStatus"] == "failed")
    });
    let first = first_of(&allocs).unwrap();
    let alloc_id = first["ID"].as_str().unwrap();
    let alloc = agent.get(&format!("/v1/allocation/{alloc_id}"));
    let task = &alloc["TaskStates"]["main"];
    assert_eq!(task["Restarts"], 2);
    assert_eq!(task["State"], "dead");
    assert_eq!(task["Failed"], true);
    let logs = agent.cli_ok(&["alloc", "logs", alloc_id]);
    assert_eq!(logs, "attempt\nattempt\nattempt\n", "three runs: the first and two restarts");
    // The reschedule policy replaces the failed allocation once, after its delay, with the
    // history linked both ways; the replacement fails too and the attempts are used up.
    let allocs = agent.wait_allocs("flaky", "a replacement to fail", |a| statuses(a) == ["failed", "failed"]);
    let second = allocs.iter().find(|a| a["ID"] != alloc_id).unwrap()["ID"].as_str().unwrap().to_string();
    let replacement = agent.get(&format!("/v1/allocation/{second}"));
    assert_eq!(replacement["PreviousAllocation"], alloc_id);
    assert_eq!(replacement["RescheduleTracker"]["Events"][0]["PrevAllocID"], alloc_id);
    assert_eq!(replacement["Name"], "flaky.work[0]");
    let original = agent.get(&format!("/v1/allocation/{alloc_id}"));
    assert_eq!(original["NextAllocation"], second.as_str());
    assert_eq!(original["DesiredStatus"], "stop");
    let waited =
        replacement["CreateTime"].as_i64().unwrap() - original["TaskStates"]["main"]["FinishedAt"].as_i64().unwrap();
    assert!(waited >= 1_000_000_000, "replaced after the 2s delay (less the 1s window), not at once: {waited} ns");
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(agent.allocs("flaky").len(), 2, "one reschedule attempt only");
}

#[test]
fn agent_restart_keeps_jobs_allocations_and_evaluations() {
    let dir = TempDir::new("restart");
    let mut agent = Agent::dev(dir.path());
    let marker = format!("keep-{}", std::process::id());
    let file = job_file(dir.path(), "keep.hcl", &service_job("keep", 2, &marker));
    agent.cli_ok(&["job", "run", &file]);
    let before = agent.wait_allocs("keep", "two running allocs", |a| running(a) == 2);
    let evals_before = agent.get("/v1/job/keep/evaluations");

    assert!(agent.stop().success(), "clean shutdown on SIGINT:\n{}", agent.logs());
    wait_until(Duration::from_secs(10), "tasks to stop with the agent", || (!process_running(&marker)).then_some(()));
    agent.restart(&["-dev"]);
    agent.wait_ready();

    let job = agent.get("/v1/job/keep");
    assert_eq!(job["ID"], "keep");
    let evals_after = agent.get("/v1/job/keep/evaluations");
    assert_eq!(evals_after.as_array().unwrap().len(), evals_before.as_array().unwrap().len(), "{evals_after:#}");
    let after = agent.wait_allocs("keep", "allocs running again", |a| running(a) == 2);
    let ids = |allocs: &[Value]| {
        let mut ids: Vec<String> = allocs.iter().map(|a| a["ID"].as_str().unwrap().to_string()).collect();
        ids.sort();
        ids
    };
    assert_eq!(ids(&before), ids(&after), "the same allocations come back");
    wait_until(Duration::from_secs(10), "tasks running again", || process_running(&marker).then_some(()));
}

#[test]
fn api_errors_are_json_and_name_the_problem_and_blocking_queries_wait() {
    let dir = TempDir::new("api");
    let agent = Agent::dev(dir.path());
    let (status, body) = agent.try_get("/v1/nope").unwrap();
    assert_eq!(status, 404);
    assert!(body["Error"].as_str().unwrap().contains("/v1/nope"));
    let (status, body) = agent.try_get("/v1/job/missing").unwrap();
    assert_eq!(status, 404);
    assert!(body["Error"].as_str().unwrap().contains("missing"));

    let bad = br#"{"Job": {"ID": "x", "TaskGroups": [{"Name": "g", "Count": "three"}]}}"#;
    let (status, body) = common::http(agent.http_port, "PUT", "/v1/jobs", Some(bad)).unwrap();
    assert_eq!(status, 400);
    let message = String::from_utf8_lossy(&body);
    assert!(message.contains("Job.TaskGroups[0].Count"), "{message}");
    assert!(agent.get("/v1/jobs").as_array().unwrap().is_empty(), "a bad body changes nothing");

    // A blocking query on an index not yet reached waits for `wait`.
    let start = std::time::Instant::now();
    let (status, _) = agent.try_get("/v1/jobs?index=1000000&wait=1s").unwrap();
    assert_eq!(status, 200);
    assert!(start.elapsed() >= Duration::from_millis(900), "blocking query must wait");

    let health = agent.get("/v1/agent/health");
    assert_eq!(health["server"]["ok"], true);
    assert_eq!(agent.get("/v1/status/leader"), format!("127.0.0.1:{}", agent.rpc_port));
    assert_eq!(agent.get("/v1/regions"), serde_json::json!(["global"]));
}

#[test]
fn job_init_writes_an_example_that_runs() {
    let dir = TempDir::new("init");
    let agent = Agent::dev(dir.path());
    let out = std::process::Command::new(common::BIN).args(["job", "init"]).current_dir(dir.path()).output().unwrap();
    assert!(out.status.success());
    let example = dir.path().join("example.nomad.hcl");
    assert!(example.exists());
    let again = std::process::Command::new(common::BIN).args(["job", "init"]).current_dir(dir.path()).output().unwrap();
    assert_eq!(again.status.code(), Some(1), "init refuses to overwrite");
    agent.cli_ok(&["job", "run", example.to_str().unwrap()]);
    let allocs = agent.wait_allocs("example", "example to run", |a| running(a) == 1);
    let alloc_id = allocs[0]["ID"].as_str().unwrap();
    let logs = wait_until(Duration::from_secs(10), "example output", || {
        let logs = agent.cli_ok(&["alloc", "logs", alloc_id]);
        (!logs.is_empty()).then_some(logs)
    });
    assert!(logs.starts_with("hello from example.greeter[0]"), "{logs}");
    agent.cli_ok(&["job", "stop", "example"]);
}

#[test]
fn tasks_get_their_allocated_ports_in_the_environment() {
    let dir = TempDir::new("ports");
    let agent = Agent::dev(dir.path());
    let hcl = r#"
job "ports" {
  type = "batch"
  group "g" {
    network {
      port "http" {}
      port "admin" { static = 29999 }
    }
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "echo $NOMAD_PORT_http $NOMAD_ADDR_admin"]
      }
    }
  }
}
"#;
    let file = job_file(dir.path(), "ports.hcl", hcl);
    agent.cli_ok(&["job", "run", &file]);
    let allocs = agent.wait_allocs("ports", "batch alloc to complete", |a| statuses(a) == ["complete"]);
    let alloc = agent.get(&format!("/v1/allocation/{}", allocs[0]["ID"].as_str().unwrap()));
    let ports = alloc["AllocatedResources"]["Shared"]["Ports"].as_array().unwrap().clone();
    let http = ports.iter().find(|p| p["Label"] == "http").unwrap()["Value"].as_u64().unwrap();
    assert!((20000..=32000).contains(&http), "dynamic port from Nomad's range: {http}");
    let logs = agent.cli_ok(&["alloc", "logs", allocs[0]["ID"].as_str().unwrap()]);
    assert_eq!(logs, format!("{http} 127.0.0.1:29999\n"));
}

/// A one-task docker job running `script` in the test image, with one network port.
fn docker_job(name: &str, job_type: &str, image: &str, port: &str, script: &str) -> String {
    format!(
        r#"
job "{name}" {{
  type = "{job_type}"
  group "g" {{
    network {{
      {port}
    }}
    task "t" {{
      driver = "docker"
      config {{
        image   = "{image}"
        command = "/bin/sh"
        args    = ["-c", "{script}"]
        ports   = ["http"]
      }}
      resources {{
        cpu    = 50
        memory = 32
      }}
    }}
  }}
}}
"#
    )
}

#[test]
fn docker_job_runs_in_a_container_with_its_port_published() {
    let Some(image) = docker_test_image() else { return };
    let dir = TempDir::new("docker");
    let agent = Agent::dev(dir.path());
    let node_id = agent.get("/v1/nodes")[0]["ID"].as_str().unwrap().to_string();
    let node = agent.get(&format!("/v1/node/{node_id}"));
    assert_eq!(node["Drivers"]["docker"]["Healthy"], true, "{}", node["Drivers"]);
    assert!(node["Attributes"]["driver.docker.version"].is_string(), "{}", node["Attributes"]);
    let hcl = docker_job(
        "boxed",
        "batch",
        image,
        "port \"http\" {}",
        "echo $NOMAD_TASK_DIR $NOMAD_PORT_http; ls /alloc; echo to-stderr >&2",
    );
    let file = job_file(dir.path(), "boxed.hcl", &hcl);
    agent.cli_ok(&["job", "run", &file]);
    let allocs = agent.wait_allocs("boxed", "docker alloc to complete", |a| statuses(a) == ["complete"]);
    let alloc_id = allocs[0]["ID"].as_str().unwrap();
    let alloc = agent.get(&format!("/v1/allocation/{alloc_id}"));
    let ports = alloc["AllocatedResources"]["Shared"]["Ports"].as_array().unwrap().clone();
    let http = ports.iter().find(|p| p["Label"] == "http").unwrap()["Value"].as_u64().unwrap();
    assert_eq!(agent.cli_ok(&["alloc", "logs", alloc_id]), format!("/local {http}\ndata\nlogs\ntmp\n"));
    assert_eq!(agent.cli_ok(&["alloc", "logs", "-stderr", alloc_id]), "to-stderr\n");
    let left = Command::new("docker")
        .args(["ps", "-a", "-q", "--filter", &format!("label=rove.alloc_id={alloc_id}")])
        .output()
        .unwrap();
    assert!(left.stdout.is_empty(), "the finished task's container is removed");
}

#[test]
fn a_docker_service_answers_on_its_host_port_and_is_removed_when_stopped() {
    let Some(image) = docker_test_image() else { return };
    let dir = TempDir::new("docker-port");
    let agent = Agent::dev(dir.path());
    let hcl = docker_job(
        "served",
        "service",
        image,
        "port \"http\" {\n        to = 8080\n      }",
        "mkdir -p /tmp/www && echo hello-from-container > /tmp/www/index.html && exec httpd -f -p 8080 -h /tmp/www",
    );
    let alloc_id = agent.run_until_running(dir.path(), "served", &hcl);
    let alloc = agent.get(&format!("/v1/allocation/{alloc_id}"));
    let ports = alloc["AllocatedResources"]["Shared"]["Ports"].as_array().unwrap().clone();
    let host_port = ports.iter().find(|p| p["Label"] == "http").unwrap()["Value"].as_u64().unwrap() as u16;
    let page =
        common::wait_until(std::time::Duration::from_secs(20), "the container's server on its host port", || {
            let (status, body) = common::http(host_port, "GET", "/index.html", None).ok()?;
            (status == 200).then(|| String::from_utf8_lossy(&body).into_owned())
        });
    assert_eq!(page, "hello-from-container\n");
    agent.cli_ok(&["job", "stop", "served"]);
    common::wait_until(std::time::Duration::from_secs(20), "the container removed", || {
        let left = Command::new("docker")
            .args(["ps", "-a", "-q", "--filter", &format!("label=rove.alloc_id={alloc_id}")])
            .output()
            .ok()?;
        left.stdout.is_empty().then_some(())
    });
}

#[test]
fn job_run_check_index_refuses_a_stale_index_and_changes_nothing() {
    let dir = TempDir::new("check-index");
    let agent = Agent::dev(dir.path());
    let file = job_file(dir.path(), "idx.hcl", &batch_job("idx", "echo one", ""));
    agent.cli_ok(&["job", "run", "-detach", "-check-index", "0", &file]);
    let first = agent.get("/v1/job/idx")["JobModifyIndex"].as_u64().unwrap();

    let again = agent.cli(&["job", "run", "-detach", "-check-index", "0", &file]);
    let err = String::from_utf8_lossy(&again.stderr);
    assert_eq!(again.status.code(), Some(1), "{err}");
    assert!(err.contains("Enforcing job modify index 0") && err.contains("already exists"), "{err}");

    let changed = job_file(dir.path(), "idx2.hcl", &batch_job("idx", "echo two", ""));
    agent.cli_ok(&["job", "run", "-detach", "-check-index", &first.to_string(), &changed]);
    let second = agent.get("/v1/job/idx");
    let second_index = second["JobModifyIndex"].as_u64().unwrap();
    assert!(second_index > first);
    assert_eq!(second["Version"], 1);

    let stale = agent.cli(&["job", "run", "-detach", "-check-index", &first.to_string(), &file]);
    let err = String::from_utf8_lossy(&stale.stderr);
    assert_eq!(stale.status.code(), Some(1), "{err}");
    assert!(err.contains(&format!("conflicting job modify index: {second_index}")), "{err}");
    let after = agent.get("/v1/job/idx");
    assert_eq!((after["JobModifyIndex"].as_u64(), &after["Version"]), (Some(second_index), &second["Version"]));
    let evals = agent.get("/v1/job/idx/evaluations");
    assert_eq!(evals.as_array().unwrap().len(), 2, "a refused run creates no evaluation");
}
