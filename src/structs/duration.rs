//! Serde support for durations as integer nanoseconds, the form Nomad's JSON API uses.

/// `#[serde(with = "duration_nanos")]` for `std::time::Duration` fields.
pub mod duration_nanos {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i64(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let nanos = i64::deserialize(d)?;
        u64::try_from(nanos)
            .map(Duration::from_nanos)
            .map_err(|_| serde::de::Error::custom(format!("duration must not be negative, got {nanos}")))
    }
}

/// `#[serde(with = "duration_nanos_opt")]` for `Option<Duration>` fields (null when unset).
pub mod duration_nanos_opt {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => super::duration_nanos::serialize(d, s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        match Option::<i64>::deserialize(d)? {
            None => Ok(None),
            Some(nanos) => u64::try_from(nanos)
                .map(|n| Some(Duration::from_nanos(n)))
                .map_err(|_| serde::de::Error::custom(format!("duration must not be negative, got {nanos}"))),
        }
    }
}
