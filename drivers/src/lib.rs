//! Task drivers for rove: the `Driver` trait and its types, `raw_exec` (plain processes)
//! and `exec` (processes in their own cgroup, as an unprivileged user).
//!
//! Drivers know nothing of servers, jobs or Raft: they get a driver-level task config.
//! The trait is synchronous; callers run `wait` and `stop` on blocking threads.

mod cgroup;
mod exec;
mod process;
mod raw_exec;
mod signal;

pub use exec::ExecDriver;
pub use raw_exec::RawExecDriver;

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// What a driver needs to run one task.
#[derive(Debug, Clone)]
pub struct TaskConfig {
    /// Unique per task instance (`<alloc id>-<task>`); names the task's cgroup.
    pub id: String,
    pub name: String,
    pub alloc_id: String,
    /// The task's working directory; it exists.
    pub task_dir: PathBuf,
    /// The whole environment; nothing of the agent's is inherited.
    pub env: BTreeMap<String, String>,
    /// The driver-specific `config` block.
    pub config: serde_json::Value,
    /// The user to run as (exec defaults to `nobody`; raw_exec to the agent's user).
    pub user: Option<String>,
    pub resources: Resources,
    /// stdout and stderr are appended to these files.
    pub stdout_path: PathBuf,
    pub stderr_path: PathBuf,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Resources {
    pub cpu_mhz: u64,
    pub memory_mb: u64,
    /// The hard memory limit when set (0 = unset: `memory_mb` is the limit).
    pub memory_max_mb: u64,
}

/// A driver's health on this machine.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DriverInfo {
    pub detected: bool,
    pub healthy: bool,
    pub health_description: String,
    pub attributes: BTreeMap<String, String>,
}

/// Identifies a started task; serializable so it can be persisted and recovered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskHandle {
    pub driver: String,
    pub pid: i32,
    /// The task's cgroup directories (one on cgroup v2, one per controller on v1).
    pub cgroups: Vec<PathBuf>,
    pub started_at_unix_ms: u64,
}

/// How a task ended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExitResult {
    pub exit_code: i32,
    pub signal: i32,
    pub oom_killed: bool,
    pub err: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    #[error("config: {0}")]
    Config(String),
    #[error("user {0:?} not found")]
    UnknownUser(String),
    #[error("unknown signal {0:?}")]
    UnknownSignal(String),
    #[error("setting up the task's cgroup: {0}")]
    Cgroup(std::io::Error),
    #[error("starting {command:?}: {source}")]
    Start { command: String, source: std::io::Error },
    #[error("opening log file {path}: {source}")]
    Logs { path: PathBuf, source: std::io::Error },
    #[error("waiting for the task: {0}")]
    Wait(String),
    #[error("signalling the task: {0}")]
    Signal(String),
}

pub trait Driver: Send + Sync {
    fn name(&self) -> &'static str;
    fn fingerprint(&self) -> DriverInfo;
    fn start(&self, cfg: &TaskConfig) -> Result<TaskHandle, DriverError>;
    /// Blocks until the task's main process exits.
    fn wait(&self, handle: &TaskHandle) -> Result<ExitResult, DriverError>;
    /// Sends `signal` (empty: SIGTERM); after `timeout`, kills every process of the task.
    fn stop(&self, handle: &TaskHandle, signal: &str, timeout: Duration) -> Result<(), DriverError>;
    /// Kills what is left of the task and releases its cgroup.
    fn destroy(&self, handle: &TaskHandle) -> Result<(), DriverError>;
}

/// The drivers this agent offers; raw_exec only when the agent config enables it.
pub fn all_drivers(raw_exec_enabled: bool) -> Vec<Box<dyn Driver>> {
    let mut drivers: Vec<Box<dyn Driver>> = vec![Box::new(ExecDriver)];
    if raw_exec_enabled {
        drivers.push(Box::new(RawExecDriver));
    }
    drivers
}

/// Checks a task's driver config before the job is accepted. Drivers this build does not
/// know are left to the node that has them.
pub fn validate_config(driver: &str, config: &serde_json::Value) -> Result<(), DriverError> {
    match driver {
        "exec" | "raw_exec" => process::CommandConfig::parse(config).map(|_| ()),
        _ => Ok(()),
    }
}
