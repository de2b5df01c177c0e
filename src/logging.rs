//! The agent's log output, in Nomad's line format:
//! `2026-11-25T10:00:00.000Z [INFO]  client: node registered`.

use log::{Level, LevelFilter, Log, Metadata, Record};
use std::io::Write;

struct AgentLogger {
    level: LevelFilter,
}

impl Log for AgentLogger {
    fn enabled(&self, metadata: &Metadata) -> bool {
        metadata.level() <= self.level
    }

    fn log(&self, record: &Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let level = match record.level() {
            Level::Error => "[ERROR]",
            Level::Warn => "[WARN] ",
            Level::Info => "[INFO] ",
            Level::Debug => "[DEBUG]",
            Level::Trace => "[TRACE]",
        };
        let target = record.target().split("::").last().unwrap_or("agent");
        let line = format!(
            "{} {level} {target}: {}\n",
            crate::timefmt::rfc3339(crate::structs::now_nanos(), true),
            record.args()
        );
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }

    fn flush(&self) {}
}

/// Parses Nomad's level names (TRACE, DEBUG, INFO, WARN, ERROR; any case).
pub fn parse_level(name: &str) -> Option<LevelFilter> {
    match name.to_ascii_uppercase().as_str() {
        "TRACE" => Some(LevelFilter::Trace),
        "DEBUG" => Some(LevelFilter::Debug),
        "INFO" => Some(LevelFilter::Info),
        "WARN" | "WARNING" => Some(LevelFilter::Warn),
        "ERROR" => Some(LevelFilter::Error),
        "OFF" => Some(LevelFilter::Off),
        _ => None,
    }
}

/// Installs the logger once for the process.
pub fn init(level: LevelFilter) {
    if log::set_boxed_logger(Box::new(AgentLogger { level })).is_ok() {
        log::set_max_level(level);
    }
}
