//! Rescheduling failed allocations by the group's `reschedule` policy: whether another
//! attempt is allowed, after which delay (`constant`, `exponential` or `fibonacci`, capped
//! by `max_delay`), and the history the replacement carries.

use crate::structs::{Allocation, RescheduleEvent, ReschedulePolicy, RescheduleTracker};
use std::time::Duration;

/// Failures this close to their reschedule time are rescheduled at once rather than by a
/// follow-up evaluation.
const WINDOW: Duration = Duration::from_secs(1);

/// What to do with a failed allocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The policy allows no more attempts: the allocation stays failed.
    Exhausted,
    /// Replace it now, with this history.
    Now(RescheduleTracker),
    /// Replace it at this time (nanoseconds since the epoch).
    Later(i64),
}

/// The delay before attempt number `previous + 1`.
pub fn delay(policy: &ReschedulePolicy, previous: usize) -> Duration {
    let base = policy.delay;
    let raw = match policy.delay_function.as_str() {
        "exponential" => base.saturating_mul(1u32.checked_shl(previous.min(31) as u32).unwrap_or(u32::MAX)),
        "fibonacci" => {
            let (mut a, mut b) = (1u32, 1u32);
            for _ in 0..previous {
                (a, b) = (b, a.saturating_add(b));
            }
            base.saturating_mul(a)
        }
        _ => base,
    };
    if policy.max_delay > Duration::ZERO && policy.delay_function != "constant" {
        raw.min(policy.max_delay)
    } else {
        raw
    }
}

/// When the allocation failed: its last task's end, else its last change.
fn failed_at(alloc: &Allocation) -> i64 {
    alloc.task_states.values().map(|t| t.finished_at).max().filter(|t| *t > 0).unwrap_or(alloc.modify_time)
}

/// Decides what to do with the failed `alloc` at time `now` (nanoseconds).
pub fn decide(alloc: &Allocation, policy: &ReschedulePolicy, now: i64) -> Decision {
    let events = alloc.reschedule_tracker.as_ref().map_or(&[][..], |t| &t.events[..]);
    if !policy.unlimited {
        let since = now.saturating_sub(policy.interval.as_nanos() as i64);
        let recent = events.iter().filter(|e| e.reschedule_time > since).count();
        if policy.attempts == 0 || recent >= policy.attempts as usize {
            return Decision::Exhausted;
        }
    }
    let wait = delay(policy, events.len());
    let at = failed_at(alloc).saturating_add(wait.as_nanos() as i64);
    if at > now + WINDOW.as_nanos() as i64 {
        return Decision::Later(at);
    }
    let mut tracker = alloc.reschedule_tracker.clone().unwrap_or_default();
    tracker.events.push(RescheduleEvent {
        reschedule_time: now,
        prev_alloc_id: alloc.id.clone(),
        prev_node_id: alloc.node_id.clone(),
        delay: wait.as_nanos() as i64,
    });
    Decision::Now(tracker)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::structs::{ClientStatus, JobType};

    const SECOND: i64 = 1_000_000_000;

    fn policy(function: &str, attempts: u32, unlimited: bool) -> ReschedulePolicy {
        ReschedulePolicy {
            attempts,
            interval: Duration::from_secs(3600),
            delay: Duration::from_secs(5),
            delay_function: function.into(),
            max_delay: Duration::from_secs(60),
            unlimited,
        }
    }

    fn failed(at: i64, previous: &[i64]) -> Allocation {
        let events = previous
            .iter()
            .map(|t| RescheduleEvent { reschedule_time: *t, prev_node_id: "n0".into(), ..RescheduleEvent::default() })
            .collect();
        Allocation {
            id: "a".into(),
            node_id: "n1".into(),
            client_status: ClientStatus::Failed,
            modify_time: at,
            reschedule_tracker: (!previous.is_empty()).then_some(RescheduleTracker { events }),
            ..Allocation::default()
        }
    }

    #[test]
    fn delay_functions_grow_and_are_capped() {
        let secs = |p: &ReschedulePolicy, n| delay(p, n).as_secs();
        let constant = policy("constant", 1, false);
        assert_eq!((0..4).map(|n| secs(&constant, n)).collect::<Vec<_>>(), [5, 5, 5, 5]);
        let exponential = policy("exponential", 1, true);
        assert_eq!((0..6).map(|n| secs(&exponential, n)).collect::<Vec<_>>(), [5, 10, 20, 40, 60, 60]);
        let fibonacci = policy("fibonacci", 1, true);
        assert_eq!((0..7).map(|n| secs(&fibonacci, n)).collect::<Vec<_>>(), [5, 5, 10, 15, 25, 40, 60]);
        assert_eq!(secs(&exponential, 200), 60, "no overflow on long histories");
    }

    #[test]
    fn attempts_within_the_interval_are_counted() {
        let now = 10_000 * SECOND;
        let p = policy("constant", 2, false);
        assert!(matches!(decide(&failed(now - 10 * SECOND, &[]), &p, now), Decision::Now(_)));
        assert!(matches!(decide(&failed(now - 10 * SECOND, &[now - 100 * SECOND]), &p, now), Decision::Now(_)));
        let twice = failed(now - 10 * SECOND, &[now - 200 * SECOND, now - 100 * SECOND]);
        assert_eq!(decide(&twice, &p, now), Decision::Exhausted);
        let long_ago = failed(now - 10 * SECOND, &[now - 7200 * SECOND, now - 100 * SECOND]);
        assert!(matches!(decide(&long_ago, &p, now), Decision::Now(_)), "an attempt outside the interval is forgotten");
        let none = ReschedulePolicy { attempts: 0, unlimited: false, ..p };
        assert_eq!(decide(&failed(now - 10 * SECOND, &[]), &none, now), Decision::Exhausted);
    }

    #[test]
    fn a_failure_waits_for_its_delay_and_the_replacement_carries_the_history() {
        let now = 10_000 * SECOND;
        let service = ReschedulePolicy::for_job_type(JobType::Service);
        assert_eq!(decide(&failed(now - SECOND, &[]), &service, now), Decision::Later(now + 29 * SECOND));
        let Decision::Now(tracker) = decide(&failed(now - 61 * SECOND, &[now - 500 * SECOND]), &service, now) else {
            panic!("due")
        };
        assert_eq!(tracker.events.len(), 2);
        let last = &tracker.events[1];
        assert_eq!((last.prev_alloc_id.as_str(), last.prev_node_id.as_str()), ("a", "n1"));
        assert_eq!(last.delay, 60 * SECOND, "second attempt: 30s doubled");
        assert_eq!(
            decide(&failed(now - 31 * SECOND, &[now - 500 * SECOND]), &service, now),
            Decision::Later(now + 29 * SECOND)
        );
    }
}
