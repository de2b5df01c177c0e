//! Periodic jobs: when a job's `periodic` block says it launches next (its cron specs in
//! its `time_zone`), and the ID of the child job a launch creates.

pub mod cron;

use crate::structs::PeriodicConfig;
use cron::{CronError, CronSpec};
use jiff::tz::TimeZone;
use jiff::Timestamp;

/// Why a `periodic` block cannot be scheduled.
#[derive(Debug, thiserror::Error)]
pub enum PeriodicError {
    #[error("periodic: cron spec {spec:?}: {source}")]
    Spec { spec: String, source: CronError },
    #[error("periodic: unknown time_zone {0:?}")]
    TimeZone(String),
    #[error("periodic: spec_type {0:?} is not supported (only \"cron\")")]
    SpecType(String),
    #[error("periodic: a cron spec is required")]
    NoSpec,
}

/// A periodic block, checked and ready to compute launch times.
pub struct Schedule {
    specs: Vec<CronSpec>,
    tz: TimeZone,
}

impl Schedule {
    pub fn new(config: &PeriodicConfig) -> Result<Schedule, PeriodicError> {
        if !config.spec_type.is_empty() && config.spec_type != "cron" {
            return Err(PeriodicError::SpecType(config.spec_type.clone()));
        }
        let texts: Vec<&String> =
            std::iter::once(&config.spec).chain(&config.specs).filter(|s| !s.is_empty()).collect();
        if texts.is_empty() {
            return Err(PeriodicError::NoSpec);
        }
        let specs = texts
            .into_iter()
            .map(|s| CronSpec::parse(s).map_err(|source| PeriodicError::Spec { spec: s.clone(), source }))
            .collect::<Result<_, _>>()?;
        let tz = match config.time_zone.as_str() {
            "" | "UTC" => TimeZone::UTC,
            "Local" => TimeZone::system(),
            name => TimeZone::get(name).map_err(|_| PeriodicError::TimeZone(name.to_string()))?,
        };
        Ok(Schedule { specs, tz })
    }

    /// The earliest launch of any spec strictly after `after`.
    pub fn next_after(&self, after: Timestamp) -> Option<Timestamp> {
        self.specs.iter().filter_map(|s| s.next_after(after, &self.tz)).min()
    }
}

/// The ID of the child a launch at `at` creates, as Nomad names it.
pub fn child_id(parent: &str, at: Timestamp) -> String {
    format!("{parent}/periodic-{}", at.as_second())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn several_specs_launch_at_the_earliest_and_bad_blocks_are_explained() {
        let config = PeriodicConfig {
            enabled: true,
            spec: "0 12 * * *".into(),
            specs: vec!["0 6 * * *".into()],
            time_zone: "America/New_York".into(),
            ..PeriodicConfig::default()
        };
        let schedule = Schedule::new(&config).unwrap();
        let after: Timestamp = "2026-11-25T12:00:00Z".parse().unwrap();
        // 12:00 UTC is 07:00 in New York: the next launch is noon there, 17:00 UTC.
        assert_eq!(schedule.next_after(after).unwrap().to_string(), "2026-11-25T17:00:00Z");
        let bad_zone = PeriodicConfig { time_zone: "Mars/Olympus".into(), ..config.clone() };
        assert_eq!(Schedule::new(&bad_zone).err().unwrap().to_string(), "periodic: unknown time_zone \"Mars/Olympus\"");
        let bad_spec = PeriodicConfig { spec: "every day".into(), ..config };
        assert!(Schedule::new(&bad_spec).err().unwrap().to_string().starts_with("periodic: cron spec \"every day\""));
        assert_eq!(child_id("backup", after), "backup/periodic-1795608000");
    }
}
