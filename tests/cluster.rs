//! Several agents on one machine: a server-only agent and client-only agents that reach it
//! over RPC. A client that dies stops heartbeating; the server marks its node down and the
//! scheduler replaces its allocations on another node.

mod common;

use common::{batch_shell_job, job_file, wait_until, Agent, TempDir};
use std::time::Duration;

const FAST_HEARTBEATS: &str =
    "server {\n  enabled = true\n  bootstrap_expect = 1\n  min_heartbeat_ttl = \"1s\"\n  heartbeat_grace = \"1s\"\n}";

fn client_config(server_rpc: u16) -> String {
    format!(
        "client {{\n  enabled = true\n  servers = [\"127.0.0.1:{server_rpc}\"]\n}}\nplugin \"raw_exec\" {{\n  config {{\n    enabled = true\n  }}\n}}"
    )
}

const JOB: &str = r#"
job "lonely" {
  group "g" {
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "sleep 1000; : MARKER"]
      }
      resources {
        cpu    = 20
        memory = 16
      }
    }
  }
}
"#;

/// The test job under another name, its task marked, with a `disconnect` block.
fn job_with_disconnect(name: &str, marker: &str, disconnect: &str) -> String {
    JOB.replace("lonely", name)
        .replace("MARKER", marker)
        .replace("group \"g\" {", &format!("group \"g\" {{\n    disconnect {{\n      {disconnect}\n    }}"))
}

/// A server-only agent, once it leads.
fn start_server(dir: &std::path::Path, config: &str) -> Agent {
    let server = Agent::start(dir, "server", config, &[]);
    wait_for_leader(&server);
    server
}

fn wait_for_leader(server: &Agent) {
    wait_until(Duration::from_secs(20), "server leadership", || {
        (!server.try_get("/v1/status/leader").ok()?.1.as_str()?.is_empty()).then_some(())
    });
}

fn ready_nodes(server: &Agent) -> usize {
    server.get("/v1/nodes").as_array().unwrap().iter().filter(|n| n["Status"] == "ready").count()
}

#[test]
fn allocations_of_a_dead_node_are_replaced_on_another() {
    let dir = TempDir::new("cluster");
    let server = start_server(dir.path(), FAST_HEARTBEATS);
    let mut clients = [
        Agent::start(dir.path(), "client-a", &client_config(server.rpc_port), &[]),
        Agent::start(dir.path(), "client-b", &client_config(server.rpc_port), &[]),
    ];
    wait_until(Duration::from_secs(30), "two ready nodes", || (ready_nodes(&server) == 2).then_some(()));

    // A client-only agent forwards server endpoints to the server.
    let marker = format!("rove-cluster-test-{}", std::process::id());
    let file = job_file(dir.path(), "lonely.hcl", &JOB.replace("MARKER", &marker));
    let out = clients[0].cli_ok(&["job", "run", &file]);
    assert!(out.contains("finished with status \"complete\""), "{out}");
    let allocs = server.wait_allocs("lonely", "alloc running", |a| a.len() == 1 && a[0]["ClientStatus"] == "running");
    let first = allocs[0].clone();
    let node_id = first["NodeID"].as_str().unwrap().to_string();
    let victim = clients
        .iter()
        .position(|c| c.get("/v1/agent/self")["stats"]["client"]["node_id"] == node_id.as_str())
        .expect("the node running the alloc is one of the clients");
    clients[victim].kill();
    // The killed agent's task is orphaned (reattaching is the client's own issue); end it.
    let orphans = common::KillOnDrop(marker.clone());

    let node = wait_until(Duration::from_secs(30), "node marked down", || {
        let node = server.get(&format!("/v1/node/{node_id}"));
        (node["Status"] == "down").then_some(node)
    });
    assert_eq!(node["StatusDescription"], "node heartbeat missed");
    let allocs = server.wait_allocs("lonely", "replacement running elsewhere", |a| {
        a.iter().any(|x| x["ClientStatus"] == "running" && x["NodeID"] != node_id.as_str())
    });
    let lost = allocs.iter().find(|a| a["ID"] == first["ID"]).unwrap();
    assert_eq!(lost["ClientStatus"], "lost");
    assert_eq!(lost["DesiredStatus"], "stop");
    let replacement = allocs.iter().find(|a| a["ClientStatus"] == "running").unwrap();
    assert_eq!(replacement["Name"], "lonely.g[0]", "the replacement takes the lost slot");

    // The survivor's view through its own API (forwarded) agrees.
    let survivor = &clients[1 - victim];
    let status = survivor.cli_ok(&["job", "status", "lonely"]);
    assert!(status.contains("lost"), "{status}");
    drop(orphans);
    common::remove_task_cgroups(first["ID"].as_str().unwrap());
}

/// A server outage (a minute by default; `ROVE_OUTAGE_SECS` shortens it): the client's
/// tasks keep running, a task that finishes meanwhile is reported once the server is back,
/// and nothing is replaced.
#[test]
fn a_client_keeps_its_tasks_through_a_server_outage_and_reports_afterwards() {
    let outage = Duration::from_secs(std::env::var("ROVE_OUTAGE_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(60));
    let dir = TempDir::new("outage");
    let mut server = start_server(dir.path(), "server {\n  enabled = true\n}");
    let client = Agent::start(dir.path(), "client", &client_config(server.rpc_port), &[]);
    wait_until(Duration::from_secs(30), "the node ready", || (ready_nodes(&server) == 1).then_some(()));
    let marker = format!("rove-outage-test-{}", std::process::id());
    let _cleanup = common::KillOnDrop(marker.clone());
    server.cli_ok(&["job", "run", &job_file(dir.path(), "lonely.hcl", &JOB.replace("MARKER", &marker))]);
    let running = server.wait_allocs("lonely", "alloc running", |a| a.len() == 1 && a[0]["ClientStatus"] == "running");
    let finisher = batch_shell_job("finisher", "", "", &format!("sleep {}", outage.as_secs() / 2));
    server.cli_ok(&["job", "run", "-detach", &job_file(dir.path(), "finisher.hcl", &finisher)]);
    server.wait_allocs("finisher", "the batch task running", |a| a.iter().any(|a| a["ClientStatus"] == "running"));

    assert!(server.stop().success());
    std::thread::sleep(outage);
    assert!(common::process_running(&marker), "the service task kept running without servers");
    server.restart(&[]);
    wait_for_leader(&server);
    server.wait_allocs("finisher", "the batch task's end reported", |a| {
        a.iter().any(|a| a["ClientStatus"] == "complete")
    });
    let lonely = server.allocs("lonely");
    assert_eq!(lonely.len(), 1, "nothing replaced: {lonely:?}");
    assert_eq!(lonely[0]["ID"], running[0]["ID"]);
    assert_eq!(lonely[0]["ClientStatus"], "running");
    wait_until(Duration::from_secs(30), "the node ready", || (ready_nodes(&server) == 1).then_some(()));
    drop(client);
}

/// A client cut off from the server (through a proxy the test controls) whose allocation's
/// group waits for it (`disconnect { lost_after }`): its node is disconnected, not down; the
/// allocation is unknown, keeps running there and is replaced elsewhere; once the client is
/// back, its allocation runs on and the replacement gives way.
#[test]
fn a_disconnected_client_keeps_its_allocation_and_gets_it_back() {
    let dir = TempDir::new("disconnect");
    let server = start_server(dir.path(), FAST_HEARTBEATS);
    let faults = common::faults::Faults::default();
    let names = ["client-a", "client-b"];
    let clients: Vec<Agent> = names
        .iter()
        .map(|name| {
            let link = faults.proxy(&format!("link-{name}"), server.rpc_port);
            Agent::start(dir.path(), name, &client_config(link), &[])
        })
        .collect();
    wait_until(Duration::from_secs(30), "two ready nodes", || (ready_nodes(&server) == 2).then_some(()));
    let marker = format!("rove-disconnect-test-{}", std::process::id());
    let _cleanup = common::KillOnDrop(marker.clone());
    let patient = job_with_disconnect("patient", &marker, "lost_after = \"5m\"");
    clients[0].cli_ok(&["job", "run", &job_file(dir.path(), "patient.hcl", &patient)]);
    let first = server.wait_allocs("patient", "alloc running", |a| a.len() == 1 && a[0]["ClientStatus"] == "running");
    let (original, node_id) =
        (first[0]["ID"].as_str().unwrap().to_string(), first[0]["NodeID"].as_str().unwrap().to_string());
    let node_name = server.get(&format!("/v1/node/{node_id}"))["Name"].as_str().unwrap().to_string();
    let original_pid = common::pids_matching(&marker);

    faults.isolate(&format!("link-{node_name}"));
    wait_until(Duration::from_secs(30), "the node disconnected", || {
        (server.get(&format!("/v1/node/{node_id}"))["Status"] == "disconnected").then_some(())
    });
    let allocs = server.wait_allocs("patient", "a replacement running elsewhere", |a| {
        a.iter().any(|a| a["ID"] == original.as_str() && a["ClientStatus"] == "unknown")
            && a.iter().any(|a| a["NodeID"] != node_id.as_str() && a["ClientStatus"] == "running")
    });
    assert_eq!(allocs.len(), 2, "{allocs:#?}");
    assert!(original_pid.iter().all(|p| common::pids_matching(&marker).contains(p)), "the original kept running");

    faults.heal();
    let allocs = server.wait_allocs("patient", "the original back and the replacement stopped", |a| {
        a.iter().any(|a| a["ID"] == original.as_str() && a["ClientStatus"] == "running" && a["DesiredStatus"] == "run")
            && a.iter().any(|a| a["ID"] != original.as_str() && a["DesiredStatus"] == "stop")
    });
    assert_eq!(allocs.len(), 2);
    assert_eq!(server.get(&format!("/v1/node/{node_id}"))["Status"], "ready");
    wait_until(Duration::from_secs(20), "only the original's process left", || {
        (common::pids_matching(&marker) == original_pid).then_some(())
    });
}

/// `disconnect { stop_on_client_after }`: a client that cannot reach any server stops the
/// group's allocations once that long has passed, rather than running them blind.
#[test]
fn a_cut_off_client_stops_allocations_that_must_not_run_blind() {
    let dir = TempDir::new("stop-on-client-after");
    let server = start_server(dir.path(), FAST_HEARTBEATS);
    let faults = common::faults::Faults::default();
    let link = faults.proxy("link", server.rpc_port);
    let _client = Agent::start(dir.path(), "client", &client_config(link), &[]);
    wait_until(Duration::from_secs(30), "the node ready", || (ready_nodes(&server) == 1).then_some(()));
    let marker = format!("rove-stop-after-test-{}", std::process::id());
    let _cleanup = common::KillOnDrop(marker.clone());
    let careful = job_with_disconnect("careful", &marker, "stop_on_client_after = \"3s\"");
    server.cli_ok(&["job", "run", &job_file(dir.path(), "careful.hcl", &careful)]);
    server.wait_allocs("careful", "alloc running", |a| a.len() == 1 && a[0]["ClientStatus"] == "running");
    assert!(common::process_running(&marker));

    faults.isolate("link");
    let cut_at = std::time::Instant::now();
    wait_until(Duration::from_secs(20), "the task stopped by its client", || {
        (!common::process_running(&marker)).then_some(())
    });
    assert!(cut_at.elapsed() >= Duration::from_secs(3), "not before stop_on_client_after");
    faults.heal();
}
