//! The tasks running on this client right now, with the driver and handle of each, so
//! their resource usage can be read (`/v1/client/allocation/:id/stats`), they can be
//! signalled or restarted, and commands run in them (`alloc exec`).

use rove_drivers::{Driver, DriverError, ExecOutput, ExecRequest, TaskConfig, TaskHandle, TaskStats};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

struct Live {
    alloc_id: String,
    task: String,
    driver: Arc<dyn Driver>,
    handle: TaskHandle,
    /// Asks the task's runner to restart it.
    restart: smol::channel::Sender<()>,
    /// What a command run in the task gets: the task's environment, directory and user.
    exec: ExecRequest,
}

/// Why a command could not be run in a task.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("{0}")]
    NotRunning(String),
    #[error("the allocation runs several tasks ({0}); name one with -task")]
    WhichTask(String),
    #[error("{0}")]
    Driver(DriverError),
}

/// Shared between the client and its task runners.
#[derive(Clone, Default)]
pub struct LiveTasks {
    tasks: Arc<Mutex<HashMap<String, Live>>>,
}

impl LiveTasks {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Live>> {
        self.tasks.lock().expect("live task lock poisoned")
    }

    /// A task of the allocation started (`id` is the driver-level task id).
    pub fn started(
        &self,
        config: &TaskConfig,
        driver: Arc<dyn Driver>,
        handle: TaskHandle,
        restart: smol::channel::Sender<()>,
    ) {
        let exec = ExecRequest {
            cmd: Vec::new(),
            env: config.env.clone(),
            task_dir: config.task_dir.clone(),
            user: config.user.clone(),
            timeout: std::time::Duration::ZERO,
        };
        let live = Live { alloc_id: config.alloc_id.clone(), task: config.name.clone(), driver, handle, restart, exec };
        self.lock().insert(config.id.clone(), live);
    }

    /// Runs `cmd` in a running task of the allocation: `task`, or its only running task.
    pub fn exec(
        &self,
        alloc_id: &str,
        task: Option<&str>,
        cmd: Vec<String>,
        timeout: std::time::Duration,
    ) -> Result<ExecOutput, ExecError> {
        let (driver, handle, request) = {
            let tasks = self.lock();
            let running: Vec<&Live> = tasks.values().filter(|l| l.alloc_id == alloc_id).collect();
            let live = match (task, running.as_slice()) {
                (_, []) => {
                    return Err(ExecError::NotRunning(format!("allocation {alloc_id:?} has no running task here")))
                }
                (Some(name), _) => running
                    .iter()
                    .find(|l| l.task == name)
                    .ok_or_else(|| ExecError::NotRunning(format!("task {name:?} is not running")))?,
                (None, [only]) => only,
                (None, several) => {
                    let mut names: Vec<&str> = several.iter().map(|l| l.task.as_str()).collect();
                    names.sort_unstable();
                    return Err(ExecError::WhichTask(names.join(", ")));
                }
            };
            (live.driver.clone(), live.handle.clone(), ExecRequest { cmd, timeout, ..live.exec.clone() })
        };
        driver.exec(&handle, &request).map_err(ExecError::Driver)
    }

    /// The task ended.
    pub fn ended(&self, id: &str) {
        self.lock().remove(id);
    }

    /// The usage of each running task of the allocation, by task name; a task whose driver
    /// cannot measure it is left out.
    pub fn usage(&self, alloc_id: &str) -> BTreeMap<String, TaskStats> {
        let running: Vec<(String, Arc<dyn Driver>, TaskHandle)> = self
            .lock()
            .values()
            .filter(|l| l.alloc_id == alloc_id)
            .map(|l| (l.task.clone(), l.driver.clone(), l.handle.clone()))
            .collect();
        running.into_iter().filter_map(|(task, driver, handle)| driver.stats(&handle).ok().map(|s| (task, s))).collect()
    }

    /// Sends `signal` to the allocation's running tasks (or only `task`); returns how many
    /// were signalled.
    pub fn signal(&self, alloc_id: &str, task: Option<&str>, signal: &str) -> Result<usize, DriverError> {
        let targets: Vec<(Arc<dyn Driver>, TaskHandle)> = self
            .lock()
            .values()
            .filter(|l| l.alloc_id == alloc_id && task.is_none_or(|t| t == l.task))
            .map(|l| (l.driver.clone(), l.handle.clone()))
            .collect();
        for (driver, handle) in &targets {
            driver.signal(handle, signal)?;
        }
        Ok(targets.len())
    }

    /// Asks the allocation's running tasks (or only `task`) to restart; how many were asked.
    pub fn restart(&self, alloc_id: &str, task: Option<&str>) -> usize {
        let tasks = self.lock();
        let asked = tasks.values().filter(|l| l.alloc_id == alloc_id && task.is_none_or(|t| t == l.task));
        asked.filter(|l| l.restart.try_send(()).is_ok() || l.restart.is_full()).count()
    }

    /// Whether any task of the allocation runs here.
    pub fn runs(&self, alloc_id: &str) -> bool {
        self.lock().values().any(|l| l.alloc_id == alloc_id)
    }
}
