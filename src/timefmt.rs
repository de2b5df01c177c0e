//! RFC 3339 timestamps without a date-time dependency.

/// A Unix time in nanoseconds as `YYYY-MM-DDTHH:MM:SSZ`, with milliseconds if asked.
pub fn rfc3339(nanos: i64, with_millis: bool) -> String {
    let secs = nanos.div_euclid(1_000_000_000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    let time = format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}", rem / 3600, rem % 3600 / 60, rem % 60);
    if with_millis {
        format!("{time}.{:03}Z", nanos.rem_euclid(1_000_000_000) / 1_000_000)
    } else {
        format!("{time}Z")
    }
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::rfc3339;

    #[test]
    fn formats_known_instants() {
        assert_eq!(rfc3339(1_700_000_000_000_000_000, false), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(951_782_400_000_000_000, false), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000_123_456_789, true), "2023-11-14T22:13:20.123Z");
    }
}
