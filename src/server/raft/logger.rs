//! Forwards raft-rs's slog records to the `log` crate under the target "raft".

use slog::{Drain, Level, OwnedKVList, Record};

struct LogDrain;

impl Drain for LogDrain {
    type Ok = ();
    type Err = slog::Never;

    fn log(&self, record: &Record, _values: &OwnedKVList) -> Result<(), slog::Never> {
        // raft-rs is chatty at info; its info and below are debug for the agent.
        let level = match record.level() {
            Level::Critical | Level::Error => log::Level::Error,
            Level::Warning => log::Level::Warn,
            Level::Info | Level::Debug => log::Level::Debug,
            Level::Trace => log::Level::Trace,
        };
        if log::log_enabled!(target: "raft", level) {
            log::log!(target: "raft", level, "{}", record.msg());
        }
        Ok(())
    }
}

pub fn logger() -> slog::Logger {
    slog::Logger::root(LogDrain.fuse(), slog::o!())
}
