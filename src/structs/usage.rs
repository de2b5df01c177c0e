//! Resource usage of allocations and tasks, as `/v1/client/allocation/:id/stats` reports
//! it in Nomad's shape.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct MemoryStats {
    #[serde(rename = "RSS")]
    pub rss: u64,
    pub cache: u64,
    pub usage: u64,
    pub max_usage: u64,
    pub swap: u64,
    /// Which of the fields were measured.
    pub measured: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct CpuStats {
    /// Percent of one core spent in the kernel and in user mode over the sample.
    pub system_mode: f64,
    pub user_mode: f64,
    /// Percent of one core used over the sample (above 100 on several cores).
    pub percent: f64,
    pub total_ticks: f64,
    pub throttled_periods: u64,
    pub throttled_time: u64,
    pub measured: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ResourceUsage {
    pub memory_stats: MemoryStats,
    pub cpu_stats: CpuStats,
}

impl ResourceUsage {
    /// The sum of several tasks' usage.
    pub fn sum<'a>(parts: impl IntoIterator<Item = &'a ResourceUsage>) -> ResourceUsage {
        let mut total = ResourceUsage::default();
        for part in parts {
            let (m, c) = (&part.memory_stats, &part.cpu_stats);
            total.memory_stats.rss += m.rss;
            total.memory_stats.cache += m.cache;
            total.memory_stats.usage += m.usage;
            total.cpu_stats.system_mode += c.system_mode;
            total.cpu_stats.user_mode += c.user_mode;
            total.cpu_stats.percent += c.percent;
            total.memory_stats.measured.clone_from(&m.measured);
            total.cpu_stats.measured.clone_from(&c.measured);
        }
        total
    }
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct TaskResourceUsage {
    pub resource_usage: ResourceUsage,
    /// When the sample ended, in nanoseconds since the epoch.
    pub timestamp: i64,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct AllocResourceUsage {
    pub resource_usage: ResourceUsage,
    pub tasks: BTreeMap<String, TaskResourceUsage>,
    pub timestamp: i64,
}
