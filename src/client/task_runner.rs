//! The task runner: starts one task through its driver, waits for it, applies the restart
//! policy, and reports the task's state and events as they change.

use super::executor::{start_log_collectors, ExecutorSpec};
use super::launch;
use super::log_collector::LogCollector;
use super::restart::{Decision, RestartTracker};
use super::state_db::{ExecutorRef, RunningTask, StateDb, TaskRecord};
use crate::structs::{now_nanos, LogConfig, RestartPolicy, TaskEvent, TaskState};
use rove_drivers::{Driver, DriverError, ExitResult, TaskConfig, TaskHandle};
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
    pub const REATTACHED: &str = "Reattached";
    pub const DRIVER: &str = "Driver";
    pub const DOWNLOADING_ARTIFACTS: &str = "Downloading Artifacts";
    pub const ARTIFACT_FAILED: &str = "Failed Artifact Download";
    pub const WAITING_SHUTDOWN_DELAY: &str = "Waiting for shutdown delay";
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

/// An event that fails its task.
pub fn failing_event(kind: &str, message: impl Into<String>) -> TaskEvent {
    TaskEvent { fails_task: true, ..new_event(kind, message) }
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
    /// How long to wait between being told to stop and signalling the task.
    pub shutdown_delay: Duration,
    /// Fetched into the task directory before the task first starts.
    pub artifacts: Vec<crate::structs::TaskArtifact>,
    /// Rendered before the task starts, and watched while it runs.
    pub templates: Vec<crate::structs::Template>,
    /// Where the running task is registered while it runs.
    pub live: super::live_tasks::LiveTasks,
    /// For process drivers: the executor that runs the task (and copies its logs), with
    /// where the executor's own messages go.
    pub executor: Option<(ExecutorSpec, std::path::PathBuf)>,
    /// How the task stood when an earlier run of this agent ended: the task is picked up
    /// from there instead of being started again.
    pub restored: Option<TaskRecord>,
    /// Where the task's record is kept.
    pub store: Arc<StateDb>,
}

/// Publishes a task's state to its allocation runner.
pub type StateSender = smol::channel::Sender<(String, TaskState)>;

struct Reporter {
    name: String,
    alloc_id: String,
    state: TaskState,
    tx: StateSender,
    store: Arc<StateDb>,
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
        self.record(None).await;
    }

    /// The task failed for good: `kind` says how, `message` why.
    async fn fail(&mut self, kind: &str, message: impl Into<String>) {
        self.finish(true, failing_event(kind, message)).await;
    }

    /// Keeps how the task stands in the client's state, for a restarted agent.
    async fn record(&self, running: Option<RunningTask>) {
        let (store, alloc_id, name) = (self.store.clone(), self.alloc_id.clone(), self.name.clone());
        let record = TaskRecord { state: self.state.clone(), running };
        if let Err(e) = smol::unblock(move || store.put_task(&alloc_id, &name, &record)).await {
            log::warn!(target: "client", "recording task {}: {e}", self.name);
        }
    }
}

/// Runs the task until it finishes for good or `kill` fires.
pub async fn run(mut spec: TaskSpec, tx: StateSender, kill: smol::channel::Receiver<()>) {
    let mut reporter = Reporter {
        name: spec.name.clone(),
        alloc_id: spec.config.alloc_id.clone(),
        state: TaskState { state: "pending".into(), ..TaskState::default() },
        tx,
        store: spec.store.clone(),
        collectors: Vec::new(),
    };
    // A task an earlier run of this agent started: finished, or to be picked up.
    let mut adopted = None;
    if let Some(record) = spec.restored.take() {
        reporter.state = record.state;
        match record.running {
            Some(running) => adopted = Some(running),
            None if reporter.state.state == "dead" => {
                let _ = reporter.tx.send((reporter.name.clone(), reporter.state.clone())).await;
                return;
            }
            _ => {}
        }
    }
    if adopted.is_none() {
        reporter.push(new_event(event::RECEIVED, "Task received by client")).await;
        reporter.push(new_event(event::SETUP, "Building Task Directory")).await;
        if !spec.artifacts.is_empty() {
            reporter.push(new_event(event::DOWNLOADING_ARTIFACTS, "Client is downloading artifacts")).await;
            let (artifacts, task_dir) = (spec.artifacts.clone(), spec.config.task_dir.clone());
            if let Err(e) = smol::unblock(move || super::artifact::fetch_all(&artifacts, &task_dir)).await {
                reporter.fail(event::ARTIFACT_FAILED, e).await;
                return;
            }
        }
        // Templates may read what the artifacts brought; `env = true` ones add to the
        // task's environment.
        if !spec.templates.is_empty() {
            let (templates, dir, mut env) =
                (spec.templates.clone(), spec.config.task_dir.clone(), spec.config.env.clone());
            match smol::unblock(move || super::template::write_all(&templates, &dir, &mut env).map(|()| env)).await {
                Ok(env) => {
                    if let Some((executor, _)) = &mut spec.executor {
                        executor.config.env = env.clone();
                    }
                    spec.config.env = env;
                }
                Err(e) => {
                    reporter.fail(event::SETUP_FAILURE, e).await;
                    return;
                }
            }
        }
    }
    // An executor copies its task's logs itself.
    let collectors = match &spec.executor {
        Some(_) => Ok(Vec::new()),
        None => start_log_collectors(&spec.config, &spec.logs).map(Vec::from),
    };
    reporter.collectors = match collectors {
        Ok(collectors) => collectors,
        Err(e) => {
            reporter.fail(event::SETUP_FAILURE, format!("starting the log collectors: {e}")).await;
            return;
        }
    };
    let mut tracker = RestartTracker::new(spec.restart.clone(), spec.restart_on_success, Instant::now());
    loop {
        if kill.try_recv().is_ok() {
            reporter.finish(false, new_event(event::KILLED, "Task killed before it started")).await;
            return;
        }
        if kill.is_closed() {
            // The agent is going away and leaves its tasks as they are.
            return;
        }
        let started = match adopted.take() {
            Some(running) => Ok(adopt(&spec, running, &mut reporter).await),
            None => start(&spec, &mut reporter).await,
        };
        let outcome = match started {
            Ok((handle, waiter, executor_pid)) => {
                let (restart_tx, restart_rx) = smol::channel::bounded(1);
                spec.live.started(&spec.config, spec.driver.clone(), handle.clone(), restart_tx);
                if reporter.state.state != "running" {
                    reporter.state.state = "running".into();
                    reporter.state.started_at = now_nanos();
                    reporter.push(new_event(event::STARTED, "Task started by client")).await;
                }
                let executor = match (executor_pid, &spec.executor) {
                    (Some(pid), Some((exec, _))) => Some(ExecutorRef { pid, exit_path: exec.exit_path.clone() }),
                    _ => None,
                };
                reporter.record(Some(RunningTask { handle: handle.clone(), executor })).await;
                match wait_or_kill(&spec, &handle, waiter, &kill, &restart_rx, &mut reporter).await {
                    Waited::Killed => return,
                    Waited::Restarted(why) => {
                        // A user's or a template's restart: immediate, and not counted
                        // against the policy.
                        let mut e = new_event(event::RESTARTING, why);
                        e.restart_reason = why.into();
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
                failure.details.insert("driver_error".into(), e);
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
                reporter.fail(event::NOT_RESTARTING, reason).await;
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
                let killed = async { told_to_stop(&kill).await };
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

/// Blocks until the task ended and says how.
type Waiter = Box<dyn FnOnce() -> Result<ExitResult, DriverError> + Send>;

/// A started task: its handle, how to wait for it, and its executor's pid if it has one.
type Started = (TaskHandle, Waiter, Option<u32>);

/// Starts the task, under an executor for process drivers; what the driver tells of its
/// progress meanwhile (an image pull) becomes task events.
async fn start(spec: &TaskSpec, reporter: &mut Reporter) -> Result<Started, String> {
    if let Some((executor_spec, log_path)) = spec.executor.clone() {
        let exit_path = executor_spec.exit_path.clone();
        let (handle, executor) = smol::unblock(move || launch::launch(&executor_spec, &log_path)).await?;
        let pid = executor.pid();
        return Ok((handle, Box::new(move || Ok(launch::wait(executor, &exit_path))), Some(pid)));
    }
    let (driver, config) = (spec.driver.clone(), spec.config.clone());
    let (tx, rx) = smol::channel::unbounded::<String>();
    let mut starting = smol::unblock(move || {
        let progress = move |message: &str| {
            let _ = tx.try_send(message.to_string());
        };
        driver.start_with_progress(&config, &progress)
    });
    enum Step {
        Done(Result<TaskHandle, DriverError>),
        Told(String),
    }
    let started = loop {
        let done = async { Step::Done((&mut starting).await) };
        let told = async {
            match rx.recv().await {
                Ok(message) => Step::Told(message),
                // The driver is done talking; the start itself ends the wait.
                Err(_) => smol::future::pending().await,
            }
        };
        match smol::future::or(done, told).await {
            Step::Done(result) => break result,
            Step::Told(message) => reporter.push(new_event(event::DRIVER, message)).await,
        }
    };
    while let Ok(message) = rx.try_recv() {
        reporter.push(new_event(event::DRIVER, message)).await;
    }
    let handle = started.map_err(|e| e.to_string())?;
    let (driver, waited) = (spec.driver.clone(), handle.clone());
    Ok((handle, Box::new(move || driver.wait(&waited)), None))
}

/// Picks up a task an earlier run of this agent started: through its executor, or through
/// its driver (docker asks the engine). One that ended meanwhile ends at once, with the
/// status its executor recorded or the engine kept.
async fn adopt(spec: &TaskSpec, running: RunningTask, reporter: &mut Reporter) -> Started {
    let RunningTask { handle, executor } = running;
    let alive = executor.as_ref().is_none_or(|e| launch::alive(e.pid));
    let message =
        if alive { "Task reattached after the client restarted" } else { "Task ended while the client was down" };
    log::info!(target: "client", "task {} of allocation {}: {message}", reporter.name, reporter.alloc_id);
    reporter.push(new_event(event::REATTACHED, message)).await;
    match executor {
        Some(ExecutorRef { pid, exit_path }) => {
            let executor = launch::Executor::Adopted(pid);
            (handle, Box::new(move || Ok(launch::wait(executor, &exit_path))), Some(pid))
        }
        None => {
            let (driver, waited) = (spec.driver.clone(), handle.clone());
            (handle, Box::new(move || driver.wait(&waited)), None)
        }
    }
}

enum Waited {
    Exited(ExitResult),
    Killed,
    /// A restart was asked for (by a user, or a template that changed); the task was
    /// stopped for it.
    Restarted(&'static str),
}

/// Why the wait for a running task ended early.
enum Interrupt {
    Kill,
    /// A restart, and why.
    Restart(&'static str),
}

/// Resolves when the allocation runner asks the task to stop. A runner that went away
/// without asking (the agent shutting down and leaving its tasks running) never does.
async fn told_to_stop(kill: &smol::channel::Receiver<()>) -> bool {
    match kill.recv().await {
        Ok(()) => true,
        Err(_) => smol::future::pending().await,
    }
}

/// How often templates are rendered again to see whether their output changed.
const TEMPLATE_POLL: Duration = Duration::from_secs(2);

/// Renders the task's templates again every little while: a changed output with
/// `change_mode = "restart"` ends the wait; `"signal"` signals the task; `"noop"` only
/// writes the file.
async fn watch_templates(spec: &TaskSpec, handle: &TaskHandle) -> Interrupt {
    if spec.templates.is_empty() {
        return smol::future::pending().await;
    }
    loop {
        smol::Timer::after(TEMPLATE_POLL).await;
        let (templates, dir, env) = (spec.templates.clone(), spec.config.task_dir.clone(), spec.config.env.clone());
        let changed = match smol::unblock(move || super::template::rerender(&templates, &dir, &env)).await {
            Ok(changed) => changed,
            Err(e) => {
                log::warn!(target: "client", "task {}: rendering templates again: {e}", spec.name);
                continue;
            }
        };
        if changed.iter().any(|t| t.change_mode == "restart") {
            return Interrupt::Restart("Template with change_mode restart re-rendered");
        }
        for template in changed.iter().filter(|t| t.change_mode == "signal") {
            let (driver, handle, signal) = (spec.driver.clone(), handle.clone(), template.change_signal.clone());
            if let Err(e) = smol::unblock(move || driver.signal(&handle, &signal)).await {
                log::warn!(target: "client", "task {}: signalling after a template changed: {e}", spec.name);
            }
        }
    }
}

async fn wait_or_kill(
    spec: &TaskSpec,
    handle: &TaskHandle,
    waiter: Waiter,
    kill: &smol::channel::Receiver<()>,
    restart: &smol::channel::Receiver<()>,
    reporter: &mut Reporter,
) -> Waited {
    let mut exited = smol::spawn(smol::unblock(waiter));
    let waited = async { Ok((&mut exited).await) };
    let killed = async {
        told_to_stop(kill).await;
        Err(Interrupt::Kill)
    };
    let restarted = async {
        match restart.recv().await {
            Ok(()) => Err(Interrupt::Restart("User requested task to restart")),
            Err(_) => smol::future::pending().await,
        }
    };
    let rerendered = async { Err(watch_templates(spec, handle).await) };
    let interrupted = smol::future::or(killed, smol::future::or(restarted, rerendered));
    let result = match smol::future::or(waited, interrupted).await {
        Ok(result) => result,
        Err(interrupt) => {
            if matches!(interrupt, Interrupt::Kill) && !spec.shutdown_delay.is_zero() {
                let message =
                    format!("Waiting for shutdown_delay of {:?} before killing the task", spec.shutdown_delay);
                reporter.push(new_event(event::WAITING_SHUTDOWN_DELAY, message)).await;
                smol::Timer::after(spec.shutdown_delay).await;
            }
            let message = format!("Sent interrupt. Waiting {:?} before force killing", spec.kill_timeout);
            if let Interrupt::Restart(why) = interrupt {
                reporter.push(new_event(event::RESTART_SIGNALED, why)).await;
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
            if let Interrupt::Restart(why) = interrupt {
                return Waited::Restarted(why);
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

async fn destroy(spec: &TaskSpec, handle: &TaskHandle) {
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
