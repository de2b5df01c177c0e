//! Reading a driver's `config` block: only known settings, as strings or lists of strings.

use crate::DriverError;
use serde_json::{Map, Value};

fn err(message: String) -> DriverError {
    DriverError::Config(message)
}

/// A driver's config block whose settings are all known.
pub struct Settings<'a> {
    map: &'a Map<String, Value>,
}

impl<'a> Settings<'a> {
    /// Refuses a config that is not a block or has a setting outside `known`.
    pub fn new(config: &'a Value, known: &[&str]) -> Result<Settings<'a>, DriverError> {
        let map = config.as_object().ok_or_else(|| err("expected a block of settings".into()))?;
        if let Some(unknown) = map.keys().find(|k| !known.contains(&k.as_str())) {
            let takes: Vec<String> = known.iter().map(|k| format!("{k:?}")).collect();
            return Err(err(format!("unknown setting {unknown:?} (this driver takes {})", takes.join(", "))));
        }
        Ok(Settings { map })
    }

    /// A string setting; an empty string counts as unset.
    pub fn string(&self, key: &str) -> Result<Option<String>, DriverError> {
        match self.map.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok((!s.is_empty()).then(|| s.clone())),
            Some(other) => Err(err(format!("{key:?} must be a string, got {other}"))),
        }
    }

    /// A string setting that must be set.
    pub fn required(&self, key: &str) -> Result<String, DriverError> {
        self.string(key)?.ok_or_else(|| err(format!("missing required field {key:?}")))
    }

    /// A list of strings; unset is empty.
    pub fn strings(&self, key: &str) -> Result<Vec<String>, DriverError> {
        match self.map.get(key) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|a| a.as_str().map(str::to_string).ok_or_else(|| err(format!("{key:?} must be strings, got {a}"))))
                .collect(),
            Some(other) => Err(err(format!("{key:?} must be a list of strings, got {other}"))),
        }
    }
}
