//! The tasks running on this client right now, with the driver and handle of each, so
//! their resource usage can be read (`/v1/client/allocation/:id/stats`).

use rove_drivers::{Driver, DriverError, TaskHandle, TaskStats};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

struct Live {
    alloc_id: String,
    task: String,
    driver: Arc<dyn Driver>,
    handle: TaskHandle,
    /// Asks the task's runner to restart it.
    restart: smol::channel::Sender<()>,
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
        id: &str,
        alloc_id: &str,
        task: &str,
        driver: Arc<dyn Driver>,
        handle: TaskHandle,
        restart: smol::channel::Sender<()>,
    ) {
        let live = Live { alloc_id: alloc_id.to_string(), task: task.to_string(), driver, handle, restart };
        self.lock().insert(id.to_string(), live);
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
