//! Surviving the client's own crash: `kill -9` of a dev agent leaves its tasks running
//! under their executors (their output still logged); the agent started again picks them
//! up without restarting them, applies the restart policy to one that died meanwhile, and
//! stopping the job afterwards leaves no process behind.

mod common;

use common::{docker_test_image, pids_matching, wait_until, Agent, KillOnDrop, TempDir};
use serde_json::Value;
use std::time::Duration;

fn job(name: &str, driver: &str, marker: &str) -> String {
    format!(
        r#"
job "{name}" {{
  group "g" {{
    restart {{
      attempts = 3
      delay    = "1s"
      interval = "5m"
      mode     = "fail"
    }}
    task "t" {{
      driver = "{driver}"
      config {{
        command = "/bin/sh"
        args    = ["-c", "i=0; while true; do i=$((i+1)); echo {marker} $i; sleep 0.2; done"]
      }}
    }}
  }}
}}
"#
    )
}

/// The pid of the task's shell (the one process whose command line has the marker).
fn task_pid(marker: &str) -> i32 {
    wait_until(Duration::from_secs(10), "the task's process", || match pids_matching(marker).as_slice() {
        [pid] => Some(*pid),
        _ => None,
    })
}

fn task_state(agent: &Agent, alloc_id: &str) -> Value {
    agent.get(&format!("/v1/allocation/{alloc_id}"))["TaskStates"]["t"].clone()
}

fn events(state: &Value) -> Vec<String> {
    state["Events"].as_array().unwrap().iter().map(|e| e["Type"].as_str().unwrap().to_string()).collect()
}

#[test]
fn a_crashed_client_reattaches_to_its_running_tasks() {
    let dir = TempDir::new("reattach");
    let raw_marker = format!("reattach-raw-{}", std::process::id());
    let exec_marker = format!("reattach-exec-{}", std::process::id());
    let dying_marker = format!("reattach-dying-{}", std::process::id());
    let _cleanup = [KillOnDrop(raw_marker.clone()), KillOnDrop(exec_marker.clone()), KillOnDrop(dying_marker.clone())];
    let mut agent = Agent::dev(dir.path());
    let raw = agent.run_until_running(dir.path(), "raw", &job("raw", "raw_exec", &raw_marker));
    let exec = agent.run_until_running(dir.path(), "execd", &job("execd", "exec", &exec_marker));
    let dying = agent.run_until_running(dir.path(), "dying", &job("dying", "raw_exec", &dying_marker));
    let (raw_pid, exec_pid, dying_pid) = (task_pid(&raw_marker), task_pid(&exec_marker), task_pid(&dying_marker));

    agent.kill();
    // The agent is gone; its tasks are not, and keep writing their logs.
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(pids_matching(&raw_marker), [raw_pid], "the raw_exec task outlived the agent");
    assert_eq!(pids_matching(&exec_marker), [exec_pid], "the exec task outlived the agent");
    unsafe { libc::kill(dying_pid, libc::SIGKILL) };
    let log_path = agent.data_dir.join(format!("client/alloc/{raw}/alloc/logs/t.stdout.0"));
    let ticks_at_crash = std::fs::read_to_string(&log_path).unwrap().lines().count();
    std::thread::sleep(Duration::from_millis(1000));
    let ticks_later = std::fs::read_to_string(&log_path).unwrap().lines().count();
    assert!(ticks_later >= ticks_at_crash + 3, "logged while the agent was down: {ticks_at_crash} -> {ticks_later}");

    agent.restart(&["-dev"]);
    agent.wait_ready();
    for (alloc, marker, pid) in [(&raw, &raw_marker, raw_pid), (&exec, &exec_marker, exec_pid)] {
        let state = wait_until(Duration::from_secs(20), "the task reattached", || {
            let state = task_state(&agent, alloc);
            events(&state).contains(&"Reattached".to_string()).then_some(state)
        });
        assert_eq!(state["State"], "running", "{state:#}");
        assert_eq!(state["Restarts"], 0, "reattached, not restarted: {state:#}");
        assert_eq!(pids_matching(marker), [pid], "the same process runs");
        assert_eq!(agent.allocs(alloc_job(&agent, alloc).as_str()).len(), 1, "no replacement allocation");
    }

    // The task killed while the agent was down is restarted by its policy.
    let state = wait_until(Duration::from_secs(20), "the dead task restarted", || {
        let state = task_state(&agent, &dying);
        (state["Restarts"] == 1 && state["State"] == "running").then_some(state)
    });
    let seen = events(&state);
    assert!(seen.contains(&"Reattached".to_string()) && seen.contains(&"Restarting".to_string()), "{seen:?}");
    let new_pid = task_pid(&dying_marker);
    assert_ne!(new_pid, dying_pid);

    // Stopping the jobs stops the reattached processes too.
    for name in ["raw", "execd", "dying"] {
        agent.cli_ok(&["job", "stop", name]);
    }
    for marker in [&raw_marker, &exec_marker, &dying_marker] {
        wait_until(Duration::from_secs(20), "the task's processes gone", || {
            pids_matching(marker).is_empty().then_some(())
        });
    }
    wait_until(Duration::from_secs(10), "no executor left behind", || {
        [&raw, &exec, &dying].iter().all(|alloc| pids_matching(&format!("executor {alloc}")).is_empty()).then_some(())
    });
}

fn alloc_job(agent: &Agent, alloc_id: &str) -> String {
    agent.get(&format!("/v1/allocation/{alloc_id}"))["JobID"].as_str().unwrap().to_string()
}

fn containers_of(alloc_id: &str) -> Vec<String> {
    let out = std::process::Command::new("docker")
        .args(["ps", "-a", "-q", "--no-trunc", "--filter", &format!("label=rove.alloc_id={alloc_id}")])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).split_whitespace().map(str::to_string).collect()
}

#[test]
fn a_crashed_client_reattaches_to_its_running_containers() {
    let Some(image) = docker_test_image() else { return };
    let dir = TempDir::new("reattach-docker");
    let mut agent = Agent::dev(dir.path());
    let hcl = format!(
        r#"
job "boxed" {{
  group "g" {{
    task "t" {{
      driver = "docker"
      config {{
        image   = "{image}"
        command = "/bin/sh"
        args    = ["-c", "i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.2; done"]
      }}
      resources {{
        cpu    = 50
        memory = 32
      }}
    }}
  }}
}}
"#
    );
    let alloc = agent.run_until_running(dir.path(), "boxed", &hcl);
    let before = wait_until(Duration::from_secs(10), "the container", || {
        let ids = containers_of(&alloc);
        (ids.len() == 1).then_some(ids)
    });

    agent.kill();
    std::thread::sleep(Duration::from_millis(1500));
    agent.restart(&["-dev"]);
    agent.wait_ready();
    let state = wait_until(Duration::from_secs(20), "the container reattached", || {
        let state = task_state(&agent, &alloc);
        events(&state).contains(&"Reattached".to_string()).then_some(state)
    });
    assert_eq!(state["State"], "running", "{state:#}");
    assert_eq!(state["Restarts"], 0, "{state:#}");
    assert_eq!(containers_of(&alloc), before, "the same container runs, no second one");
    // The logs go on being collected after the restart.
    let ticks = |agent: &Agent| agent.cli_ok(&["alloc", "logs", &alloc]).lines().count();
    let now = ticks(&agent);
    wait_until(Duration::from_secs(10), "new log lines after the restart", || (ticks(&agent) > now + 3).then_some(()));

    agent.cli_ok(&["job", "stop", "boxed"]);
    wait_until(Duration::from_secs(20), "the container removed", || containers_of(&alloc).is_empty().then_some(()));
}

/// By default (no `drain_on_shutdown`), a graceful stop of the agent leaves its tasks
/// running, as Nomad's client does; the next start picks them up.
#[test]
fn a_stopped_client_leaves_its_tasks_running_and_picks_them_up() {
    let dir = TempDir::new("reattach-graceful");
    let marker = format!("kept-task-{}", std::process::id());
    let _cleanup = KillOnDrop(marker.clone());
    let mut agent = Agent::start_keeping_tasks(dir.path(), "dev", "", &["-dev"]);
    agent.wait_ready();
    let alloc = agent.run_until_running(dir.path(), "kept", &job("kept", "raw_exec", &marker));
    let pid = task_pid(&marker);

    assert!(agent.stop().success(), "{}", agent.logs());
    assert!(agent.logs().contains("leaving 1 allocation(s) running"), "{}", agent.logs());
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(pids_matching(&marker), [pid], "the task outlived the agent's shutdown");

    agent.restart(&["-dev"]);
    agent.wait_ready();
    let state = wait_until(Duration::from_secs(20), "the task reattached", || {
        let state = task_state(&agent, &alloc);
        events(&state).contains(&"Reattached".to_string()).then_some(state)
    });
    assert_eq!((state["State"].as_str(), state["Restarts"].as_u64()), (Some("running"), Some(0)), "{state:#}");
    assert_eq!(pids_matching(&marker), [pid]);
    agent.cli_ok(&["job", "stop", "kept"]);
    wait_until(Duration::from_secs(20), "the task stopped", || pids_matching(&marker).is_empty().then_some(()));
}
