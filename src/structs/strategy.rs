//! How a job's allocations are updated, migrated, rescheduled, run periodically or
//! dispatched, and what happens when their client disconnects.

use super::duration_nanos;
use super::JobType;
use serde::{Deserialize, Serialize};
use std::time::Duration;

const SECOND: Duration = Duration::from_secs(1);
const MINUTE: Duration = Duration::from_secs(60);

/// Rolling updates (`update` block).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct UpdateStrategy {
    #[serde(with = "duration_nanos")]
    pub stagger: Duration,
    pub max_parallel: u32,
    pub health_check: String,
    #[serde(with = "duration_nanos")]
    pub min_healthy_time: Duration,
    #[serde(with = "duration_nanos")]
    pub healthy_deadline: Duration,
    #[serde(with = "duration_nanos")]
    pub progress_deadline: Duration,
    pub auto_revert: bool,
    pub auto_promote: bool,
    pub canary: u32,
}

impl Default for UpdateStrategy {
    fn default() -> Self {
        UpdateStrategy {
            stagger: 30 * SECOND,
            max_parallel: 1,
            health_check: "checks".into(),
            min_healthy_time: 10 * SECOND,
            healthy_deadline: 5 * MINUTE,
            progress_deadline: 10 * MINUTE,
            auto_revert: false,
            auto_promote: false,
            canary: 0,
        }
    }
}

/// Moving allocations off draining nodes (`migrate` block).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct MigrateStrategy {
    pub max_parallel: u32,
    pub health_check: String,
    #[serde(with = "duration_nanos")]
    pub min_healthy_time: Duration,
    #[serde(with = "duration_nanos")]
    pub healthy_deadline: Duration,
}

impl Default for MigrateStrategy {
    fn default() -> Self {
        MigrateStrategy {
            max_parallel: 1,
            health_check: "checks".into(),
            min_healthy_time: 10 * SECOND,
            healthy_deadline: 5 * MINUTE,
        }
    }
}

/// Placing failed allocations again, on another node (`reschedule` block).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ReschedulePolicy {
    pub attempts: u32,
    #[serde(with = "duration_nanos")]
    pub interval: Duration,
    #[serde(with = "duration_nanos")]
    pub delay: Duration,
    pub delay_function: String,
    #[serde(with = "duration_nanos")]
    pub max_delay: Duration,
    pub unlimited: bool,
}

impl Default for ReschedulePolicy {
    fn default() -> Self {
        ReschedulePolicy::for_job_type(JobType::Service)
    }
}

impl ReschedulePolicy {
    /// Nomad's defaults: services retry forever with exponential back-off; batch jobs once.
    pub fn for_job_type(job_type: JobType) -> Self {
        match job_type {
            JobType::Batch | JobType::Sysbatch => ReschedulePolicy {
                attempts: 1,
                interval: 24 * 60 * MINUTE,
                delay: 5 * SECOND,
                delay_function: "constant".into(),
                max_delay: Duration::ZERO,
                unlimited: false,
            },
            JobType::Service | JobType::System => ReschedulePolicy {
                attempts: 0,
                interval: Duration::ZERO,
                delay: 30 * SECOND,
                delay_function: "exponential".into(),
                max_delay: 60 * MINUTE,
                unlimited: true,
            },
        }
    }
}

/// Running a batch job on a schedule (`periodic` block).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct PeriodicConfig {
    pub enabled: bool,
    pub spec: String,
    pub specs: Vec<String>,
    pub spec_type: String,
    pub prohibit_overlap: bool,
    pub time_zone: String,
}

impl Default for PeriodicConfig {
    fn default() -> Self {
        PeriodicConfig {
            enabled: true,
            spec: String::new(),
            specs: Vec::new(),
            spec_type: "cron".into(),
            prohibit_overlap: false,
            time_zone: "UTC".into(),
        }
    }
}

/// A job that runs once per dispatch (`parameterized` block).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ParameterizedJobConfig {
    pub payload: String,
    pub meta_required: Vec<String>,
    pub meta_optional: Vec<String>,
}

impl Default for ParameterizedJobConfig {
    fn default() -> Self {
        ParameterizedJobConfig { payload: "optional".into(), meta_required: Vec::new(), meta_optional: Vec::new() }
    }
}

/// What happens to a group's allocations when their client disconnects (`disconnect`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DisconnectStrategy {
    #[serde(with = "duration_nanos")]
    pub lost_after: Duration,
    pub replace: Option<bool>,
    pub reconcile: String,
    #[serde(with = "duration_nanos")]
    pub stop_on_client_after: Duration,
}

/// A `disconnect` setting, else its older group-level form; zero counts as unset.
fn set_one(current: Option<Duration>, older: Option<Duration>) -> Option<Duration> {
    current.filter(|d| !d.is_zero()).or(older).filter(|d| !d.is_zero())
}

impl crate::structs::TaskGroup {
    /// How long the group's allocations on a node that stopped heartbeating wait for it
    /// (marked unknown) before they are lost: `disconnect { lost_after }` or the older
    /// `max_client_disconnect`; `None` when they are lost at once.
    pub fn disconnect_window(&self) -> Option<Duration> {
        set_one(self.disconnect.as_ref().map(|d| d.lost_after), self.max_client_disconnect)
    }

    /// How long the client keeps the group's allocations running while it cannot reach
    /// any server (`disconnect { stop_on_client_after }`, or the older
    /// `stop_after_client_disconnect`); `None` when it keeps them running.
    pub fn stop_when_cut_off(&self) -> Option<Duration> {
        set_one(self.disconnect.as_ref().map(|d| d.stop_on_client_after), self.stop_after_client_disconnect)
    }

    /// Whether the group's unknown allocations are replaced while their node is away
    /// (Nomad's default).
    pub fn replaces_disconnected(&self) -> bool {
        self.disconnect.as_ref().and_then(|d| d.replace).unwrap_or(true)
    }

    /// Whether, when a disconnected node comes back, its allocations give way to their
    /// replacements (`reconcile = "keep_replacement"`) rather than the other way round.
    pub fn keeps_replacements(&self) -> bool {
        self.disconnect.as_ref().is_some_and(|d| d.reconcile == "keep_replacement")
    }
}

/// Limits for autoscaling a group (`scaling` block).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ScalingPolicy {
    pub min: Option<i64>,
    pub max: Option<i64>,
    pub enabled: bool,
    pub policy: serde_json::Map<String, serde_json::Value>,
}
