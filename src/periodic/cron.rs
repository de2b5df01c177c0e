//! Cron specifications as periodic jobs write them: five fields (minute hour day-of-month
//! month day-of-week), or six with leading seconds, with `*`, `?`, lists, ranges, steps and
//! month and weekday names, or a shorthand (`@hourly`, `@daily`, `@weekly`, `@monthly`,
//! `@yearly`). Next launch times are worked out on the wall clock of a time zone, so
//! "every day at 02:30" stays at 02:30 across daylight saving changes.

use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;
use jiff::Timestamp;

/// Why a cron specification was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CronError {
    #[error("expected 5 or 6 fields (or @hourly, @daily, @weekly, @monthly, @yearly), got {0}")]
    FieldCount(usize),
    #[error("{field} field {text:?}: {why}")]
    Field { field: &'static str, text: String, why: String },
}

/// A parsed cron specification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronSpec {
    seconds: u64,
    minutes: u64,
    hours: u64,
    days: u64,
    months: u64,
    weekdays: u64,
    /// Whether day-of-month and day-of-week were both restricted: then either matches.
    either_day: bool,
}

struct FieldKind {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
}

const SECOND: FieldKind = FieldKind { name: "seconds", min: 0, max: 59, names: &[] };
const MINUTE: FieldKind = FieldKind { name: "minute", min: 0, max: 59, names: &[] };
const HOUR: FieldKind = FieldKind { name: "hour", min: 0, max: 23, names: &[] };
const DAY: FieldKind = FieldKind { name: "day-of-month", min: 1, max: 31, names: &[] };
const MONTH: FieldKind = FieldKind {
    name: "month",
    min: 1,
    max: 12,
    names: &["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"],
};
const WEEKDAY: FieldKind =
    FieldKind { name: "day-of-week", min: 0, max: 7, names: &["sun", "mon", "tue", "wed", "thu", "fri", "sat"] };

impl FieldKind {
    fn value(&self, text: &str) -> Result<u32, String> {
        let lower = text.to_ascii_lowercase();
        if let Some(i) = self.names.iter().position(|n| *n == lower) {
            return Ok(i as u32 + self.min);
        }
        let value: u32 = text.parse().map_err(|_| format!("{text:?} is not a number or a name"))?;
        if value < self.min || value > self.max {
            return Err(format!("{value} is outside {}-{}", self.min, self.max));
        }
        Ok(value)
    }

    /// The field's allowed values as a bit set.
    fn parse(&self, text: &str) -> Result<u64, CronError> {
        let err = |why: String| CronError::Field { field: self.name, text: text.to_string(), why };
        let mut bits = 0u64;
        for part in text.split(',') {
            let (range, step) = match part.split_once('/') {
                Some((range, step)) => {
                    let step: u32 = step.parse().map_err(|_| err(format!("step {step:?} is not a number")))?;
                    if step == 0 {
                        return Err(err("a step of 0".into()));
                    }
                    (range, step)
                }
                None => (part, 1),
            };
            let (low, high) = match range {
                "*" | "?" => (self.min, self.max),
                _ => match range.split_once('-') {
                    Some((low, high)) => (self.value(low).map_err(err)?, self.value(high).map_err(err)?),
                    None => {
                        let value = self.value(range).map_err(err)?;
                        (value, if part.contains('/') { self.max } else { value })
                    }
                },
            };
            if low > high {
                return Err(err(format!("range {low}-{high} runs backwards")));
            }
            for value in (low..=high).step_by(step as usize) {
                bits |= 1 << value;
            }
        }
        Ok(bits)
    }
}

fn has(bits: u64, value: i8) -> bool {
    bits & (1 << value) != 0
}

impl CronSpec {
    pub fn parse(spec: &str) -> Result<CronSpec, CronError> {
        let expanded = match spec.trim() {
            "@yearly" | "@annually" => "0 0 1 1 *",
            "@monthly" => "0 0 1 * *",
            "@weekly" => "0 0 * * 0",
            "@daily" | "@midnight" => "0 0 * * *",
            "@hourly" => "0 * * * *",
            other => other,
        };
        let fields: Vec<&str> = expanded.split_whitespace().collect();
        let (seconds, rest) = match fields.len() {
            5 => (1, &fields[..]),
            6 => (SECOND.parse(fields[0])?, &fields[1..]),
            n => return Err(CronError::FieldCount(n)),
        };
        let mut weekdays = WEEKDAY.parse(rest[4])?;
        if has(weekdays, 7) {
            weekdays = (weekdays | 1) & !(1 << 7);
        }
        let restricted = |f: &str| f != "*" && f != "?";
        Ok(CronSpec {
            seconds,
            minutes: MINUTE.parse(rest[0])?,
            hours: HOUR.parse(rest[1])?,
            days: DAY.parse(rest[2])?,
            months: MONTH.parse(rest[3])?,
            weekdays,
            either_day: restricted(rest[2]) && restricted(rest[4]),
        })
    }

    fn day_matches(&self, date: Date) -> bool {
        let dom = has(self.days, date.day());
        let dow = has(self.weekdays, date.weekday().to_sunday_zero_offset());
        if self.either_day {
            dom || dow
        } else {
            dom && dow
        }
    }

    /// The first launch strictly after `after`, on the wall clock of `tz`; `None` if there
    /// is none within the next five years (e.g. February 30th).
    pub fn next_after(&self, after: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
        let start = tz.to_datetime(after);
        let mut at = start.with().subsec_nanosecond(0).build().ok()?;
        let limit = start.date().checked_add(jiff::Span::new().years(5)).ok()?;
        while at.date() <= limit {
            let next = if !has(self.months, at.month()) {
                first_of_next_month(at.date())?.at(0, 0, 0, 0)
            } else if !self.day_matches(at.date()) {
                at.date().tomorrow().ok()?.at(0, 0, 0, 0)
            } else if !has(self.hours, at.hour()) {
                next_hour(at)?
            } else if !has(self.minutes, at.minute()) {
                next_minute(at)?
            } else if !has(self.seconds, at.second()) {
                at.checked_add(jiff::Span::new().seconds(1)).ok()?
            } else {
                let launch = tz.to_ambiguous_timestamp(at).compatible().ok()?;
                if launch > after {
                    return Some(launch);
                }
                at.checked_add(jiff::Span::new().seconds(1)).ok()?
            };
            at = next;
        }
        None
    }
}

fn first_of_next_month(date: Date) -> Option<Date> {
    date.first_of_month().checked_add(jiff::Span::new().months(1)).ok()
}

fn next_hour(at: DateTime) -> Option<DateTime> {
    at.with().minute(0).second(0).build().ok()?.checked_add(jiff::Span::new().hours(1)).ok()
}

fn next_minute(at: DateTime) -> Option<DateTime> {
    at.with().second(0).build().ok()?.checked_add(jiff::Span::new().minutes(1)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(tz: &TimeZone, text: &str) -> Timestamp {
        let dt: DateTime = text.parse().unwrap();
        tz.to_ambiguous_timestamp(dt).compatible().unwrap()
    }

    fn next(spec: &str, tz: &TimeZone, after: &str) -> String {
        let next = CronSpec::parse(spec).unwrap().next_after(at(tz, after), tz).unwrap();
        tz.to_datetime(next).to_string()
    }

    #[test]
    fn common_schedules() {
        let utc = TimeZone::UTC;
        assert_eq!(next("*/15 * * * *", &utc, "2026-11-25T10:07:30"), "2026-11-25T10:15:00");
        assert_eq!(next("@hourly", &utc, "2026-11-25T10:00:00"), "2026-11-25T11:00:00");
        assert_eq!(next("30 2 * * *", &utc, "2026-11-25T03:00:00"), "2026-11-26T02:30:00");
        assert_eq!(next("0 9 * * mon-fri", &utc, "2026-11-27T10:00:00"), "2026-11-30T09:00:00", "Friday to Monday");
        assert_eq!(next("0 0 1 jan,jul *", &utc, "2026-11-25T00:00:00"), "2027-01-01T00:00:00");
        assert_eq!(next("*/20 * * * * *", &utc, "2026-11-25T10:00:05"), "2026-11-25T10:00:20");
        assert_eq!(next("0 0 29 2 *", &utc, "2026-03-01T00:00:00"), "2028-02-29T00:00:00", "leap days");
        assert_eq!(next("0 12 13 * 5", &utc, "2026-11-25T00:00:00"), "2026-11-27T12:00:00", "day-of-month or weekday");
        assert_eq!(next("0 0 * * 7", &utc, "2026-11-25T00:00:00"), "2026-11-29T00:00:00", "7 is Sunday");
        assert!(CronSpec::parse("0 0 30 2 *").unwrap().next_after(at(&utc, "2026-01-01T00:00:00"), &utc).is_none());
    }

    #[test]
    fn wall_clock_times_hold_across_daylight_saving() {
        let berlin = TimeZone::get("Europe/Berlin").expect("the system has zoneinfo");
        // Clocks go back on 2026-10-25 at 03:00: a daily 02:30 still runs at 02:30 local.
        assert_eq!(next("30 2 * * *", &berlin, "2026-10-24T12:00:00"), "2026-10-25T02:30:00");
        assert_eq!(next("30 2 * * *", &berlin, "2026-10-25T12:00:00"), "2026-10-26T02:30:00");
        // In the spring gap 02:30 does not exist: it runs at the first valid instant after.
        assert_eq!(next("30 2 * * *", &berlin, "2026-03-28T12:00:00"), "2026-03-29T03:30:00");
    }

    #[test]
    fn mistakes_name_the_field() {
        let err = |spec: &str| CronSpec::parse(spec).unwrap_err().to_string();
        assert_eq!(err("* * *"), "expected 5 or 6 fields (or @hourly, @daily, @weekly, @monthly, @yearly), got 3");
        assert_eq!(err("61 * * * *"), "minute field \"61\": 61 is outside 0-59");
        assert_eq!(err("* * * foo *"), "month field \"foo\": \"foo\" is not a number or a name");
        assert_eq!(err("*/0 * * * *"), "minute field \"*/0\": a step of 0");
        assert_eq!(err("* 5-2 * * *"), "hour field \"5-2\": range 5-2 runs backwards");
        assert_eq!(err("* * L * *"), "day-of-month field \"L\": \"L\" is not a number or a name");
    }
}
