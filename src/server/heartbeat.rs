//! Node heartbeat deadlines, kept by the leader: a node that does not heartbeat within its
//! TTL plus the grace period is marked down and its jobs are re-evaluated.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct Heartbeats {
    deadlines: Mutex<HashMap<String, Instant>>,
    ttl: Duration,
    grace: Duration,
}

impl Heartbeats {
    pub fn new(ttl: Duration, grace: Duration) -> Heartbeats {
        Heartbeats { deadlines: Mutex::new(HashMap::new()), ttl, grace }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Instant>> {
        self.deadlines.lock().expect("heartbeat lock poisoned")
    }

    /// Records that the node is alive; returns the TTL the node must heartbeat within.
    pub fn reset(&self, node_id: &str) -> Duration {
        self.lock().insert(node_id.to_string(), Instant::now() + self.ttl + self.grace);
        self.ttl
    }

    pub fn clear(&self) {
        self.lock().clear();
    }

    /// Removes and returns the nodes whose deadline has passed.
    pub fn take_expired(&self) -> Vec<String> {
        let now = Instant::now();
        let mut deadlines = self.lock();
        let expired: Vec<String> = deadlines.iter().filter(|(_, d)| **d <= now).map(|(id, _)| id.clone()).collect();
        for id in &expired {
            deadlines.remove(id);
        }
        expired
    }

    /// How often the leader should look for expired deadlines.
    pub fn check_interval(&self) -> Duration {
        (self.ttl / 10).clamp(Duration::from_millis(100), Duration::from_secs(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_expire_after_ttl_plus_grace_and_reset_extends_them() {
        let beats = Heartbeats::new(Duration::from_millis(40), Duration::from_millis(40));
        assert_eq!(beats.reset("a"), Duration::from_millis(40));
        beats.reset("b");
        std::thread::sleep(Duration::from_millis(50));
        assert!(beats.take_expired().is_empty(), "within grace nothing expires");
        beats.reset("b");
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(beats.take_expired(), ["a"]);
        assert!(beats.take_expired().is_empty(), "an expired node is reported once");
    }
}
