//! Garbage collection of finished allocations' directories, as Nomad's client does it:
//! every `gc_interval`, the oldest directories of allocations that no longer run are
//! removed while more than `gc_max_allocs` of them are kept or while the disk holding them
//! is fuller than `gc_disk_usage_threshold` percent.

use std::path::Path;
use std::time::{Duration, SystemTime};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GcConfig {
    pub interval: Duration,
    pub max_allocs: usize,
    /// Percent of the disk in use above which finished allocations are removed.
    pub disk_usage_threshold: f64,
}

impl Default for GcConfig {
    /// Nomad's defaults.
    fn default() -> GcConfig {
        GcConfig { interval: Duration::from_secs(60), max_allocs: 50, disk_usage_threshold: 80.0 }
    }
}

/// Which of the finished allocations (id, last change) to remove, oldest first: the oldest
/// beyond `max_allocs`, then more of the oldest while `disk_full(removed so far)` says the
/// disk is still too full.
pub fn choose(
    mut finished: Vec<(String, SystemTime)>,
    config: &GcConfig,
    mut disk_full: impl FnMut(usize) -> bool,
) -> Vec<String> {
    finished.sort_by_key(|(_, changed)| *changed);
    let over = finished.len().saturating_sub(config.max_allocs);
    let mut doomed: Vec<String> = finished.drain(..over).map(|(id, _)| id).collect();
    for (id, _) in finished {
        if !disk_full(doomed.len()) {
            break;
        }
        doomed.push(id);
    }
    doomed
}

/// Percent of the filesystem holding `path` in use.
pub fn disk_usage_percent(path: &Path) -> Option<f64> {
    let c_path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).ok()?;
    // SAFETY: statvfs writes into the zeroed struct; the path is NUL-terminated.
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c_path.as_ptr(), &mut stat) } != 0 || stat.f_blocks == 0 {
        return None;
    }
    let used = stat.f_blocks.saturating_sub(stat.f_bavail) as f64;
    Some(used * 100.0 / stat.f_blocks as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn the_oldest_go_first_beyond_the_count_and_while_the_disk_is_full() {
        let finished = vec![("c".to_string(), at(3)), ("a".to_string(), at(1)), ("b".to_string(), at(2))];
        let config = GcConfig { max_allocs: 2, ..GcConfig::default() };
        assert_eq!(choose(finished.clone(), &config, |_| false), ["a"]);
        // A full disk takes more, until removing them relieved it.
        assert_eq!(choose(finished.clone(), &config, |removed| removed < 2), ["a", "b"]);
        let roomy = GcConfig { max_allocs: 10, ..GcConfig::default() };
        assert!(choose(finished, &roomy, |_| false).is_empty());
    }

    #[test]
    fn disk_usage_is_a_percentage() {
        let usage = disk_usage_percent(Path::new("/")).unwrap();
        assert!((0.0..=100.0).contains(&usage), "{usage}");
    }
}
