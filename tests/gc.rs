//! Garbage collection through a real dev agent: with `gc_max_allocs = 2`, only the two
//! newest finished allocations keep their directories; a running one is never touched.

mod common;

use common::{batch_shell_job, job_file, wait_until, Agent, TempDir};
use std::time::Duration;

#[test]
fn only_the_newest_finished_allocations_keep_their_directories() {
    let dir = TempDir::new("gc");
    let config = "client {\n  gc_interval = \"1s\"\n  gc_max_allocs = 2\n}\n";
    let agent = Agent::start(dir.path(), "dev", config, &["-dev"]);
    agent.wait_ready();
    let long = agent.run_until_running(dir.path(), "long", &batch_shell_job("long", "", "", "sleep 300"));
    let mut finished = Vec::new();
    for i in 0..4 {
        let name = format!("quick{i}");
        agent.cli_ok(&[
            "job",
            "run",
            &job_file(dir.path(), &format!("{name}.hcl"), &batch_shell_job(&name, "", "", "echo done")),
        ]);
        let allocs =
            agent.wait_allocs(&name, "the job to complete", |a| a.iter().any(|a| a["ClientStatus"] == "complete"));
        finished.push(allocs[0]["ID"].as_str().unwrap().to_string());
        // Directory times order the allocations.
        std::thread::sleep(Duration::from_millis(1100));
    }
    let alloc_root = agent.data_dir.join("client/alloc");
    wait_until(Duration::from_secs(10), "the oldest finished allocations collected", || {
        finished[..2].iter().all(|id| !alloc_root.join(id).exists()).then_some(())
    });
    assert!(finished[2..].iter().all(|id| alloc_root.join(id).exists()), "the two newest are kept");
    assert!(alloc_root.join(&long).exists(), "a running allocation is never collected");
    assert_eq!(agent.allocs("long")[0]["ClientStatus"], "running");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(agent.allocs("quick0").len(), 1, "a collected allocation is not started again");
    agent.cli_ok(&["job", "stop", "long"]);
}
