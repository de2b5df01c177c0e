//! Task drivers for rove: the `Driver` trait and its types, `raw_exec` (plain processes),
//! `exec` (processes in their own cgroup, namespaces and root filesystem, as an
//! unprivileged user), `java` (a JVM, isolated as exec isolates) and `docker`
//! (containers of the local Docker Engine).
//!
//! Drivers know nothing of servers, jobs or Raft: they get a driver-level task config.
//! The trait is synchronous; callers run `wait` and `stop` on blocking threads.
//!
//! A task's life: `start` returns a [`TaskHandle`]; exactly one caller `wait`s on it (this
//! reaps the process, so it must be called, and only once); `stop` may run concurrently
//! with `wait`; `destroy` comes last, after `wait` has returned.

#![warn(missing_docs)]

mod cgroup;
mod chroot;
mod docker;
mod exec;
mod isolation;
mod java;
mod process;
mod raw_exec;
mod settings;
mod signal;
mod task_exec;

pub use chroot::{ChrootEnv, ChrootError};
pub use docker::{DockerDriver, DockerOptions, EngineError};
pub use exec::ExecDriver;
pub use java::JavaDriver;
pub use process::running as process_running;
pub use raw_exec::RawExecDriver;

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What a driver needs to run one task.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaskConfig {
    /// Unique per task instance (`<alloc id>-<task>`); names the task's cgroup.
    pub id: String,
    /// The task's name in its group.
    pub name: String,
    /// The allocation the task belongs to.
    pub alloc_id: String,
    /// The task's working directory; it exists. Drivers with their own root filesystem
    /// make it the root, so its `local`, `secrets` and `tmp` are `/local`, `/secrets`, `/tmp`.
    pub task_dir: PathBuf,
    /// The allocation's shared directory (`alloc/`), `/alloc` in a task's own root.
    pub alloc_dir: PathBuf,
    /// The whole environment; nothing of the agent's is inherited.
    pub env: BTreeMap<String, String>,
    /// The driver-specific `config` block.
    pub config: serde_json::Value,
    /// The user to run as (exec defaults to `nobody`; raw_exec to the agent's user).
    pub user: Option<String>,
    /// The task's resource reservation (exec enforces it).
    pub resources: Resources,
    /// The task's stdout is appended to this path: the FIFO of the client's log collector,
    /// or a file (created if missing).
    pub stdout_path: PathBuf,
    /// The task's stderr is appended to this path, as for `stdout_path`.
    pub stderr_path: PathBuf,
    /// Host paths the task sees inside its root (host volumes); drivers without a root of
    /// their own (raw_exec) ignore them.
    pub mounts: Vec<Mount>,
}

/// A host path bound into a task's root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mount {
    /// The path on the host.
    pub host: PathBuf,
    /// Where the task sees it, an absolute path in the task's root.
    pub task: PathBuf,
    /// Whether the task may only read it.
    pub read_only: bool,
}

/// A task's resources, as job files give them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resources {
    /// CPU in MHz, used as the task's CPU shares (0 = no weight set).
    pub cpu_mhz: u64,
    /// Memory in MiB: the limit unless `memory_max_mb` is set (0 = unlimited).
    pub memory_mb: u64,
    /// The hard memory limit when set (0 = unset: `memory_mb` is the limit).
    pub memory_max_mb: u64,
    /// The CPUs (by id) the task is pinned to; empty = not pinned.
    pub cores: Vec<u32>,
}

/// A driver's health on this machine.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DriverInfo {
    /// Whether the driver can work on this machine at all.
    pub detected: bool,
    /// Whether it can run tasks now.
    pub healthy: bool,
    /// Why it is not healthy, or "Healthy".
    pub health_description: String,
    /// Facts about the driver; keys are relative (the agent publishes them as
    /// `driver.<name>.<key>`), e.g. `cgroup.version` = "1" or "2".
    pub attributes: BTreeMap<String, String>,
}

/// Identifies a started task; serializable so it can be persisted and recovered.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskHandle {
    /// The name of the driver that started the task.
    pub driver: String,
    /// The task's main process; also its process group and session id. For docker, the
    /// container's main process as the host sees it (informational).
    pub pid: i32,
    /// The task's cgroup directories (one on cgroup v2, one per controller on v1).
    pub cgroups: Vec<PathBuf>,
    /// When the task was started, in milliseconds since the Unix epoch.
    pub started_at_unix_ms: u64,
    /// The task's root directory (its task directory) when it has its own root filesystem.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root: Option<PathBuf>,
    /// The mount points the driver made in `root`, parents first; `destroy` removes them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mount_points: Vec<PathBuf>,
    /// The docker driver's container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_id: Option<String>,
    /// The task's stdout and stderr paths, for drivers that copy the task's output there
    /// themselves (docker) and resume copying after an agent restart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_paths: Option<(PathBuf, PathBuf)>,
}

/// What a task's processes use, read from its cgroup. Totals since the task started: the
/// CPU share over an interval is the difference of two readings' `cpu_total_ns` divided
/// by the difference of their `collected_at_unix_ns`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskStats {
    /// Memory charged to the task, page cache included.
    pub memory_bytes: u64,
    /// Anonymous memory (the resident set less file pages).
    pub memory_rss_bytes: u64,
    /// Page cache.
    pub memory_cache_bytes: u64,
    /// CPU time used, in nanoseconds.
    pub cpu_total_ns: u64,
    /// CPU time in user mode, in nanoseconds (0 where the kernel does not say).
    pub cpu_user_ns: u64,
    /// CPU time in the kernel, in nanoseconds (0 where the kernel does not say).
    pub cpu_system_ns: u64,
    /// When the reading was taken, in nanoseconds since the Unix epoch.
    pub collected_at_unix_ns: u64,
}

/// Where a driver reports the progress of a long start, one message at a time.
pub type Progress = dyn Fn(&str) + Sync;

/// A command to run inside a running task.
#[derive(Debug, Clone)]
pub struct ExecRequest {
    /// The program and its arguments.
    pub cmd: Vec<String>,
    /// The task's environment, which the command gets.
    pub env: BTreeMap<String, String>,
    /// The task's directory (the working directory where the task has no root of its own).
    pub task_dir: PathBuf,
    /// The task's user (isolated tasks).
    pub user: Option<String>,
    /// How long the command may run.
    pub timeout: Duration,
}

/// What a command run inside a task did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecOutput {
    /// Its exit code (128 + n when killed by signal n).
    pub exit_code: i32,
    /// Everything it wrote to stdout.
    pub stdout: Vec<u8>,
    /// Everything it wrote to stderr.
    pub stderr: Vec<u8>,
}

/// How a task ended.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitResult {
    /// The exit code; 128 + the signal number when a signal ended the task.
    pub exit_code: i32,
    /// The signal that ended the task, 0 if it exited.
    pub signal: i32,
    /// Whether the kernel killed a process of the task for exceeding its memory limit.
    pub oom_killed: bool,
    /// Set when the task's end could not be observed normally.
    pub err: Option<String>,
}

/// Why a driver operation failed.
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    /// The driver's config block is invalid.
    #[error("config: {0}")]
    Config(String),
    /// The task's user does not exist on this machine.
    #[error("user {0:?} not found")]
    UnknownUser(String),
    /// The kill signal is not a signal name.
    #[error("unknown signal {0:?}")]
    UnknownSignal(String),
    /// The driver needs cgroups and this machine has no usable hierarchy.
    #[error("no cgroup hierarchy with the memory controller under /sys/fs/cgroup")]
    NoCgroups,
    /// Creating, configuring, joining or removing the task's cgroup failed.
    #[error("task cgroup: {0}")]
    Cgroup(std::io::Error),
    /// The command could not be started.
    #[error("starting {command:?}: {source}")]
    Start {
        /// The command as configured.
        command: String,
        /// Why it did not start.
        source: std::io::Error,
    },
    /// A log file could not be opened.
    #[error("opening log file {path}: {source}")]
    Logs {
        /// The log file.
        path: PathBuf,
        /// Why it could not be opened.
        source: std::io::Error,
    },
    /// Waiting for the task failed (e.g. it was already reaped).
    #[error("waiting for the task: {0}")]
    Wait(String),
    /// The handle cannot be one this driver returned.
    #[error("invalid task handle: {0}")]
    InvalidHandle(String),
    /// The task could not be signalled.
    #[error("signalling the task: {0}")]
    Signal(String),
    /// The task's root filesystem could not be prepared.
    #[error("task root: {0}")]
    Chroot(#[from] ChrootError),
    /// The driver cannot run tasks on this machine.
    #[error("driver unavailable: {0}")]
    Unavailable(String),
    /// The task has no cgroup to read its usage from, or the driver cannot read usage.
    #[error("no usage statistics for this task")]
    NoStats,
    /// The docker engine refused or failed a request.
    #[error("docker: {0}")]
    Docker(#[from] EngineError),
    /// The task's image is not on the engine and could not be pulled.
    #[error("image {image:?} is not available: {source}")]
    Image {
        /// The image as configured.
        image: String,
        /// What the engine said.
        source: EngineError,
    },
    /// A command run in the task (`alloc exec`) could not run or finish.
    #[error("exec: {0}")]
    Exec(String),
    /// The task's image tarball (`load`) could not be loaded.
    #[error("loading image tarball {path}: {source}")]
    Load {
        /// The tarball.
        path: PathBuf,
        /// What went wrong.
        source: EngineError,
    },
}

/// A way of running tasks. Synchronous: callers run it on blocking threads.
pub trait Driver: Send + Sync {
    /// The name job files use for this driver (`exec`, `raw_exec`, `docker`).
    fn name(&self) -> &'static str;
    /// Whether the driver works on this machine, and facts about it.
    fn fingerprint(&self) -> DriverInfo;
    /// Starts the task and returns at once.
    fn start(&self, cfg: &TaskConfig) -> Result<TaskHandle, DriverError>;
    /// Starts the task as `start` does, telling `progress` about what takes long on the way
    /// (an image pull); drivers with nothing to tell just start.
    fn start_with_progress(&self, cfg: &TaskConfig, progress: &Progress) -> Result<TaskHandle, DriverError> {
        let _ = progress;
        self.start(cfg)
    }
    /// Blocks until the task's main process exits.
    fn wait(&self, handle: &TaskHandle) -> Result<ExitResult, DriverError>;
    /// Sends `signal` to the running task (`alloc signal`); a task that already ended is
    /// not an error.
    fn signal(&self, handle: &TaskHandle, signal: &str) -> Result<(), DriverError>;
    /// Sends `signal` (empty: SIGTERM); after `timeout`, kills every process of the task.
    fn stop(&self, handle: &TaskHandle, signal: &str, timeout: Duration) -> Result<(), DriverError>;
    /// Kills what is left of the task and releases its cgroup and root filesystem.
    fn destroy(&self, handle: &TaskHandle) -> Result<(), DriverError>;
    /// The task's resource usage so far; drivers that cannot measure it say so.
    fn stats(&self, handle: &TaskHandle) -> Result<TaskStats, DriverError> {
        let _ = handle;
        Err(DriverError::NoStats)
    }
    /// Runs a command inside the running task and returns its output (`alloc exec`);
    /// drivers that cannot say so.
    fn exec(&self, handle: &TaskHandle, request: &ExecRequest) -> Result<ExecOutput, DriverError> {
        let _ = (handle, request);
        Err(DriverError::Exec(format!("the {} driver cannot run commands in its tasks", self.name())))
    }
    /// Removes what the driver left of tasks of allocations under `allocs_root` (the
    /// agent's allocation directories) that are not in `tracked_allocs`, such as the
    /// containers of an agent that crashed; returns what it removed (driver-specific
    /// ids). The default removes nothing.
    fn cleanup_untracked(&self, allocs_root: &Path, tracked_allocs: &[String]) -> Result<Vec<String>, DriverError> {
        let _ = (allocs_root, tracked_allocs);
        Ok(Vec::new())
    }
}

/// The drivers this agent offers: exec and java (their tasks see the host paths of
/// `chroot_env`), raw_exec only when the agent config enables it, and docker always (its
/// fingerprint says whether an engine answers at `docker.endpoint`).
pub fn all_drivers(raw_exec_enabled: bool, chroot_env: ChrootEnv, docker: &DockerOptions) -> Vec<Box<dyn Driver>> {
    let mut drivers: Vec<Box<dyn Driver>> =
        vec![Box::new(ExecDriver::new(chroot_env.clone())), Box::new(JavaDriver::new(chroot_env))];
    if raw_exec_enabled {
        drivers.push(Box::new(RawExecDriver));
    }
    drivers.push(Box::new(DockerDriver::new(docker)));
    drivers
}

/// Checks a task's driver config before the job is accepted. Drivers this build does not
/// know are left to the node that has them.
pub fn validate_config(driver: &str, config: &serde_json::Value) -> Result<(), DriverError> {
    match driver {
        "exec" | "raw_exec" => process::CommandConfig::parse(config).map(|_| ()),
        "java" => java::JavaConfig::parse(config).map(|_| ()),
        "docker" => docker::DockerConfig::parse(config).map(|_| ()),
        _ => Ok(()),
    }
}
