//! Starting a task under an executor (see [`super::executor`]) and waiting for its end:
//! by waiting for the executor when this agent started it, or by watching its process when
//! the agent found it after a restart; either way the task's exit status comes from the
//! file the executor writes.

use super::executor::{ExecutorSpec, Started};
use rove_drivers::{ExitResult, TaskHandle};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// How often a reattached executor is checked for having ended.
const POLL: Duration = Duration::from_millis(200);

/// A running executor.
pub enum Executor {
    /// Started by this agent.
    Child(Child),
    /// Found running after an agent restart: not this agent's child.
    Adopted(u32),
}

impl Executor {
    pub fn pid(&self) -> u32 {
        match self {
            Executor::Child(child) => child.id(),
            Executor::Adopted(pid) => *pid,
        }
    }
}

/// Starts an executor for `spec` in a session of its own (so it outlives the agent),
/// with its own messages going to `log_path`; returns once the task started.
pub fn launch(spec: &ExecutorSpec, log_path: &Path) -> Result<(TaskHandle, Executor), String> {
    // A status left by an earlier run of the task would be taken for this run's.
    let _ = std::fs::remove_file(&spec.exit_path);
    let exe = std::env::current_exe().map_err(|e| format!("finding the rove binary for the executor: {e}"))?;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log_path)
        .map_err(|e| format!("opening the executor log {}: {e}", log_path.display()))?;
    let mut command = Command::new(exe);
    // The task's id in the arguments only names the executor in the process table.
    command.arg("executor").arg(&spec.config.id).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(log);
    // SAFETY: setsid is async-signal-safe and touches nothing of the parent.
    unsafe {
        command.pre_exec(|| {
            if libc::setsid() < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = command.spawn().map_err(|e| format!("starting the executor: {e}"))?;
    let input = serde_json::to_vec(spec).expect("executor specs serialize");
    let sent = child.stdin.take().map(|mut stdin| stdin.write_all(&input));
    let mut line = String::new();
    if let Some(stdout) = child.stdout.take() {
        let _ = BufReader::new(stdout).read_line(&mut line);
    }
    match (sent, serde_json::from_str::<Started>(&line)) {
        (Some(Ok(())), Ok(Started::Running(handle))) => Ok((handle, Executor::Child(child))),
        (_, Ok(Started::Failed(message))) => {
            let _ = child.wait();
            Err(message)
        }
        _ => {
            let _ = child.kill();
            let _ = child.wait();
            Err(format!("the executor ended without starting the task; see {}", log_path.display()))
        }
    }
}

/// Blocks until the executor ended; returns how the task ended.
pub fn wait(executor: Executor, exit_path: &Path) -> ExitResult {
    match executor {
        Executor::Child(mut child) => {
            let _ = child.wait();
        }
        Executor::Adopted(pid) => {
            while alive(pid) {
                std::thread::sleep(POLL);
            }
        }
    }
    read_exit(exit_path)
}

/// The exit status the executor wrote; an error result when it wrote none (it was killed).
pub fn read_exit(exit_path: &Path) -> ExitResult {
    std::fs::read(exit_path).ok().and_then(|bytes| serde_json::from_slice(&bytes).ok()).unwrap_or_else(|| ExitResult {
        exit_code: -1,
        err: Some("the task's executor ended without recording how the task ended".into()),
        ..ExitResult::default()
    })
}

/// Whether a process runs (a zombie does not).
pub fn alive(pid: u32) -> bool {
    i32::try_from(pid).is_ok_and(rove_drivers::process_running)
}

/// Removes what the executors of an allocation's tasks left in `tasks_dir`.
pub fn remove_executor_files(tasks_dir: &Path, alloc_id: &str) {
    let Ok(entries) = std::fs::read_dir(tasks_dir) else { return };
    for entry in entries.flatten().filter(|e| e.file_name().to_string_lossy().starts_with(alloc_id)) {
        let _ = std::fs::remove_file(entry.path());
    }
}

/// Where a task's executor writes its exit status and its own messages.
pub fn executor_paths(tasks_dir: &Path, task_id: &str) -> (PathBuf, PathBuf) {
    (tasks_dir.join(format!("{task_id}.exit")), tasks_dir.join(format!("{task_id}.executor.log")))
}
