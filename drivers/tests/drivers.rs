//! Driver tests with real processes and real cgroups (run as root).

use rove_drivers::{Driver, DriverError, ExecDriver, ExitResult, RawExecDriver, Resources, TaskConfig, TaskHandle};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

struct Task {
    dir: PathBuf,
    cfg: TaskConfig,
}

impl Task {
    fn new(name: &str, args: &[&str]) -> Task {
        let id = format!("{name}-{}-{}", std::process::id(), fastrand::u32(..));
        let dir = std::env::temp_dir().join(format!("rove-driver-{id}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
        let mut env = BTreeMap::new();
        env.insert("GREETING".to_string(), "hello".to_string());
        let cfg = TaskConfig {
            id: id.clone(),
            name: name.into(),
            alloc_id: id,
            task_dir: dir.clone(),
            env,
            config: serde_json::json!({ "command": "/bin/sh", "args": args }),
            user: None,
            resources: Resources { cpu_mhz: 100, memory_mb: 64, memory_max_mb: 0 },
            stdout_path: dir.join("stdout"),
            stderr_path: dir.join("stderr"),
        };
        Task { dir, cfg }
    }

    fn stdout(&self) -> String {
        std::fs::read_to_string(self.dir.join("stdout")).unwrap_or_default()
    }
}

impl Drop for Task {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| !s.rsplit_once(')').map(|(_, r)| r.trim_start().starts_with('Z')).unwrap_or(true))
        .unwrap_or(false)
}

/// The pids of `sleep` processes whose parent is `pid`.
fn children(pid: i32) -> Vec<i32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .filter(|p| std::fs::read_to_string(format!("/proc/{p}/comm")).is_ok_and(|c| c.trim() == "sleep"))
        .collect()
}

/// The session a process belongs to.
fn session(pid: i32) -> i32 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    stat.rsplit_once(')').unwrap().1.split_whitespace().nth(3).unwrap().parse().unwrap()
}

/// Whether any task cgroup directory named `id` exists.
fn cgroup_exists(id: &str) -> bool {
    ["/sys/fs/cgroup/rove", "/sys/fs/cgroup/memory/rove"].iter().any(|p| Path::new(p).join(id).exists())
}

/// Runs `wait` on another thread, as the agent does.
fn wait_in_background(driver: &'static dyn Driver, handle: &TaskHandle) -> std::thread::JoinHandle<ExitResult> {
    let handle = handle.clone();
    std::thread::spawn(move || driver.wait(&handle).unwrap())
}

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
    let handle = ExecDriver.start(&task.cfg).unwrap();
    wait_for("task output", || task.stdout().lines().count() >= 2);
    assert_eq!(task.stdout(), format!("65534\n{}\n", task.dir.display()));
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

    let waiter = wait_in_background(&ExecDriver, &handle);
    ExecDriver.stop(&handle, "", Duration::from_secs(2)).unwrap();
    waiter.join().unwrap();
    ExecDriver.destroy(&handle).unwrap();
    assert!(handle.cgroups.iter().all(|d| !d.exists()), "cgroup removed after destroy");
}

#[test]
fn exec_reports_oom_kills() {
    let mut task = Task::new("oom", &["-c", "x=aaaaaaaaaaaaaaaa; while true; do x=$x$x; done"]);
    task.cfg.resources.memory_mb = 16;
    let handle = ExecDriver.start(&task.cfg).unwrap();
    let exit = ExecDriver.wait(&handle).unwrap();
    ExecDriver.destroy(&handle).unwrap();
    assert!(exit.oom_killed, "expected an OOM kill, got {exit:?}");
    assert_eq!(exit.signal, 9);
}

#[test]
fn stop_honours_a_trap_then_kills_after_the_timeout() {
    let loop_forever = "echo ready; while true; do sleep 0.1; done";
    let graceful = Task::new("trap", &["-c", &format!("trap 'echo bye; exit 0' TERM; {loop_forever}")]);
    let handle = ExecDriver.start(&graceful.cfg).unwrap();
    wait_for("trap set", || graceful.stdout() == "ready\n");
    let waiter = wait_in_background(&ExecDriver, &handle);
    ExecDriver.stop(&handle, "SIGTERM", Duration::from_secs(5)).unwrap();
    let exit = waiter.join().unwrap();
    assert_eq!((exit.exit_code, exit.signal), (0, 0), "{exit:?}");
    assert_eq!(graceful.stdout(), "ready\nbye\n");
    ExecDriver.destroy(&handle).unwrap();

    let stubborn = Task::new("stubborn", &["-c", &format!("trap '' TERM; {loop_forever}")]);
    let handle = ExecDriver.start(&stubborn.cfg).unwrap();
    wait_for("trap set", || stubborn.stdout() == "ready\n");
    let waiter = wait_in_background(&ExecDriver, &handle);
    let started = Instant::now();
    ExecDriver.stop(&handle, "SIGTERM", Duration::from_millis(500)).unwrap();
    assert_eq!(waiter.join().unwrap().signal, 9, "killed after the timeout");
    assert!(started.elapsed() >= Duration::from_millis(500));
    ExecDriver.destroy(&handle).unwrap();
    assert!(!cgroup_exists(&stubborn.cfg.id));
}

#[test]
fn bad_config_and_unknown_users_are_clear_errors() {
    let mut task = Task::new("bad", &[]);
    task.cfg.user = Some("no-such-user-here".into());
    let err = ExecDriver.start(&task.cfg).unwrap_err();
    assert!(matches!(err, DriverError::UnknownUser(_)), "{err}");
    assert_eq!(err.to_string(), "user \"no-such-user-here\" not found");
    let err = rove_drivers::validate_config("exec", &serde_json::json!({ "args": ["x"] })).unwrap_err();
    assert_eq!(err.to_string(), "config: missing required field \"command\"");
    let err =
        rove_drivers::validate_config("raw_exec", &serde_json::json!({ "command": "x", "arsg": [] })).unwrap_err();
    assert!(err.to_string().contains("unknown setting \"arsg\""), "{err}");

    task.cfg.user = None;
    task.cfg.config = serde_json::json!({ "args": ["x"] });
    let err = ExecDriver.start(&task.cfg).unwrap_err();
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
        container_id: None,
        log_paths: None,
    };
    let err = RawExecDriver.stop(&bogus, "", Duration::ZERO).unwrap_err();
    assert!(matches!(err, DriverError::InvalidHandle(_)), "{err}");
    assert!(ExecDriver.destroy(&TaskHandle { pid: 12345, ..bogus }).is_err(), "a raw_exec handle given to exec");
}

#[test]
fn fingerprints_report_health() {
    let exec = ExecDriver.fingerprint();
    assert!(exec.detected && exec.healthy, "{exec:?}");
    assert!(exec.attributes.contains_key("cgroup.version"));
    assert!(RawExecDriver.fingerprint().healthy);
    let docker = rove_drivers::DockerOptions::default();
    let names: Vec<&str> = rove_drivers::all_drivers(false, &docker).iter().map(|d| d.name()).collect();
    assert_eq!(names, ["exec", "docker"], "raw_exec is off unless enabled");
    let enabled: Vec<&str> = rove_drivers::all_drivers(true, &docker).iter().map(|d| d.name()).collect();
    assert_eq!(enabled, ["exec", "raw_exec", "docker"]);
}
