//! Signal names as job files write them (`SIGTERM`, `TERM`, `sigint`).

use crate::DriverError;
use nix::sys::signal::Signal;
use std::str::FromStr;

/// The signal a job file names; empty means SIGTERM.
pub fn parse(name: &str) -> Result<Signal, DriverError> {
    if name.is_empty() {
        return Ok(Signal::SIGTERM);
    }
    let upper = name.to_ascii_uppercase();
    let full = if upper.starts_with("SIG") { upper } else { format!("SIG{upper}") };
    Signal::from_str(&full).map_err(|_| DriverError::UnknownSignal(name.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_nomad_spellings() {
        assert_eq!(parse("").unwrap(), Signal::SIGTERM);
        assert_eq!(parse("SIGINT").unwrap(), Signal::SIGINT);
        assert_eq!(parse("hup").unwrap(), Signal::SIGHUP);
        assert!(parse("SIGNOPE").is_err());
    }
}
