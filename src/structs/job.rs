//! Jobs, task groups and tasks: what a user submits.

use super::{
    duration_nanos, duration_nanos_opt, Affinity, Constraint, DisconnectStrategy, DispatchPayloadConfig,
    MigrateStrategy, NetworkResource, ParameterizedJobConfig, PeriodicConfig, ReschedulePolicy, ScalingPolicy, Service,
    Spread, TaskArtifact, TaskLifecycle, Template, UpdateStrategy, VolumeMount, VolumeRequest,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// The kind of scheduling a job asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobType {
    #[default]
    Service,
    Batch,
    System,
    Sysbatch,
}

impl JobType {
    pub fn as_str(self) -> &'static str {
        match self {
            JobType::Service => "service",
            JobType::Batch => "batch",
            JobType::System => "system",
            JobType::Sysbatch => "sysbatch",
        }
    }
}

impl std::fmt::Display for JobType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A job's overall status, derived from its allocations and evaluations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    #[default]
    Pending,
    Running,
    Dead,
}

impl std::fmt::Display for JobStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            JobStatus::Pending => "pending",
            JobStatus::Running => "running",
            JobStatus::Dead => "dead",
        })
    }
}

/// A job as Nomad's API represents it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Job {
    #[serde(rename = "ID")]
    pub id: String,
    pub name: String,
    pub namespace: String,
    pub region: String,
    #[serde(rename = "Type")]
    pub job_type: JobType,
    pub priority: i32,
    pub datacenters: Vec<String>,
    pub node_pool: String,
    pub all_at_once: bool,
    pub constraints: Vec<Constraint>,
    pub affinities: Vec<Affinity>,
    pub spreads: Vec<Spread>,
    pub update: Option<UpdateStrategy>,
    pub periodic: Option<PeriodicConfig>,
    pub parameterized_job: Option<ParameterizedJobConfig>,
    /// Set on a job created by dispatching a parameterized job.
    pub dispatched: bool,
    #[serde(rename = "ParentID")]
    pub parent_id: String,
    /// A dispatched job's input, base64 as in Nomad's API.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub payload: String,
    pub meta: BTreeMap<String, String>,
    pub task_groups: Vec<TaskGroup>,
    /// Set when the job was stopped (deregistered without purge).
    pub stop: bool,
    pub status: JobStatus,
    pub status_description: String,
    pub version: u64,
    pub submit_time: i64,
    pub create_index: u64,
    pub modify_index: u64,
    pub job_modify_index: u64,
}

impl Job {
    pub fn task_group(&self, name: &str) -> Option<&TaskGroup> {
        self.task_groups.iter().find(|g| g.name == name)
    }

    /// Whether the job launches on a schedule (its children run, it does not).
    pub fn is_periodic(&self) -> bool {
        self.periodic.as_ref().is_some_and(|p| p.enabled)
    }

    /// Whether the job is a template for dispatched children rather than work itself.
    pub fn is_parameterized(&self) -> bool {
        self.parameterized_job.is_some() && !self.dispatched
    }

    /// The version this job gets when it is registered over `existing`: a new one when
    /// what it asks to run changed or it is started or stopped, else the same.
    pub fn version_over(&self, existing: &Job) -> u64 {
        if self.spec_changed(existing) || existing.stop != self.stop {
            existing.version + 1
        } else {
            existing.version
        }
    }

    /// Whether two versions of a job differ in what they ask to run, ignoring the
    /// bookkeeping fields the servers set (indexes, version, status, submit time).
    pub fn spec_changed(&self, other: &Job) -> bool {
        let strip = |j: &Job| Job {
            stop: false,
            status: JobStatus::Pending,
            status_description: String::new(),
            version: 0,
            submit_time: 0,
            create_index: 0,
            modify_index: 0,
            job_modify_index: 0,
            ..j.clone()
        };
        strip(self) != strip(other)
    }
}

/// A set of tasks placed together on one node.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct TaskGroup {
    pub name: String,
    pub count: u32,
    pub tasks: Vec<Task>,
    pub constraints: Vec<Constraint>,
    pub affinities: Vec<Affinity>,
    pub spreads: Vec<Spread>,
    pub networks: Vec<NetworkResource>,
    pub services: Vec<Service>,
    pub volumes: BTreeMap<String, VolumeRequest>,
    pub restart_policy: Option<RestartPolicy>,
    pub reschedule_policy: Option<ReschedulePolicy>,
    pub update: Option<UpdateStrategy>,
    pub migrate: Option<MigrateStrategy>,
    pub ephemeral_disk: Option<EphemeralDisk>,
    pub disconnect: Option<DisconnectStrategy>,
    #[serde(with = "duration_nanos_opt")]
    pub max_client_disconnect: Option<Duration>,
    #[serde(with = "duration_nanos_opt")]
    pub stop_after_client_disconnect: Option<Duration>,
    #[serde(with = "duration_nanos_opt")]
    pub shutdown_delay: Option<Duration>,
    pub scaling: Option<ScalingPolicy>,
    pub meta: BTreeMap<String, String>,
}

/// One unit of work run by a driver.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Task {
    pub name: String,
    pub driver: String,
    pub user: String,
    /// Driver-specific configuration, kept as data.
    pub config: serde_json::Map<String, serde_json::Value>,
    pub env: BTreeMap<String, String>,
    pub meta: BTreeMap<String, String>,
    pub resources: Resources,
    pub restart_policy: Option<RestartPolicy>,
    #[serde(with = "duration_nanos")]
    pub kill_timeout: Duration,
    pub kill_signal: String,
    pub log_config: Option<LogConfig>,
    pub services: Vec<Service>,
    pub artifacts: Vec<TaskArtifact>,
    pub templates: Vec<Template>,
    pub lifecycle: Option<TaskLifecycle>,
    pub leader: bool,
    pub constraints: Vec<Constraint>,
    pub affinities: Vec<Affinity>,
    pub volume_mounts: Vec<VolumeMount>,
    pub dispatch_payload: Option<DispatchPayloadConfig>,
    #[serde(with = "duration_nanos")]
    pub shutdown_delay: Duration,
    pub kind: String,
}

/// What a task asks of its node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Resources {
    #[serde(rename = "CPU")]
    pub cpu: u64,
    /// Whole cores reserved for the task (instead of `cpu` shares).
    pub cores: u32,
    #[serde(rename = "MemoryMB")]
    pub memory_mb: u64,
    #[serde(rename = "MemoryMaxMB")]
    pub memory_max_mb: u64,
    #[serde(rename = "DiskMB")]
    pub disk_mb: u64,
}

impl Resources {
    /// Adds `other`'s cpu, memory and disk to these.
    pub fn add(&mut self, other: &Resources) {
        self.cpu += other.cpu;
        self.cores += other.cores;
        self.memory_mb += other.memory_mb;
        self.disk_mb += other.disk_mb;
    }

    /// What is left after taking `other` away, never below zero (cpu, cores, memory, disk).
    pub fn saturating_sub(&self, other: &Resources) -> Resources {
        Resources {
            cpu: self.cpu.saturating_sub(other.cpu),
            cores: self.cores.saturating_sub(other.cores),
            memory_mb: self.memory_mb.saturating_sub(other.memory_mb),
            disk_mb: self.disk_mb.saturating_sub(other.disk_mb),
            ..*self
        }
    }
}

/// How a task is restarted on its node when it exits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RestartPolicy {
    pub attempts: u32,
    #[serde(with = "duration_nanos")]
    pub interval: Duration,
    #[serde(with = "duration_nanos")]
    pub delay: Duration,
    pub mode: RestartMode,
}

impl Default for RestartPolicy {
    fn default() -> Self {
        RestartPolicy::for_job_type(JobType::Service)
    }
}

impl RestartPolicy {
    /// Nomad's defaults: service jobs retry twice in 30m, batch jobs three times in 24h.
    pub fn for_job_type(job_type: JobType) -> Self {
        match job_type {
            JobType::Batch | JobType::Sysbatch => RestartPolicy {
                attempts: 3,
                interval: Duration::from_secs(24 * 3600),
                delay: Duration::from_secs(15),
                mode: RestartMode::Fail,
            },
            JobType::Service | JobType::System => RestartPolicy {
                attempts: 2,
                interval: Duration::from_secs(30 * 60),
                delay: Duration::from_secs(15),
                mode: RestartMode::Fail,
            },
        }
    }
}

/// What happens when a task runs out of restart attempts within the interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RestartMode {
    /// Give up: the task (and its allocation) fail.
    #[default]
    Fail,
    /// Wait until the interval has passed, then try again.
    Delay,
}

/// Local disk shared by a group's tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct EphemeralDisk {
    #[serde(rename = "SizeMB")]
    pub size_mb: u64,
    pub sticky: bool,
    pub migrate: bool,
}

impl Default for EphemeralDisk {
    fn default() -> Self {
        EphemeralDisk { size_mb: 300, sticky: false, migrate: false }
    }
}

/// Log rotation settings of a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct LogConfig {
    pub max_files: u32,
    #[serde(rename = "MaxFileSizeMB")]
    pub max_file_size_mb: u32,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig { max_files: 10, max_file_size_mb: 10 }
    }
}

/// Per-group counts of allocations by client status, as `/v1/job/:id/summary` reports.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct JobSummary {
    #[serde(rename = "JobID")]
    pub job_id: String,
    pub namespace: String,
    pub summary: BTreeMap<String, TaskGroupSummary>,
    pub create_index: u64,
    pub modify_index: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct TaskGroupSummary {
    pub queued: u64,
    pub complete: u64,
    pub failed: u64,
    pub running: u64,
    pub starting: u64,
    pub lost: u64,
    pub unknown: u64,
}

/// One row of `/v1/jobs`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct JobListStub {
    #[serde(rename = "ID")]
    pub id: String,
    pub name: String,
    pub namespace: String,
    #[serde(rename = "Type")]
    pub job_type: JobType,
    pub priority: i32,
    pub datacenters: Vec<String>,
    #[serde(rename = "ParentID")]
    pub parent_id: String,
    /// Whether the job launches on a schedule, or is a template for dispatches.
    pub periodic: bool,
    pub parameterized_job: bool,
    pub status: JobStatus,
    pub status_description: String,
    pub stop: bool,
    pub job_summary: JobSummary,
    pub submit_time: i64,
    pub create_index: u64,
    pub modify_index: u64,
    pub job_modify_index: u64,
}
