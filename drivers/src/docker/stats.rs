//! A container's resource usage from the engine (`GET /containers/:id/stats?stream=false`),
//! in the driver-level shape the client publishes. The engine reports the kernel's cgroup
//! figures: memory usage, RSS (cgroup v1) or anonymous memory (v2), page cache (v1) or file
//! memory (v2), and CPU time in nanoseconds.

use crate::TaskStats;
use serde_json::Value;

/// Reads the engine's answer; absent figures count as zero.
pub fn from_engine(stats: &Value, collected_at_unix_ns: u64) -> TaskStats {
    let number = |v: &Value| v.as_u64().unwrap_or(0);
    let memory = &stats["memory_stats"];
    let detail = &memory["stats"];
    let either = |v1: &str, v2: &str| number(&detail[v1]).max(number(&detail[v2]));
    let cpu = &stats["cpu_stats"]["cpu_usage"];
    TaskStats {
        memory_bytes: number(&memory["usage"]),
        memory_rss_bytes: either("rss", "anon"),
        memory_cache_bytes: either("cache", "file"),
        cpu_total_ns: number(&cpu["total_usage"]),
        cpu_user_ns: number(&cpu["usage_in_usermode"]),
        cpu_system_ns: number(&cpu["usage_in_kernelmode"]),
        collected_at_unix_ns,
    }
}

#[cfg(test)]
mod tests {
    use super::from_engine;
    use serde_json::json;

    #[test]
    fn reads_cgroup_v1_and_v2_answers() {
        let v1 = json!({
            "memory_stats": { "usage": 9000, "stats": { "rss": 4000, "cache": 3000 } },
            "cpu_stats": { "cpu_usage": { "total_usage": 500, "usage_in_usermode": 300, "usage_in_kernelmode": 200 } }
        });
        let stats = from_engine(&v1, 7);
        assert_eq!((stats.memory_bytes, stats.memory_rss_bytes, stats.memory_cache_bytes), (9000, 4000, 3000));
        assert_eq!(
            (stats.cpu_total_ns, stats.cpu_user_ns, stats.cpu_system_ns, stats.collected_at_unix_ns),
            (500, 300, 200, 7)
        );
        let v2 = json!({ "memory_stats": { "usage": 10, "stats": { "anon": 6, "file": 2 } }, "cpu_stats": {} });
        let stats = from_engine(&v2, 1);
        assert_eq!((stats.memory_rss_bytes, stats.memory_cache_bytes, stats.cpu_total_ns), (6, 2, 0));
    }
}
