//! Driver tests with real processes and real cgroups (run as root).

mod common;

use common::{alive, cgroup_exists, children, session, wait_for, wait_in_background, Task, EXEC};
use rove_drivers::{ChrootEnv, Driver, DriverError, RawExecDriver, TaskHandle};
use std::time::{Duration, Instant};

#[test]
fn raw_exec_reports_exit_code_output_and_environment() {
    let task = Task::new("raw", &["-c", "echo $GREETING; echo err >&2; pwd; echo \"$PATH\"; env | wc -l; exit 3"]);
    let handle = RawExecDriver.start(&task.cfg).unwrap();
    let exit = RawExecDriver.wait(&handle).unwrap();
    RawExecDriver.destroy(&handle).unwrap();
    assert_eq!(exit.exit_code, 3);
    let path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    // GREETING, the default PATH and PWD (set by sh): nothing of the agent's environment.
    assert_eq!(task.stdout(), format!("hello\n{}\n{path}\n3\n", task.dir.display()));
    assert_eq!(std::fs::read_to_string(task.dir.join("stderr")).unwrap(), "err\n");
}

#[test]
fn stop_kills_the_whole_process_tree_even_children_that_left_the_session() {
    let task = Task::new("tree", &["-c", "sleep 1000 & setsid sleep 1000 & sleep 1000"]);
    let handle = RawExecDriver.start(&task.cfg).unwrap();
    // The handle is what the agent persists; a copy read back must work as well.
    let handle: TaskHandle = serde_json::from_str(&serde_json::to_string(&handle).unwrap()).unwrap();
    wait_for("three sleeps", || children(handle.pid).len() == 3);
    let kids = children(handle.pid);
    assert!(kids.iter().any(|k| session(*k) != handle.pid), "one sleep left the task's session");
    let waiter = wait_in_background(&RawExecDriver, &handle);
    RawExecDriver.stop(&handle, "SIGTERM", Duration::from_secs(2)).unwrap();
    assert_eq!(waiter.join().unwrap().signal, 15);
    wait_for("every sleep gone", || kids.iter().all(|k| !alive(*k)));
    RawExecDriver.destroy(&handle).unwrap();
    assert!(!cgroup_exists(&task.cfg.id), "cgroup removed after destroy");
}

#[test]
fn exec_runs_as_nobody_in_its_cgroup_with_the_memory_limit() {
    let mut task = Task::new("exec", &["-c", "id -u; pwd; cat /proc/self/cgroup > cgroups; sleep 1000"]);
    task.cfg.resources.memory_max_mb = 96;
    let handle = EXEC.start(&task.cfg).unwrap();
    wait_for("task output", || task.stdout().lines().count() >= 2);
    // The task directory is the task's root and working directory.
    assert_eq!(task.stdout(), "65534\n/\n");
    let dir = &handle.cgroups[0];
    let limit_file = ["memory.max", "memory.limit_in_bytes"].iter().map(|f| dir.join(f)).find(|p| p.exists()).unwrap();
    let limit: u64 = std::fs::read_to_string(limit_file).unwrap().trim().parse().unwrap();
    assert_eq!(limit, 96 * 1024 * 1024, "memory_max_mb is the hard limit");
    let cpu = |file: &str| handle.cgroups.iter().map(|d| d.join(file)).find(|p| p.exists());
    match (cpu("cpu.shares"), cpu("cpu.weight")) {
        (Some(shares), _) => assert_eq!(std::fs::read_to_string(shares).unwrap().trim(), "100"),
        (None, Some(weight)) => assert_eq!(std::fs::read_to_string(weight).unwrap().trim(), "4"),
        (None, None) => panic!("no CPU controller in {:?}", handle.cgroups),
    }
    let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap();
    assert!(procs.lines().any(|p| p.trim() == handle.pid.to_string()), "task is in its cgroup: {procs}");
    // The shell creates the file before `cat` writes into it: wait for the content, not the file.
    let listing = || std::fs::read_to_string(task.dir.join("cgroups")).unwrap_or_default();
    wait_for("cgroup listing", || listing().ends_with('\n'));
    let own = listing();
    assert!(own.contains("/rove/"), "the task's own view of its cgroup: {own}");

    let waiter = wait_in_background(&*EXEC, &handle);
    EXEC.stop(&handle, "", Duration::from_secs(2)).unwrap();
    waiter.join().unwrap();
    EXEC.destroy(&handle).unwrap();
    assert!(handle.cgroups.iter().all(|d| !d.exists()), "cgroup removed after destroy");
}

#[test]
fn exec_reports_oom_kills() {
    let mut task = Task::new("oom", &["-c", "x=aaaaaaaaaaaaaaaa; while true; do x=$x$x; done"]);
    task.cfg.resources.memory_mb = 16;
    let handle = EXEC.start(&task.cfg).unwrap();
    let exit = EXEC.wait(&handle).unwrap();
    EXEC.destroy(&handle).unwrap();
    assert!(exit.oom_killed, "expected an OOM kill, got {exit:?}");
    assert_eq!(exit.signal, 9);
}

#[test]
fn stop_honours_a_trap_then_kills_after_the_timeout() {
    let loop_forever = "echo ready; while true; do sleep 0.1; done";
    let graceful = Task::new("trap", &["-c", &format!("trap 'echo bye; exit 0' TERM; {loop_forever}")]);
    let handle = EXEC.start(&graceful.cfg).unwrap();
    wait_for("trap set", || graceful.stdout() == "ready\n");
    let waiter = wait_in_background(&*EXEC, &handle);
    EXEC.stop(&handle, "SIGTERM", Duration::from_secs(5)).unwrap();
    let exit = waiter.join().unwrap();
    assert_eq!((exit.exit_code, exit.signal), (0, 0), "{exit:?}");
    assert_eq!(graceful.stdout(), "ready\nbye\n");
    EXEC.destroy(&handle).unwrap();

    let stubborn = Task::new("stubborn", &["-c", &format!("trap '' TERM; {loop_forever}")]);
    let handle = EXEC.start(&stubborn.cfg).unwrap();
    wait_for("trap set", || stubborn.stdout() == "ready\n");
    let waiter = wait_in_background(&*EXEC, &handle);
    let started = Instant::now();
    EXEC.stop(&handle, "SIGTERM", Duration::from_millis(500)).unwrap();
    assert_eq!(waiter.join().unwrap().signal, 9, "killed after the timeout");
    assert!(started.elapsed() >= Duration::from_millis(500));
    EXEC.destroy(&handle).unwrap();
    assert!(!cgroup_exists(&stubborn.cfg.id));
}

#[test]
fn bad_config_and_unknown_users_are_clear_errors() {
    let mut task = Task::new("bad", &[]);
    task.cfg.user = Some("no-such-user-here".into());
    let err = EXEC.start(&task.cfg).unwrap_err();
    assert!(matches!(err, DriverError::UnknownUser(_)), "{err}");
    assert_eq!(err.to_string(), "user \"no-such-user-here\" not found");
    let err = rove_drivers::validate_config("exec", &serde_json::json!({ "args": ["x"] })).unwrap_err();
    assert_eq!(err.to_string(), "config: missing required field \"command\"");
    let err =
        rove_drivers::validate_config("raw_exec", &serde_json::json!({ "command": "x", "arsg": [] })).unwrap_err();
    assert!(err.to_string().contains("unknown setting \"arsg\""), "{err}");

    task.cfg.user = None;
    task.cfg.config = serde_json::json!({ "args": ["x"] });
    let err = EXEC.start(&task.cfg).unwrap_err();
    assert_eq!(err.to_string(), "config: missing required field \"command\"");

    task.cfg.config = serde_json::json!({ "command": "/no/such/program" });
    let err = RawExecDriver.start(&task.cfg).unwrap_err();
    assert!(matches!(err, DriverError::Start { .. }), "{err}");
    assert!(err.to_string().contains("/no/such/program"), "{err}");
    assert!(!cgroup_exists(&task.cfg.id), "a failed start leaves no cgroup behind");

    let bogus = TaskHandle {
        driver: "raw_exec".into(),
        pid: 0,
        cgroups: Vec::new(),
        started_at_unix_ms: 0,
        root: None,
        mount_points: Vec::new(),
        container_id: None,
        log_paths: None,
    };
    let err = RawExecDriver.stop(&bogus, "", Duration::ZERO).unwrap_err();
    assert!(matches!(err, DriverError::InvalidHandle(_)), "{err}");
    assert!(EXEC.destroy(&TaskHandle { pid: 12345, ..bogus }).is_err(), "a raw_exec handle given to exec");
}

#[test]
fn fingerprints_report_health() {
    let exec = EXEC.fingerprint();
    assert!(exec.detected && exec.healthy, "{exec:?}");
    assert!(exec.attributes.contains_key("cgroup.version"));
    assert!(RawExecDriver.fingerprint().healthy);
    let docker = rove_drivers::DockerOptions::default();
    let all = |raw_exec| rove_drivers::all_drivers(raw_exec, ChrootEnv::default(), &docker);
    let names: Vec<&str> = all(false).iter().map(|d| d.name()).collect();
    assert_eq!(names, ["exec", "java", "docker"], "raw_exec is off unless enabled");
    let enabled: Vec<&str> = all(true).iter().map(|d| d.name()).collect();
    assert_eq!(enabled, ["exec", "java", "raw_exec", "docker"]);
}

#[test]
fn a_running_exec_task_receives_signals_and_keeps_running() {
    let script = "trap 'echo got-usr1' USR1; echo ready; while true; do sleep 0.1; done";
    let task = Task::new("signalled", &["-c", script]);
    let handle = EXEC.start(&task.cfg).unwrap();
    wait_for("trap set", || task.stdout() == "ready\n");
    EXEC.signal(&handle, "SIGUSR1").unwrap();
    wait_for("the trap to run", || task.stdout() == "ready\ngot-usr1\n");
    assert!(matches!(EXEC.signal(&handle, "SIGNOPE"), Err(rove_drivers::DriverError::UnknownSignal(_))));
    let waiter = wait_in_background(&*EXEC, &handle);
    EXEC.stop(&handle, "SIGKILL", Duration::from_secs(1)).unwrap();
    waiter.join().unwrap();
    EXEC.destroy(&handle).unwrap();
    EXEC.signal(&handle, "SIGUSR1").expect("signalling an ended task is not an error");
}
