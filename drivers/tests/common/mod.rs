//! Helpers shared by the driver tests: tasks in a Nomad-shaped allocation directory, and
//! polling and /proc lookups.
#![allow(dead_code)] // each test binary uses its own subset

use rove_drivers::{Driver, ExecDriver, ExitResult, Resources, TaskConfig, TaskHandle};
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;
use std::time::{Duration, Instant};

/// The exec driver with Nomad's default chroot.
pub static EXEC: LazyLock<ExecDriver> = LazyLock::new(ExecDriver::default);

/// A task in its own allocation directory: `<alloc>/alloc` (shared) and `<alloc>/<name>`
/// with `local`, `secrets` and `tmp`, as the client lays them out. Removed on drop.
pub struct Task {
    pub alloc: PathBuf,
    pub dir: PathBuf,
    pub cfg: TaskConfig,
}

fn make_dir(dir: &Path, mode: u32) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode)).unwrap();
}

impl Task {
    pub fn new(name: &str, args: &[&str]) -> Task {
        let id = format!("{name}-{}-{}", std::process::id(), fastrand::u32(..));
        let alloc = std::env::temp_dir().join(format!("rove-driver-{id}"));
        let dir = alloc.join(name);
        make_dir(&alloc.join("alloc"), 0o1777);
        make_dir(&dir, 0o777);
        for sub in ["local", "secrets", "tmp"] {
            make_dir(&dir.join(sub), 0o1777);
        }
        let mut env = BTreeMap::new();
        env.insert("GREETING".to_string(), "hello".to_string());
        let cfg = TaskConfig {
            id: id.clone(),
            name: name.into(),
            alloc_id: id,
            task_dir: dir.clone(),
            alloc_dir: alloc.join("alloc"),
            env,
            config: serde_json::json!({ "command": "/bin/sh", "args": args }),
            user: None,
            resources: Resources { cpu_mhz: 100, memory_mb: 64, memory_max_mb: 0, cores: Vec::new() },
            stdout_path: dir.join("stdout"),
            stderr_path: dir.join("stderr"),
            mounts: Vec::new(),
        };
        Task { alloc, dir, cfg }
    }

    pub fn stdout(&self) -> String {
        std::fs::read_to_string(self.dir.join("stdout")).unwrap_or_default()
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.join("stderr")).unwrap_or_default()
    }
}

impl Drop for Task {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.alloc);
    }
}

pub fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| !s.rsplit_once(')').map(|(_, r)| r.trim_start().starts_with('Z')).unwrap_or(true))
        .unwrap_or(false)
}

/// The pids of `sleep` processes whose parent is `pid`.
pub fn children(pid: i32) -> Vec<i32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .filter(|p| std::fs::read_to_string(format!("/proc/{p}/comm")).is_ok_and(|c| c.trim() == "sleep"))
        .collect()
}

/// The session a process belongs to.
pub fn session(pid: i32) -> i32 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    stat.rsplit_once(')').unwrap().1.split_whitespace().nth(3).unwrap().parse().unwrap()
}

/// Whether any task cgroup directory named `id` exists.
pub fn cgroup_exists(id: &str) -> bool {
    ["/sys/fs/cgroup/rove", "/sys/fs/cgroup/memory/rove"].iter().any(|p| Path::new(p).join(id).exists())
}

/// The processes in a task's cgroup (host pids).
pub fn cgroup_pids(handle: &TaskHandle) -> Vec<i32> {
    let procs = std::fs::read_to_string(handle.cgroups[0].join("cgroup.procs")).unwrap_or_default();
    procs.lines().filter_map(|l| l.trim().parse().ok()).collect()
}

/// Runs `wait` on another thread, as the agent does.
pub fn wait_in_background(driver: &'static dyn Driver, handle: &TaskHandle) -> std::thread::JoinHandle<ExitResult> {
    let handle = handle.clone();
    std::thread::spawn(move || driver.wait(&handle).unwrap())
}
