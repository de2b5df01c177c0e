//! The task executor: a small process (`rove executor`, spawned by the client in a session
//! of its own) that starts one task of a process driver (exec, java, raw_exec) as its
//! child, copies the task's output into the rotated log files, waits for it, and writes how
//! it ended to a file. Tasks and their logs so outlive the agent: a client killed with
//! `kill -9` finds them running when it starts again, and learns their exit status from
//! the file even though it is not their parent.
//!
//! The client sends the [`ExecutorSpec`] as JSON on stdin and reads one JSON line
//! ([`Started`]) from stdout once the task started or failed to.

use super::log_collector::LogCollector;
use super::log_rotator::Rotator;
use crate::structs::LogConfig;
use rove_drivers::{ChrootEnv, Driver, ExecDriver, ExitResult, JavaDriver, RawExecDriver, TaskConfig, TaskHandle};
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long the task's log collectors get to copy what is left once it ended.
const LOG_DRAIN_TIMEOUT: Duration = Duration::from_secs(2);

/// The drivers whose tasks run under an executor.
pub const PROCESS_DRIVERS: [&str; 3] = ["exec", "java", "raw_exec"];

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExecutorSpec {
    pub driver: String,
    /// What exec and java tasks see of the host.
    pub chroot_env: ChrootEnv,
    pub config: TaskConfig,
    pub logs: LogConfig,
    /// Where the executor writes the task's [`ExitResult`] as JSON once it ended.
    pub exit_path: PathBuf,
}

/// The executor's first and only line on stdout.
#[derive(Debug, Serialize, Deserialize)]
pub enum Started {
    Running(TaskHandle),
    Failed(String),
}

/// Runs the executor: reads the spec from stdin, runs the task to its end. Returns the
/// process's exit code.
pub fn run() -> i32 {
    let mut input = String::new();
    let spec: ExecutorSpec = match std::io::stdin()
        .read_to_string(&mut input)
        .map_err(|e| e.to_string())
        .and_then(|_| serde_json::from_str(&input).map_err(|e| format!("executor spec: {e}")))
    {
        Ok(spec) => spec,
        Err(e) => return report(&Started::Failed(e)),
    };
    let driver: Box<dyn Driver> = match spec.driver.as_str() {
        "exec" => Box::new(ExecDriver::new(spec.chroot_env.clone())),
        "java" => Box::new(JavaDriver::new(spec.chroot_env.clone())),
        "raw_exec" => Box::new(RawExecDriver),
        other => return report(&Started::Failed(format!("driver {other:?} does not run under an executor"))),
    };
    let collectors = match start_log_collectors(&spec.config, &spec.logs) {
        Ok(collectors) => collectors,
        Err(e) => return report(&Started::Failed(format!("starting the log collectors: {e}"))),
    };
    let handle = match driver.start(&spec.config) {
        Ok(handle) => handle,
        Err(e) => return report(&Started::Failed(e.to_string())),
    };
    report(&Started::Running(handle.clone()));
    let exit = driver.wait(&handle).unwrap_or_else(|e| ExitResult {
        exit_code: -1,
        err: Some(e.to_string()),
        ..ExitResult::default()
    });
    smol::block_on(async {
        for collector in collectors {
            collector.finish(LOG_DRAIN_TIMEOUT).await;
        }
    });
    match write_exit(&spec.exit_path, &exit) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("writing the exit status to {}: {e}", spec.exit_path.display());
            1
        }
    }
}

/// Writes the handshake line; the client stops listening after it.
fn report(started: &Started) -> i32 {
    let mut out = std::io::stdout().lock();
    let line = serde_json::to_string(started).expect("executor answers serialize");
    let _ = writeln!(out, "{line}").and_then(|_| out.flush());
    match started {
        Started::Running(_) => 0,
        Started::Failed(_) => 1,
    }
}

/// The exit status, written whole or not at all.
fn write_exit(path: &Path, exit: &ExitResult) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, serde_json::to_vec(exit).expect("exit results serialize"))?;
    std::fs::rename(tmp, path)
}

/// Collects the task's stdout and stderr from the FIFOs its driver writes into.
pub fn start_log_collectors(config: &TaskConfig, logs: &LogConfig) -> std::io::Result<[LogCollector; 2]> {
    let collect = |stream: &str, fifo: &Path| {
        let dir = fifo.parent().ok_or_else(|| std::io::Error::other("log FIFO has no directory"))?;
        let max_size = u64::from(logs.max_file_size_mb) << 20;
        let rotator = Rotator::open(dir, &format!("{}.{stream}", config.name), logs.max_files as usize, max_size)?;
        LogCollector::start(fifo, rotator)
    };
    Ok([collect("stdout", &config.stdout_path)?, collect("stderr", &config.stderr_path)?])
}
