//! The eval broker: the leader's queue of pending evaluations for the scheduler workers.
//!
//! It hands out the highest-priority evaluation first (oldest first among equals), keeps at
//! most one evaluation per job outstanding so two workers never plan the same job at once,
//! redelivers an evaluation a worker gives back (nack) up to a delivery limit, and holds
//! delayed evaluations (`WaitUntil`) until they are due.

use super::state::JobKey;
use crate::structs::{now_nanos, Evaluation};
use event_listener::Event;
use smol::future::FutureExt;
use std::cmp::Reverse;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

/// How many times an evaluation is handed out before it is given up as failed.
pub const DELIVERY_LIMIT: u32 = 3;

/// Ready evaluations ordered by (priority desc, create index asc).
type ReadyKey = (Reverse<i32>, u64, String);

#[derive(Default)]
struct Inner {
    enabled: bool,
    ready: BTreeMap<ReadyKey, Evaluation>,
    /// Jobs with an evaluation ready or outstanding.
    busy_jobs: HashSet<JobKey>,
    /// Evaluations waiting for their job's outstanding one to finish.
    waiting: HashMap<JobKey, VecDeque<Evaluation>>,
    /// Evaluations handed to a worker: id -> (eval, token, deliveries).
    unacked: HashMap<String, (Evaluation, String, u32)>,
    deliveries: HashMap<String, u32>,
    known: HashSet<String>,
    /// Evaluations not due yet, by (due time in nanoseconds, id).
    delayed: BTreeMap<(i64, String), Evaluation>,
}

/// What the worker must do with an evaluation it gave back too often.
#[derive(Debug, PartialEq, Eq)]
pub enum NackOutcome {
    Requeued,
    DeliveryLimitReached,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BrokerError {
    #[error("evaluation {0} is not outstanding")]
    NotOutstanding(String),
    #[error("evaluation {0} was handed out with another token")]
    TokenMismatch(String),
}

#[derive(Default)]
pub struct EvalBroker {
    inner: Mutex<Inner>,
    ready: Event,
}

fn job_key(eval: &Evaluation) -> JobKey {
    (eval.namespace.clone(), eval.job_id.clone())
}

fn ready_key(eval: &Evaluation) -> ReadyKey {
    (Reverse(eval.priority), eval.create_index, eval.id.clone())
}

impl Inner {
    /// Makes the evaluation ready, or queues it behind its job's outstanding one.
    fn admit(&mut self, eval: Evaluation) -> bool {
        let key = job_key(&eval);
        if self.busy_jobs.contains(&key) {
            self.waiting.entry(key).or_default().push_back(eval);
            false
        } else {
            self.make_ready(eval);
            true
        }
    }

    /// Admits the delayed evaluations that are due at `now`; returns when the next is due.
    fn promote_due(&mut self, now: i64) -> Option<i64> {
        while let Some(entry) = self.delayed.first_entry() {
            if entry.key().0 > now {
                return Some(entry.key().0);
            }
            let eval = entry.remove();
            self.admit(eval);
        }
        None
    }

    fn make_ready(&mut self, eval: Evaluation) {
        self.busy_jobs.insert(job_key(&eval));
        self.ready.insert(ready_key(&eval), eval);
    }

    fn release_job(&mut self, key: &JobKey) {
        let next = self.waiting.get_mut(key).and_then(VecDeque::pop_front);
        if self.waiting.get(key).is_some_and(VecDeque::is_empty) {
            self.waiting.remove(key);
        }
        match next {
            Some(eval) => self.make_ready(eval),
            None => {
                self.busy_jobs.remove(key);
            }
        }
    }
}

impl EvalBroker {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().expect("broker lock poisoned")
    }

    /// Turns the broker on (this server became leader) or off (flushing everything).
    pub fn set_enabled(&self, enabled: bool) {
        let mut inner = self.lock();
        if enabled {
            inner.enabled = true;
        } else {
            *inner = Inner::default();
        }
        drop(inner);
        self.ready.notify(usize::MAX);
    }

    /// Adds a pending evaluation; ignored while disabled or if already known.
    pub fn enqueue(&self, eval: Evaluation) {
        let mut inner = self.lock();
        if !inner.enabled || !inner.known.insert(eval.id.clone()) {
            return;
        }
        if eval.wait_until > now_nanos() {
            inner.delayed.insert((eval.wait_until, eval.id.clone()), eval);
            drop(inner);
            // Workers waiting with a later deadline must learn of the earlier one.
            self.ready.notify(usize::MAX);
        } else if inner.admit(eval) {
            drop(inner);
            self.ready.notify(1);
        }
    }

    /// The next ready evaluation, or when the next delayed one is due.
    fn try_dequeue(&self) -> Result<(Evaluation, String), Option<i64>> {
        let mut inner = self.lock();
        let next_due = inner.promote_due(now_nanos());
        let Some((_, eval)) = inner.ready.pop_first() else {
            return Err(next_due);
        };
        let token = crate::structs::generate_id();
        let deliveries = {
            let count = inner.deliveries.entry(eval.id.clone()).or_insert(0);
            *count += 1;
            *count
        };
        inner.unacked.insert(eval.id.clone(), (eval.clone(), token.clone(), deliveries));
        Ok((eval, token))
    }

    /// Waits for the next evaluation (also while disabled); returns it with the token to
    /// ack or nack it with.
    pub async fn dequeue(&self) -> (Evaluation, String) {
        loop {
            let listener = self.ready.listen();
            match self.try_dequeue() {
                Ok(found) => return found,
                Err(None) => listener.await,
                Err(Some(due)) => {
                    let wait = Duration::from_nanos(due.saturating_sub(now_nanos()).max(0) as u64);
                    listener
                        .or(async {
                            smol::Timer::after(wait).await;
                        })
                        .await
                }
            }
        }
    }

    fn take_unacked(&self, inner: &mut Inner, id: &str, token: &str) -> Result<(Evaluation, u32), BrokerError> {
        match inner.unacked.get(id) {
            None => Err(BrokerError::NotOutstanding(id.to_string())),
            Some((_, t, _)) if t != token => Err(BrokerError::TokenMismatch(id.to_string())),
            Some(_) => {
                let (eval, _, deliveries) = inner.unacked.remove(id).expect("checked above");
                Ok((eval, deliveries))
            }
        }
    }

    /// The worker finished the evaluation.
    pub fn ack(&self, id: &str, token: &str) -> Result<(), BrokerError> {
        let mut inner = self.lock();
        let (eval, _) = self.take_unacked(&mut inner, id, token)?;
        inner.known.remove(id);
        inner.deliveries.remove(id);
        inner.release_job(&job_key(&eval));
        drop(inner);
        self.ready.notify(1);
        Ok(())
    }

    /// The worker could not finish the evaluation: hand it out again, up to the limit.
    pub fn nack(&self, id: &str, token: &str) -> Result<NackOutcome, BrokerError> {
        let mut inner = self.lock();
        let (eval, deliveries) = self.take_unacked(&mut inner, id, token)?;
        if deliveries >= DELIVERY_LIMIT {
            inner.known.remove(id);
            inner.deliveries.remove(id);
            inner.release_job(&job_key(&eval));
            drop(inner);
            self.ready.notify(1);
            return Ok(NackOutcome::DeliveryLimitReached);
        }
        inner.ready.insert(ready_key(&eval), eval);
        drop(inner);
        self.ready.notify(1);
        Ok(NackOutcome::Requeued)
    }

    /// Number of evaluations ready, waiting or handed out.
    #[cfg(test)]
    fn outstanding(&self) -> usize {
        let inner = self.lock();
        inner.ready.len()
            + inner.unacked.len()
            + inner.delayed.len()
            + inner.waiting.values().map(VecDeque::len).sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(id: &str, job: &str, priority: i32, create_index: u64) -> Evaluation {
        Evaluation {
            id: id.into(),
            namespace: "default".into(),
            job_id: job.into(),
            priority,
            create_index,
            ..Default::default()
        }
    }

    fn next(broker: &EvalBroker) -> (Evaluation, String) {
        broker.try_dequeue().expect("an evaluation is ready")
    }

    #[test]
    fn disabled_broker_drops_evaluations() {
        let broker = EvalBroker::default();
        broker.enqueue(eval("e1", "web", 50, 1));
        broker.set_enabled(true);
        assert!(broker.try_dequeue().is_err());
    }

    #[test]
    fn hands_out_by_priority_then_age() {
        let broker = EvalBroker::default();
        broker.set_enabled(true);
        broker.enqueue(eval("low", "a", 10, 1));
        broker.enqueue(eval("high-new", "b", 90, 5));
        broker.enqueue(eval("high-old", "c", 90, 2));
        let order: Vec<String> = (0..3).map(|_| next(&broker).0.id).collect();
        assert_eq!(order, ["high-old", "high-new", "low"]);
    }

    #[test]
    fn one_evaluation_per_job_outstanding() {
        let broker = EvalBroker::default();
        broker.set_enabled(true);
        broker.enqueue(eval("e1", "web", 50, 1));
        broker.enqueue(eval("e2", "web", 50, 2));
        let (first, token) = next(&broker);
        assert_eq!(first.id, "e1");
        assert!(broker.try_dequeue().is_err(), "second eval of the same job must wait");
        broker.ack("e1", &token).unwrap();
        assert_eq!(next(&broker).0.id, "e2");
    }

    #[test]
    fn nack_redelivers_until_the_limit() {
        let broker = EvalBroker::default();
        broker.set_enabled(true);
        broker.enqueue(eval("e1", "web", 50, 1));
        for _ in 1..DELIVERY_LIMIT {
            let (_, token) = next(&broker);
            assert_eq!(broker.nack("e1", &token), Ok(NackOutcome::Requeued));
        }
        let (_, token) = next(&broker);
        assert_eq!(broker.nack("e1", &token), Ok(NackOutcome::DeliveryLimitReached));
        assert_eq!(broker.outstanding(), 0);
    }

    #[test]
    fn delayed_evaluations_wait_until_due() {
        let broker = EvalBroker::default();
        broker.set_enabled(true);
        let due = now_nanos() + 300_000_000;
        broker.enqueue(Evaluation { wait_until: due, ..eval("later", "web", 50, 1) });
        assert_eq!(broker.try_dequeue().map(|(e, _)| e.id), Err(Some(due)), "not handed out before it is due");
        broker.enqueue(eval("now", "api", 50, 2));
        assert_eq!(next(&broker).0.id, "now");
        let started = std::time::Instant::now();
        let (delayed, _) = smol::block_on(broker.dequeue());
        assert_eq!(delayed.id, "later");
        assert!(started.elapsed() >= Duration::from_millis(200), "a waiting worker wakes when it is due");
    }

    #[test]
    fn wrong_token_is_refused_and_duplicates_ignored() {
        let broker = EvalBroker::default();
        broker.set_enabled(true);
        broker.enqueue(eval("e1", "web", 50, 1));
        broker.enqueue(eval("e1", "web", 50, 1));
        let (_, token) = next(&broker);
        assert_eq!(broker.ack("e1", "bogus"), Err(BrokerError::TokenMismatch("e1".into())));
        broker.ack("e1", &token).unwrap();
        assert!(broker.try_dequeue().is_err());
    }
}
