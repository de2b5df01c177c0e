//! The restart tracker: applies a task's `restart` policy (attempts within an interval,
//! delay, mode fail or delay) to decide what follows a task's exit.

use crate::structs::{RestartMode, RestartPolicy};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Start the task again after this delay.
    Restart { delay: Duration, reason: String },
    /// Out of attempts in the interval with mode "fail": the task has failed.
    Fail { reason: String },
    /// The task finished successfully and is not restarted (batch jobs).
    Done,
}

pub struct RestartTracker {
    policy: RestartPolicy,
    restart_on_success: bool,
    attempts: u32,
    window_start: Instant,
}

impl RestartTracker {
    /// `restart_on_success` is true for service jobs, whose tasks are meant to run forever.
    pub fn new(policy: RestartPolicy, restart_on_success: bool, now: Instant) -> RestartTracker {
        RestartTracker { policy, restart_on_success, attempts: 0, window_start: now }
    }

    /// Decides what to do after the task exited (`success`: exit code 0) at `now`.
    /// `jitter` (0.0..1.0) adds up to 25% to the delay, as Nomad does.
    pub fn on_exit(&mut self, success: bool, now: Instant, jitter: f64) -> Decision {
        if success && !self.restart_on_success {
            return Decision::Done;
        }
        if now.duration_since(self.window_start) >= self.policy.interval {
            self.window_start = now;
            self.attempts = 0;
        }
        self.attempts += 1;
        if self.attempts <= self.policy.attempts {
            let delay = self.policy.delay.mul_f64(1.0 + 0.25 * jitter.clamp(0.0, 1.0));
            return Decision::Restart { delay, reason: "Restart within policy".into() };
        }
        match self.policy.mode {
            RestartMode::Fail => Decision::Fail {
                reason: format!(
                    "Exceeded allowed attempts {} in interval {:?} and mode is \"fail\"",
                    self.policy.attempts, self.policy.interval
                ),
            },
            RestartMode::Delay => {
                let delay = (self.window_start + self.policy.interval).saturating_duration_since(now);
                self.window_start = now + delay;
                self.attempts = 0;
                Decision::Restart {
                    delay,
                    reason: format!(
                        "Exceeded allowed attempts {} in interval {:?} and mode is \"delay\"",
                        self.policy.attempts, self.policy.interval
                    ),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(attempts: u32, mode: RestartMode) -> RestartPolicy {
        RestartPolicy { attempts, interval: Duration::from_secs(60), delay: Duration::from_secs(1), mode }
    }

    #[test]
    fn fail_mode_gives_up_after_the_attempts() {
        let now = Instant::now();
        let mut tracker = RestartTracker::new(policy(2, RestartMode::Fail), true, now);
        assert!(matches!(tracker.on_exit(false, now, 0.0), Decision::Restart { .. }));
        assert!(matches!(tracker.on_exit(false, now, 0.0), Decision::Restart { .. }));
        assert!(matches!(tracker.on_exit(false, now, 0.0), Decision::Fail { .. }));
    }

    #[test]
    fn attempts_reset_after_the_interval() {
        let now = Instant::now();
        let mut tracker = RestartTracker::new(policy(1, RestartMode::Fail), true, now);
        assert!(matches!(tracker.on_exit(false, now, 0.0), Decision::Restart { .. }));
        let later = now + Duration::from_secs(61);
        assert!(matches!(tracker.on_exit(false, later, 0.0), Decision::Restart { .. }));
    }

    #[test]
    fn delay_mode_waits_out_the_interval() {
        let now = Instant::now();
        let mut tracker = RestartTracker::new(policy(1, RestartMode::Delay), true, now);
        tracker.on_exit(false, now, 0.0);
        let at = now + Duration::from_secs(10);
        match tracker.on_exit(false, at, 0.0) {
            Decision::Restart { delay, .. } => assert_eq!(delay, Duration::from_secs(50)),
            other => panic!("expected a delayed restart, got {other:?}"),
        }
    }

    #[test]
    fn batch_success_is_done_and_jitter_stays_within_a_quarter() {
        let now = Instant::now();
        let mut batch = RestartTracker::new(policy(3, RestartMode::Fail), false, now);
        assert_eq!(batch.on_exit(true, now, 0.5), Decision::Done);
        match batch.on_exit(false, now, 1.0) {
            Decision::Restart { delay, .. } => assert_eq!(delay, Duration::from_millis(1250)),
            other => panic!("expected a restart, got {other:?}"),
        }
    }
}
