//! Server tests over a real Raft store, broker, workers and plan applier.

use super::command::AllocClientUpdate;
use super::*;
use crate::structs::{ClientStatus, DriverInfo, Node, Resources, Task, TaskGroup};

fn start_server(name: &str) -> (Arc<Server>, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("rove-server-{name}-{}", generate_id()));
    let config = ServerConfig { num_workers: 2, ..ServerConfig::single(dir.clone(), name) };
    let server = Server::start(config).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !server.is_leader() {
        assert!(std::time::Instant::now() < deadline, "no leadership");
        std::thread::sleep(Duration::from_millis(10));
    }
    (server, dir)
}

fn node() -> Node {
    let mut node = Node {
        id: generate_id(),
        name: "n1".into(),
        datacenter: "dc1".into(),
        node_pool: "default".into(),
        ..Node::default()
    };
    node.node_resources.cpu.cpu_shares = 4000;
    node.node_resources.memory.memory_mb = 4096;
    node.node_resources.disk.disk_mb = 10_000;
    node.drivers.insert("exec".into(), DriverInfo { detected: true, healthy: true, ..DriverInfo::default() });
    node
}

fn job(id: &str) -> Job {
    Job {
        id: id.into(),
        task_groups: vec![TaskGroup {
            name: "g".into(),
            count: 1,
            tasks: vec![Task {
                name: "t".into(),
                driver: "exec".into(),
                config: serde_json::json!({ "command": "/bin/true" }).as_object().unwrap().clone(),
                resources: Resources { cpu: 100, memory_mb: 64, ..Resources::default() },
                ..Task::default()
            }],
            ..TaskGroup::default()
        }],
        ..Job::default()
    }
}

fn placed(server: &Server, job_id: &str) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(alloc) = server.state.snapshot().allocs_by_job("default", job_id).first() {
            return alloc.id.clone();
        }
        assert!(std::time::Instant::now() < deadline, "job {job_id} was not placed");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn client_updates_for_unknown_allocations_do_not_block_the_rest() {
    let (server, dir) = start_server("updates");
    smol::block_on(server.register_node(node())).unwrap();
    smol::block_on(server.register_job(job("web"), None)).unwrap();
    let alloc_id = placed(&server, "web");
    let updates = vec![
        AllocClientUpdate { id: "purged-long-ago".into(), client_status: ClientStatus::Complete, ..Default::default() },
        AllocClientUpdate { id: alloc_id.clone(), client_status: ClientStatus::Running, ..Default::default() },
    ];
    smol::block_on(server.update_allocs(updates)).unwrap();
    assert_eq!(server.state.snapshot().alloc(&alloc_id).unwrap().client_status, ClientStatus::Running);
    server.shutdown();
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn invalid_jobs_are_refused_with_every_problem_and_change_nothing() {
    let (server, dir) = start_server("invalid");
    let mut bad = job("bad");
    bad.priority = 500;
    bad.task_groups[0].tasks[0].resources.memory_mb = 1;
    let err = smol::block_on(server.register_job(bad, None)).unwrap_err().to_string();
    assert!(err.contains("priority must be between 1 and 100"), "{err}");
    assert!(err.contains("memory must be at least 10 MB"), "{err}");
    let mut no_command = job("nocmd");
    no_command.task_groups[0].tasks[0].config.clear();
    let err = smol::block_on(server.register_job(no_command, None)).unwrap_err().to_string();
    assert!(err.contains("group \"g\" -> task \"t\": config: missing required field \"command\""), "{err}");
    assert_eq!(server.state.snapshot().jobs("*", "").count(), 0);
    server.shutdown();
    std::fs::remove_dir_all(dir).ok();
}
