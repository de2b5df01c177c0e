//! The allocation runner: builds an allocation's directories, runs each of its tasks, turns
//! their states into the allocation's client status, and stops them when told to.

use super::alloc_dir::AllocDir;
use super::env::{self, TaskPaths};
use super::executor::{ExecutorSpec, PROCESS_DRIVERS};
use super::lifecycle::Lifecycle;
use super::state_db::{StateDb, TaskRecords};
use super::task_runner::{self, event, failing_event, TaskSpec};
use crate::server::command::AllocClientUpdate;
use crate::structs::{Allocation, ClientStatus, JobType, Node, RestartPolicy, TaskGroup, TaskState};
use base64::Engine;
use rove_drivers::{Driver, Mount, TaskConfig};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

/// What every allocation runner on this node shares.
pub struct RunnerContext {
    pub allocs_root: PathBuf,
    pub drivers: BTreeMap<String, Arc<dyn Driver>>,
    pub node: Node,
    pub region: String,
    pub updates: smol::channel::Sender<AllocClientUpdate>,
    pub live: super::live_tasks::LiveTasks,
    /// What exec and java tasks see of the host.
    pub chroot_env: rove_drivers::ChrootEnv,
    /// Where task executors leave their exit status and messages.
    pub tasks_dir: PathBuf,
    /// The client's own record of its allocations and tasks.
    pub store: Arc<StateDb>,
    /// The latest status of each allocation, as last queued for the servers.
    pub latest: Arc<std::sync::Mutex<BTreeMap<String, AllocClientUpdate>>>,
}

/// A running allocation, as the client tracks it.
pub struct AllocRunner {
    pub alloc_modify_index: u64,
    /// How long the allocation keeps running while the client cannot reach the servers.
    pub stop_when_cut_off: Option<std::time::Duration>,
    stop: smol::channel::Sender<()>,
    task: smol::Task<()>,
}

impl AllocRunner {
    /// Runs an allocation; `restored` holds how its tasks stood when an earlier run of this
    /// agent ended (empty for a new allocation).
    pub fn spawn(alloc: Allocation, ctx: Arc<RunnerContext>, restored: TaskRecords) -> AllocRunner {
        let (stop, stop_rx) = smol::channel::bounded(1);
        let alloc_modify_index = alloc.alloc_modify_index;
        let stop_when_cut_off =
            alloc.job.as_ref().and_then(|j| j.task_group(&alloc.task_group)).and_then(|g| g.stop_when_cut_off());
        let task = smol::spawn(async move {
            let id = alloc.id.clone();
            let store = ctx.store.clone();
            let kept = alloc.clone();
            let recorded = smol::unblock({
                let store = store.clone();
                move || store.put_alloc(&kept)
            });
            if let Err(e) = recorded.await {
                log::warn!(target: "client", "recording allocation {id}: {e}");
            }
            run(alloc, ctx, stop_rx, restored).await;
            // Its tasks are all gone: nothing to pick up after a restart.
            if let Err(e) = smol::unblock(move || store.remove_alloc(&id)).await {
                log::warn!(target: "client", "forgetting a finished allocation: {e}");
            }
        });
        AllocRunner { alloc_modify_index, stop_when_cut_off, stop, task }
    }

    /// Whether every task of the allocation has ended for good.
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }

    /// Asks the tasks to stop; the runner reports them killed as they go.
    pub fn stop(&self) {
        let _ = self.stop.try_send(());
    }

    /// Stops the tasks and waits until they are gone.
    pub async fn shutdown(self) {
        self.stop();
        self.task.await;
    }
}

fn status_of(states: &BTreeMap<String, TaskState>) -> (ClientStatus, &'static str) {
    let all_dead = states.values().all(|s| s.state == "dead");
    if all_dead && states.values().any(|s| s.failed) {
        (ClientStatus::Failed, "Failed tasks")
    } else if all_dead {
        (ClientStatus::Complete, "All tasks have completed")
    } else if states.values().any(|s| s.state == "running") {
        (ClientStatus::Running, "Tasks are running")
    } else {
        (ClientStatus::Pending, "No tasks have started")
    }
}

fn report(ctx: &RunnerContext, alloc_id: &str, states: &BTreeMap<String, TaskState>) {
    let (status, description) = status_of(states);
    let update = AllocClientUpdate {
        id: alloc_id.to_string(),
        client_status: status,
        client_description: description.to_string(),
        task_states: states.clone(),
    };
    // Recorded and queued under one lock, so a resend of the latest statuses never
    // overtakes a newer one (the queue is unbounded: queuing never waits).
    let mut latest = ctx.latest.lock().expect("status lock poisoned");
    latest.insert(alloc_id.to_string(), update.clone());
    let _ = ctx.updates.try_send(update);
}

async fn run(alloc: Allocation, ctx: Arc<RunnerContext>, stop: smol::channel::Receiver<()>, mut restored: TaskRecords) {
    let Some(group) = alloc.job.as_ref().and_then(|j| j.task_group(&alloc.task_group)).cloned() else {
        log::warn!(target: "client", "allocation {} has no task group {:?}", alloc.id, alloc.task_group);
        return;
    };
    let dir = AllocDir::new(&ctx.allocs_root, &alloc.id);
    let names: Vec<String> = group.tasks.iter().map(|t| t.name.clone()).collect();
    let built = {
        let (dir, names) = (AllocDir { root: dir.root.clone() }, names.clone());
        smol::unblock(move || dir.build(&names.iter().map(String::as_str).collect::<Vec<_>>())).await
    };
    let mut states: BTreeMap<String, TaskState> =
        names.iter().map(|n| (n.clone(), TaskState { state: "pending".into(), ..TaskState::default() })).collect();
    if let Err(e) = built {
        let message = format!("failed to build allocation directory: {e}");
        states.values_mut().for_each(|state| fail_setup(state, message.as_str()));
        report(&ctx, &alloc.id, &states);
        return;
    }
    let (state_tx, state_rx) = smol::channel::unbounded();
    let mut kills: BTreeMap<String, smol::channel::Sender<()>> = BTreeMap::new();
    let mut lifecycle = Lifecycle::new(&group);
    let mut stop_asked = false;
    loop {
        let steps = lifecycle.next(&states);
        for name in &steps.kill {
            if let Some(kill) = kills.get(name) {
                let _ = kill.try_send(());
            }
        }
        for name in steps.start {
            let task = group.tasks.iter().find(|t| t.name == name).expect("the lifecycle names the group's tasks");
            match task_spec(&alloc, &group, task, &dir, &ctx) {
                Ok(mut spec) => {
                    spec.restored = restored.remove(&task.name);
                    let (kill_tx, kill_rx) = smol::channel::bounded(1);
                    kills.insert(task.name.clone(), kill_tx);
                    smol::spawn(task_runner::run(spec, state_tx.clone(), kill_rx)).detach();
                }
                Err(message) => {
                    fail_setup(states.get_mut(&task.name).expect("every task has a state"), message);
                }
            }
        }
        if lifecycle.finished(&states) {
            break;
        }
        report(&ctx, &alloc.id, &states);
        let next_state = async { state_rx.recv().await.ok() };
        let stop_now = async {
            if stop_asked {
                return smol::future::pending().await;
            }
            let _ = stop.recv().await;
            None
        };
        match smol::future::or(next_state, stop_now).await {
            Some((name, state)) => {
                states.insert(name, state);
            }
            None => {
                stop_asked = true;
                lifecycle.stop();
            }
        }
    }
    // Tasks that never ran (their phase never came) are over too.
    for name in lifecycle.never_started() {
        if let Some(state) = states.get_mut(name) {
            state.state = "dead".into();
        }
    }
    report(&ctx, &alloc.id, &states);
}

/// The task could not be set up: it is dead and failed, and its last event says why.
fn fail_setup(state: &mut TaskState, message: impl Into<String>) {
    state.state = "dead".into();
    state.failed = true;
    state.events.push(failing_event(event::SETUP_FAILURE, message));
}

/// The host volumes a task mounts (`volume_mount` of a group's `volume` of type "host"),
/// read-only when the mount, the group's volume or the node's volume says so.
fn host_volume_mounts(group: &TaskGroup, task: &crate::structs::Task, node: &Node) -> Result<Vec<Mount>, String> {
    task.volume_mounts
        .iter()
        .map(|mount| {
            let volume = group
                .volumes
                .get(&mount.volume)
                .ok_or_else(|| format!("volume_mount: the group has no volume {:?}", mount.volume))?;
            if volume.volume_type != "host" {
                return Err(format!("volume {:?}: type {:?} is not supported", mount.volume, volume.volume_type));
            }
            let offered = node
                .host_volumes
                .get(&volume.source)
                .ok_or_else(|| format!("host volume {:?} is not configured on this node", volume.source))?;
            Ok(Mount {
                host: offered.path.clone().into(),
                task: mount.destination.clone().into(),
                read_only: mount.read_only || volume.read_only || offered.read_only,
            })
        })
        .collect()
}

fn task_spec(
    alloc: &Allocation,
    group: &TaskGroup,
    task: &crate::structs::Task,
    dir: &AllocDir,
    ctx: &RunnerContext,
) -> Result<TaskSpec, String> {
    let driver = ctx
        .drivers
        .get(&task.driver)
        .cloned()
        .ok_or_else(|| format!("driver {:?} is not available on this node", task.driver))?;
    if let (Some(target), Some(job)) = (&task.dispatch_payload, &alloc.job) {
        if !job.payload.is_empty() {
            let payload = base64::engine::general_purpose::STANDARD
                .decode(&job.payload)
                .map_err(|e| format!("dispatch payload is not base64: {e}"))?;
            dir.write_payload(&task.name, &target.file, &payload)
                .map_err(|e| format!("writing the dispatch payload: {e}"))?;
        }
    }
    let task_dir = dir.task_dir(&task.name);
    let paths = TaskPaths { alloc_dir: &dir.root, task_dir: &task_dir };
    let task_env = env::build(alloc, task, &ctx.node, &ctx.region, &paths);
    let config = env::interpolate_config(&serde_json::Value::Object(task.config.clone()), &task_env, &ctx.node);
    let job_type = alloc.job.as_ref().map_or(JobType::Service, |j| j.job_type);
    let restart = task
        .restart_policy
        .clone()
        .or_else(|| group.restart_policy.clone())
        .unwrap_or_else(|| RestartPolicy::for_job_type(job_type));
    let config = TaskConfig {
        id: format!("{}-{}", alloc.id, task.name),
        name: task.name.clone(),
        alloc_id: alloc.id.clone(),
        task_dir,
        alloc_dir: dir.root.join("alloc"),
        env: task_env,
        config,
        user: (!task.user.is_empty()).then(|| task.user.clone()),
        resources: rove_drivers::Resources {
            cpu_mhz: task.resources.cpu,
            memory_mb: task.resources.memory_mb,
            memory_max_mb: task.resources.memory_max_mb,
            // The CPU ids the scheduler reserved for the task on this node.
            cores: alloc
                .allocated_resources
                .task_cores
                .get(&task.name)
                .map(|ids| ids.iter().map(|&c| u32::from(c)).collect())
                .unwrap_or_default(),
        },
        stdout_path: dir.log_fifo(&task.name, "stdout"),
        stderr_path: dir.log_fifo(&task.name, "stderr"),
        mounts: host_volume_mounts(group, task, &ctx.node)?,
    };
    let logs = task.log_config.unwrap_or_default();
    let executor = PROCESS_DRIVERS.contains(&task.driver.as_str()).then(|| {
        let (exit_path, log_path) = super::launch::executor_paths(&ctx.tasks_dir, &config.id);
        let spec = ExecutorSpec {
            driver: task.driver.clone(),
            chroot_env: ctx.chroot_env.clone(),
            config: config.clone(),
            logs,
            exit_path,
        };
        (spec, log_path)
    });
    Ok(TaskSpec {
        name: task.name.clone(),
        driver,
        config,
        logs,
        restart,
        restart_on_success: matches!(job_type, JobType::Service | JobType::System),
        kill_signal: task.kill_signal.clone(),
        kill_timeout: task.kill_timeout,
        shutdown_delay: task.shutdown_delay,
        artifacts: task.artifacts.clone(),
        templates: task.templates.clone(),
        live: ctx.live.clone(),
        executor,
        restored: None,
        store: ctx.store.clone(),
    })
}
