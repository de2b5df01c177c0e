//! The task runner: starts one task through its driver, waits for it, applies the restart
//! policy, and reports the task's state and events as they change.

use super::log_collector::LogCollector;
use super::log_rotator::Rotator;
use super::restart::{Decision, RestartTracker};
use crate::structs::{now_nanos, LogConfig, RestartPolicy, TaskEvent, TaskState};
use rove_drivers::{Driver, ExitResult, TaskConfig};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Nomad's task event types.
pub mod event {
    pub const RECEIVED: &str = "Received";
    pub const SETUP: &str = "Task Setup";
    pub const STARTED: &str = "Started";
    pub const TERMINATED: &str = "Terminated";
    pub const RESTARTING: &str = "Restarting";
    pub const NOT_RESTARTING: &str = "Not Restarting";
    pub const DRIVER_FAILURE: &str = "Driver Failure";
    pub const KILLING: &str = "Killing";
    pub const KILLED: &str = "Killed";
    pub const SETUP_FAILURE: &str = "Setup Failure";
    pub const RESTART_SIGNALED: &str = "Restart Signaled";
}

/// How long a dead task's log collectors get to copy what is left in their FIFOs.
const LOG_DRAIN_TIMEOUT: Duration = Duration::from_secs(2);

/// The most events kept per task, as Nomad caps them.
const MAX_EVENTS: usize = 10;

pub fn new_event(kind: &str, message: impl Into<String>) -> TaskEvent {
    let message = message.into();
    TaskEvent {
        event_type: kind.to_string(),
        time: now_nanos(),
        display_message: message.clone(),
        message,
        ..TaskEvent::default()
    }
}

/// Everything one task needs to run.
pub struct TaskSpec {
    pub name: String,
    pub driver: Arc<dyn Driver>,
    pub config: TaskConfig,
    /// How the task's output is rotated (`logs { max_files max_file_size }`).
    pub logs: LogConfig,
    pub restart: RestartPolicy,
    pub restart_on_success: bool,
    pub kill_signal: String,
    pub kill_timeout: Duration,
    /// Where the running task is registered while it runs.
    pub live: super::live_tasks::LiveTasks,
}

/// Publishes a task's state to its allocation runner.
pub type StateSender = smol::channel::Sender<(String, TaskState)>;

struct Reporter {
    name: String,
    state: TaskState,
    tx: StateSender,
    /// Finished before the task is reported dead, so its whole output is readable then.
    collectors: Vec<LogCollector>,
}

impl Reporter {
    async fn push(&mut self, event: TaskEvent) {
        self.state.events.push(event);
        if self.state.events.len() > MAX_EVENTS {
            self.state.events.remove(0);
        }
        let _ = self.tx.send((self.name.clone(), self.state.clone())).await;
    }

    async fn finish(&mut self, failed: bool, event: TaskEvent) {
        for collector in self.collectors.drain(..) {
            collector.finish(LOG_DRAIN_TIMEOUT).await;
        }
        self.state.state = "dead".into();
        self.state.failed = failed;
        self.state.finished_at = now_nanos();
        self.push(event).await;
    }
}

/// Runs the task until it finishes for good or `kill` fires.
pub async fn run(spec: TaskSpec, tx: StateSender, kill: smol::channel::Receiver<()>) {
    let mut reporter = Reporter {
        name: spec.name.clone(),
        state: TaskState { state: "pending".into(), ..TaskState::default() },
        tx,
        collectors: Vec::new(),
    };
    reporter.push(new_event(event::RECEIVED, "Task received by client")).await;
    reporter.push(new_event(event::SETUP, "Building Task Directory")).await;
    reporter.collectors = match start_log_collectors(&spec) {
        Ok(collectors) => collectors.into(),
        Err(e) => {
            let mut failure = new_event(event::SETUP_FAILURE, format!("starting the log collectors: {e}"));
            failure.fails_task = true;
            reporter.finish(true, failure).await;
            return;
        }
    };
    let mut tracker = RestartTracker::new(spec.restart.clone(), spec.restart_on_success, Instant::now());
    loop {
        if kill.try_recv().is_ok() || kill.is_closed() {
            reporter.finish(false, new_event(event::KILLED, "Task killed before it started")).await;
            return;
        }
        let outcome = match start(&spec).await {
            Ok(handle) => {
                let (restart_tx, restart_rx) = smol::channel::bounded(1);
                let (id, alloc_id) = (&spec.config.id, &spec.config.alloc_id);
                spec.live.started(id, alloc_id, &spec.name, spec.driver.clone(), handle.clone(), restart_tx);
                reporter.state.state = "running".into();
                reporter.state.started_at = now_nanos();
                reporter.push(new_event(event::STARTED, "Task started by client")).await;
                match wait_or_kill(&spec, &handle, &kill, &restart_rx, &mut reporter).await {
                    Waited::Killed => return,
                    Waited::Restarted => {
                        // A user's restart: immediate, and not counted against the policy.
                        let mut e = new_event(event::RESTARTING, "User requested task to restart");
                        e.restart_reason = "User requested task to restart".into();
                        reporter.state.state = "pending".into();
                        reporter.state.restarts += 1;
                        reporter.state.last_restart = now_nanos();
                        reporter.push(e).await;
                        continue;
                    }
                    Waited::Exited(exit) => {
                        reporter.push(terminated_event(&exit)).await;
                        exit.exit_code == 0 && exit.signal == 0 && exit.err.is_none() && !exit.oom_killed
                    }
                }
            }
            Err(e) => {
                let mut failure = new_event(event::DRIVER_FAILURE, format!("failed to start task: {e}"));
                failure.details.insert("driver_error".into(), e.to_string());
                reporter.push(failure).await;
                false
            }
        };
        match tracker.on_exit(outcome, Instant::now(), fastrand::f64()) {
            Decision::Done => {
                reporter.finish(false, new_event(event::TERMINATED, "Task completed successfully")).await;
                return;
            }
            Decision::Fail { reason } => {
                let mut e = new_event(event::NOT_RESTARTING, reason);
                e.fails_task = true;
                reporter.finish(true, e).await;
                return;
            }
            Decision::Restart { delay, reason } => {
                let mut e = new_event(event::RESTARTING, format!("{reason}; restarting in {delay:?}"));
                e.restart_reason = reason;
                reporter.state.state = "pending".into();
                reporter.push(e).await;
                let sleep = async {
                    smol::Timer::after(delay).await;
                    false
                };
                let killed = async { kill.recv().await.is_ok() || kill.is_closed() };
                if smol::future::or(killed, sleep).await {
                    reporter.finish(false, new_event(event::KILLED, "Task killed while waiting to restart")).await;
                    return;
                }
                reporter.state.restarts += 1;
                reporter.state.last_restart = now_nanos();
            }
        }
    }
}

/// Collects the task's stdout and stderr from the FIFOs its driver writes into.
fn start_log_collectors(spec: &TaskSpec) -> std::io::Result<[LogCollector; 2]> {
    let collect = |stream: &str, fifo: &std::path::Path| {
        let dir = fifo.parent().ok_or_else(|| std::io::Error::other("log FIFO has no directory"))?;
        let max_size = u64::from(spec.logs.max_file_size_mb) << 20;
        let rotator = Rotator::open(dir, &format!("{}.{stream}", spec.name), spec.logs.max_files as usize, max_size)?;
        LogCollector::start(fifo, rotator)
    };
    Ok([collect("stdout", &spec.config.stdout_path)?, collect("stderr", &spec.config.stderr_path)?])
}

async fn start(spec: &TaskSpec) -> Result<rove_drivers::TaskHandle, rove_drivers::DriverError> {
    let driver = spec.driver.clone();
    let config = spec.config.clone();
    smol::unblock(move || driver.start(&config)).await
}

enum Waited {
    Exited(ExitResult),
    Killed,
    /// A user asked for a restart; the task was stopped for it.
    Restarted,
}

/// Why the wait for a running task ended early.
enum Interrupt {
    Kill,
    Restart,
}

async fn wait_or_kill(
    spec: &TaskSpec,
    handle: &rove_drivers::TaskHandle,
    kill: &smol::channel::Receiver<()>,
    restart: &smol::channel::Receiver<()>,
    reporter: &mut Reporter,
) -> Waited {
    let mut exited = {
        let driver = spec.driver.clone();
        let handle = handle.clone();
        smol::spawn(smol::unblock(move || driver.wait(&handle)))
    };
    let waited = async { Ok((&mut exited).await) };
    let killed = async {
        let _ = kill.recv().await;
        Err(Interrupt::Kill)
    };
    let restarted = async {
        match restart.recv().await {
            Ok(()) => Err(Interrupt::Restart),
            Err(_) => smol::future::pending().await,
        }
    };
    let result = match smol::future::or(waited, smol::future::or(killed, restarted)).await {
        Ok(result) => result,
        Err(interrupt) => {
            let message = format!("Sent interrupt. Waiting {:?} before force killing", spec.kill_timeout);
            if matches!(interrupt, Interrupt::Restart) {
                reporter.push(new_event(event::RESTART_SIGNALED, "User requested task to restart")).await;
            }
            reporter.push(new_event(event::KILLING, message)).await;
            let driver = spec.driver.clone();
            let (h, signal, timeout) = (handle.clone(), spec.kill_signal.clone(), spec.kill_timeout);
            if let Err(e) = smol::unblock(move || driver.stop(&h, &signal, timeout)).await {
                log::warn!(target: "client", "stopping task {}: {e}", spec.name);
            }
            // The original wait returns once the process is gone.
            let _ = exited.await;
            destroy(spec, handle).await;
            if matches!(interrupt, Interrupt::Restart) {
                return Waited::Restarted;
            }
            reporter.finish(false, new_event(event::KILLED, "Task successfully killed")).await;
            return Waited::Killed;
        }
    };
    destroy(spec, handle).await;
    match result {
        Ok(exit) => Waited::Exited(exit),
        Err(e) => Waited::Exited(ExitResult { exit_code: -1, signal: 0, oom_killed: false, err: Some(e.to_string()) }),
    }
}

async fn destroy(spec: &TaskSpec, handle: &rove_drivers::TaskHandle) {
    spec.live.ended(&spec.config.id);
    let driver = spec.driver.clone();
    let handle = handle.clone();
    if let Err(e) = smol::unblock(move || driver.destroy(&handle)).await {
        log::warn!(target: "client", "cleaning up task {}: {e}", spec.name);
    }
}

fn terminated_event(exit: &ExitResult) -> TaskEvent {
    let mut message = format!("Exit Code: {}", exit.exit_code);
    if exit.signal != 0 {
        message.push_str(&format!(", Signal: {}", exit.signal));
    }
    if exit.oom_killed {
        message.push_str(", OOM Killed");
    }
    if let Some(err) = &exit.err {
        message.push_str(&format!(", Exit Message: {err}"));
    }
    let mut e = new_event(event::TERMINATED, message);
    e.exit_code = exit.exit_code;
    e.signal = exit.signal;
    if exit.oom_killed {
        e.details.insert("oom_killed".into(), "true".into());
    }
    e
}
