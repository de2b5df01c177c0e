//! The client: the node agent. It fingerprints the machine, registers and heartbeats with
//! the servers, watches its allocations with blocking queries, runs them through drivers,
//! and reports their status back in batches.

mod alloc_dir;
mod alloc_runner;
mod artifact;
mod edge_facts;
mod env;
pub mod executor;
mod fingerprint;
pub mod gc;
mod launch;
mod lifecycle;
pub mod live_tasks;
mod log_collector;
mod log_rotator;
mod restart;
mod state_db;
mod task_runner;
mod template;

pub use self::alloc_dir::{log_fifo_name, LOGS_DIR};
pub use self::log_rotator::indexes as log_file_indexes;

use self::alloc_runner::{AllocRunner, RunnerContext};
use self::live_tasks::LiveTasks;
use crate::rpc::{Request, Response, RpcClient, RpcError};
use crate::server::command::AllocClientUpdate;
use crate::structs::{Allocation, DesiredStatus, Node, NodeStatus};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long a watch for allocation changes blocks on the server.
const WATCH_WAIT: Duration = Duration::from_secs(30);
/// How long the client gathers status updates before sending them as one batch: long
/// enough to coalesce a burst (one Raft write for many allocations), short enough that a
/// task's start is reported promptly.
const UPDATE_COALESCE: Duration = Duration::from_millis(20);
/// How long to wait before retrying an unreachable server.
const RETRY_DELAY: Duration = Duration::from_secs(1);
/// How often drivers are fingerprinted again (Nomad checks driver health every 30 s).
const DRIVER_FINGERPRINT_PERIOD: Duration = Duration::from_secs(30);
const RPC_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The client's own state: node ID and allocation directories.
    pub data_dir: PathBuf,
    pub node_name: String,
    pub datacenter: String,
    pub region: String,
    pub node_class: String,
    pub node_pool: String,
    pub meta: BTreeMap<String, String>,
    pub servers: Vec<String>,
    pub raw_exec_enabled: bool,
    /// The host paths exec and java tasks see (`client { chroot_env { ... } }`).
    pub chroot_env: rove_drivers::ChrootEnv,
    /// How the docker driver reaches its engine and what it allows.
    pub docker: rove_drivers::DockerOptions,
    /// The address this agent's HTTP API is reachable at, for `alloc logs`.
    pub http_addr: String,
    /// Host directories offered to jobs by name (`client { host_volume "name" { ... } }`).
    pub host_volumes: BTreeMap<String, crate::structs::ClientHostVolumeConfig>,
    /// When finished allocations' directories are removed.
    pub gc: gc::GcConfig,
    /// Whether a shutdown stops every task first (`drain_on_shutdown`).
    pub drain_on_shutdown: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("client data dir {path}: {source}")]
    DataDir { path: PathBuf, source: std::io::Error },
    #[error("host_volume {name:?}: path {path} is not a directory")]
    HostVolume { name: String, path: String },
    #[error("{0}")]
    State(#[from] state_db::StateDbError),
}

pub struct Client {
    config: ClientConfig,
    node_id: String,
    rpc: RpcClient,
    runners: Mutex<HashMap<String, AllocRunner>>,
    tasks: Mutex<Vec<smol::Task<()>>>,
    live: LiveTasks,
    /// The latest status of each allocation, sent again after this node was out of touch
    /// (the servers marked its waiting allocations unknown meanwhile).
    latest: Arc<Mutex<BTreeMap<String, AllocClientUpdate>>>,
    updates: smol::channel::Sender<AllocClientUpdate>,
}

impl Client {
    pub fn start(config: ClientConfig) -> Result<Arc<Client>, ClientError> {
        if let Some(bad) = config.host_volumes.values().find(|v| !Path::new(&v.path).is_dir()) {
            return Err(ClientError::HostVolume { name: bad.name.clone(), path: bad.path.clone() });
        }
        let data_err = |source| ClientError::DataDir { path: config.data_dir.clone(), source };
        std::fs::create_dir_all(config.data_dir.join("alloc")).map_err(data_err)?;
        let tasks_dir = config.data_dir.join("tasks");
        std::fs::create_dir_all(&tasks_dir).map_err(data_err)?;
        let node_id = load_or_create_node_id(&config.data_dir).map_err(data_err)?;
        let drivers: Vec<Box<dyn rove_drivers::Driver>> =
            rove_drivers::all_drivers(config.raw_exec_enabled, config.chroot_env.clone(), &config.docker);
        let node = build_node(&config, &node_id, &drivers);
        let allocs_root = config.data_dir.join("alloc");
        let store = Arc::new(state_db::StateDb::open(&config.data_dir.join("state.redb"))?);
        // Allocations an earlier run left with running tasks are picked up below; the other
        // stored ones are forgotten (the servers say whether they still run), and whatever
        // else the drivers left (containers of allocations this client no longer has)
        // belongs to nothing.
        let (resumed, finished): (Vec<_>, Vec<_>) =
            store.load()?.into_iter().partition(|(_, records)| records.values().any(|r| r.running.is_some()));
        for (alloc, _) in &finished {
            store.remove_alloc(&alloc.id)?;
        }
        let tracked: Vec<String> = resumed.iter().map(|(alloc, _)| alloc.id.clone()).collect();
        for driver in drivers.iter().filter(|d| node.drivers.get(d.name()).is_some_and(|i| i.healthy)) {
            match driver.cleanup_untracked(&allocs_root, &tracked) {
                Ok(removed) if !removed.is_empty() => {
                    log::info!(target: "client", "{}: removed {} leftover task(s)", driver.name(), removed.len())
                }
                Ok(_) => {}
                Err(e) => log::warn!(target: "client", "{}: removing leftover tasks: {e}", driver.name()),
            }
        }
        log::info!(
            target: "client",
            "node {node_id} ({}): {} MHz, {} MB memory, drivers {}",
            node.name,
            node.node_resources.cpu.cpu_shares,
            node.node_resources.memory.memory_mb,
            node.drivers.iter().filter(|(_, d)| d.healthy).map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(",")
        );
        let (updates_tx, updates_rx) = smol::channel::unbounded();
        let live = LiveTasks::default();
        let ctx = Arc::new(RunnerContext {
            allocs_root,
            drivers: drivers.into_iter().map(|d| (d.name().to_string(), Arc::from(d))).collect(),
            node: node.clone(),
            region: config.region.clone(),
            updates: updates_tx,
            live: live.clone(),
            chroot_env: config.chroot_env.clone(),
            tasks_dir: tasks_dir.clone(),
            store: store.clone(),
            latest: Arc::default(),
        });
        let restored = resumed
            .into_iter()
            .map(|(alloc, records)| {
                log::info!(target: "client", "picking up allocation {} ({}) from before the restart", alloc.id, alloc.name);
                (alloc.id.clone(), AllocRunner::spawn(alloc, ctx.clone(), records))
            })
            .collect();
        let client = Arc::new(Client {
            rpc: RpcClient::new(config.servers.clone()),
            config,
            node_id,
            runners: Mutex::new(restored),
            tasks: Mutex::new(Vec::new()),
            live,
            latest: ctx.latest.clone(),
            updates: ctx.updates.clone(),
        });
        let tasks = vec![
            smol::spawn(client.clone().register_and_heartbeat(node, ctx.drivers.values().cloned().collect())),
            smol::spawn(client.clone().watch_allocations(ctx)),
            smol::spawn(client.clone().send_updates(updates_rx)),
            smol::spawn(client.clone().collect_garbage()),
        ];
        *client.tasks.lock().expect("task lock poisoned") = tasks;
        Ok(client)
    }

    pub fn node_id(&self) -> &str {
        &self.node_id
    }

    /// The resource usage of the allocation's running tasks, by task; `None` when no task
    /// of it runs on this node.
    pub fn alloc_usage(&self, alloc_id: &str) -> Option<BTreeMap<String, rove_drivers::TaskStats>> {
        self.live.runs(alloc_id).then(|| self.live.usage(alloc_id))
    }

    /// Signals the allocation's running tasks (or only `task`); how many were signalled.
    pub fn signal_alloc(
        &self,
        alloc_id: &str,
        task: Option<&str>,
        signal: &str,
    ) -> Result<usize, rove_drivers::DriverError> {
        self.live.signal(alloc_id, task, signal)
    }

    /// Runs a command in a running task of the allocation (`alloc exec`); blocks.
    pub fn exec_alloc(
        &self,
        alloc_id: &str,
        task: Option<&str>,
        cmd: Vec<String>,
        timeout: Duration,
    ) -> Result<rove_drivers::ExecOutput, live_tasks::ExecError> {
        self.live.exec(alloc_id, task, cmd, timeout)
    }

    /// Restarts the allocation's running tasks (or only `task`); how many were restarted.
    pub fn restart_alloc(&self, alloc_id: &str, task: Option<&str>) -> usize {
        self.live.restart(alloc_id, task)
    }

    /// The directory of an allocation this node runs or ran.
    pub fn alloc_dir(&self, alloc_id: &str) -> Option<PathBuf> {
        if alloc_id.is_empty() || alloc_id.contains('/') || alloc_id.contains("..") {
            return None;
        }
        let dir = self.config.data_dir.join("alloc").join(alloc_id);
        dir.is_dir().then_some(dir)
    }

    /// Stops reporting to the servers. Tasks keep running, as Nomad's do, and the next
    /// start of this agent picks them up; with `drain_on_shutdown` every task is stopped
    /// first (the servers keep the allocations, so the next start runs them again).
    pub async fn shutdown(&self) {
        self.tasks.lock().expect("task lock poisoned").clear();
        let runners: Vec<AllocRunner> =
            self.runners.lock().expect("runner lock poisoned").drain().map(|(_, r)| r).collect();
        if !self.config.drain_on_shutdown {
            let running = runners.iter().filter(|r| !r.is_finished()).count();
            log::info!(target: "client", "leaving {running} allocation(s) running; the next start picks them up");
            return;
        }
        for runner in runners {
            runner.shutdown().await;
        }
    }

    async fn call(&self, request: &Request) -> Result<Response, RpcError> {
        self.rpc.call(request, RPC_TIMEOUT).await
    }

    async fn register(&self, node: &Node) -> Duration {
        loop {
            let request = Request::NodeRegister { node: Box::new(node.clone()) };
            match self.call(&request).await {
                Ok(Response::Heartbeat { ttl_ms, .. }) => {
                    log::info!(target: "client", "node registered; heartbeat TTL {ttl_ms} ms");
                    return Duration::from_millis(ttl_ms);
                }
                Ok(_) => log::warn!(target: "client", "unexpected answer to node registration"),
                Err(e) => log::warn!(target: "client", "registering node: {e}"),
            }
            smol::Timer::after(RETRY_DELAY).await;
        }
    }

    /// Registers the node, heartbeats within its TTL, and re-fingerprints the drivers every
    /// [`DRIVER_FINGERPRINT_PERIOD`]: a driver that appears, fails or recovers changes
    /// where work can go, so the node registers again with the new facts.
    async fn register_and_heartbeat(self: Arc<Self>, mut node: Node, drivers: Vec<Arc<dyn rove_drivers::Driver>>) {
        let mut ttl = self.register(&node).await;
        let mut next_fingerprint = std::time::Instant::now() + DRIVER_FINGERPRINT_PERIOD;
        let mut out_of_touch = false;
        let mut last_contact = std::time::Instant::now();
        loop {
            smol::Timer::after(ttl / 2).await;
            if std::time::Instant::now() >= next_fingerprint {
                next_fingerprint = std::time::Instant::now() + DRIVER_FINGERPRINT_PERIOD;
                let (before, drivers) = (node.clone(), drivers.clone());
                let (changed, refreshed) = smol::unblock(move || {
                    let mut node = before;
                    (fingerprint::refresh_drivers(&mut node, drivers.iter().map(|d| d.as_ref())), node)
                })
                .await;
                if changed {
                    let healthy: Vec<&str> =
                        refreshed.drivers.iter().filter(|(_, d)| d.healthy).map(|(n, _)| n.as_str()).collect();
                    log::info!(target: "client", "driver health changed; healthy now: {}", healthy.join(","));
                    node = refreshed;
                    ttl = self.register(&node).await;
                    continue;
                }
            }
            let request = Request::NodeHeartbeat { node_id: self.node_id.clone() };
            match self.call(&request).await {
                Ok(Response::Heartbeat { ttl_ms, resync, .. }) => {
                    last_contact = std::time::Instant::now();
                    if std::mem::take(&mut out_of_touch) || resync {
                        log::info!(target: "client", "servers reachable again; reporting every allocation's status");
                        self.report_all_again();
                    }
                    ttl = Duration::from_millis(ttl_ms);
                }
                Ok(_) => log::warn!(target: "client", "unexpected answer to heartbeat"),
                Err(RpcError::Remote(message)) if message.contains("not found") => {
                    log::warn!(target: "client", "servers do not know this node; registering again");
                    ttl = self.register(&node).await;
                }
                Err(e) => {
                    log::warn!(target: "client", "heartbeat failed: {e}");
                    out_of_touch = true;
                    ttl = RETRY_DELAY * 2;
                    self.stop_cut_off(last_contact.elapsed());
                }
            }
        }
    }

    async fn watch_allocations(self: Arc<Self>, ctx: Arc<RunnerContext>) {
        let mut index = 0;
        loop {
            let request = Request::NodeAllocs {
                node_id: self.node_id.clone(),
                min_index: index,
                wait_ms: WATCH_WAIT.as_millis() as u64,
            };
            match self.rpc.call(&request, WATCH_WAIT + RPC_TIMEOUT).await {
                Ok(Response::Allocs { allocs, index: new_index }) => {
                    if new_index != index {
                        self.reconcile(allocs, &ctx);
                        index = new_index;
                    }
                }
                Ok(_) => log::warn!(target: "client", "unexpected answer to allocation watch"),
                Err(e) => {
                    log::warn!(target: "client", "watching allocations: {e}");
                    smol::Timer::after(RETRY_DELAY).await;
                }
            }
        }
    }

    /// Starts new allocations, stops those the servers stopped or removed.
    fn reconcile(&self, allocs: Vec<Allocation>, ctx: &Arc<RunnerContext>) {
        let mut runners = self.runners.lock().expect("runner lock poisoned");
        let present: std::collections::HashSet<String> = allocs.iter().map(|a| a.id.clone()).collect();
        for alloc in allocs {
            let wants_run = alloc.desired_status == DesiredStatus::Run;
            match runners.get_mut(&alloc.id) {
                Some(runner) if !wants_run && runner.alloc_modify_index != alloc.alloc_modify_index => {
                    log::info!(target: "client", "stopping allocation {} ({})", alloc.id, alloc.name);
                    runner.alloc_modify_index = alloc.alloc_modify_index;
                    runner.stop();
                }
                Some(runner) => runner.alloc_modify_index = alloc.alloc_modify_index,
                None if wants_run && !alloc.client_status.is_terminal() => {
                    log::info!(target: "client", "starting allocation {} ({})", alloc.id, alloc.name);
                    let id = alloc.id.clone();
                    runners.insert(id, AllocRunner::spawn(alloc, ctx.clone(), BTreeMap::new()));
                }
                None => {}
            }
        }
        let gone: Vec<String> = runners.keys().filter(|id| !present.contains(*id)).cloned().collect();
        for id in gone {
            if let Some(runner) = runners.remove(&id) {
                log::info!(target: "client", "allocation {id} was removed by the servers; stopping it");
                let data_dir = self.config.data_dir.clone();
                smol::spawn(async move {
                    runner.shutdown().await;
                    let removing = id.clone();
                    if let Err(e) = smol::unblock(move || remove_alloc_files(&data_dir, &removing)).await {
                        log::warn!(target: "client", "removing the directory of allocation {id}: {e}");
                    }
                })
                .detach();
            }
        }
    }

    /// Stops the allocations whose groups do not run longer than `cut_off` without the
    /// servers (`stop_on_client_after`).
    fn stop_cut_off(&self, cut_off: Duration) {
        let runners = self.runners.lock().expect("runner lock poisoned");
        for (id, runner) in runners.iter() {
            if runner.stop_when_cut_off.is_some_and(|limit| cut_off >= limit) && !runner.is_finished() {
                log::warn!(target: "client", "no server reached for {cut_off:?}: stopping allocation {id}");
                runner.stop();
            }
        }
    }

    /// Sends every running allocation's latest status again.
    fn report_all_again(&self) {
        let runners = self.runners.lock().expect("runner lock poisoned");
        let mut latest = self.latest.lock().expect("status lock poisoned");
        latest.retain(|id, _| runners.contains_key(id));
        for update in latest.values() {
            let _ = self.updates.try_send(update.clone());
        }
    }

    /// Removes finished allocations' directories by the GC settings, for good.
    async fn collect_garbage(self: Arc<Self>) {
        let root = self.config.data_dir.join("alloc");
        loop {
            smol::Timer::after(self.config.gc.interval).await;
            let finished: Vec<(String, std::time::SystemTime)> = {
                let runners = self.runners.lock().expect("runner lock poisoned");
                let Ok(entries) = std::fs::read_dir(&root) else { continue };
                entries
                    .flatten()
                    .filter_map(|e| Some((e.file_name().into_string().ok()?, e.metadata().ok()?.modified().ok()?)))
                    .filter(|(id, _)| runners.get(id).is_none_or(AllocRunner::is_finished))
                    .collect()
            };
            let threshold = self.config.gc.disk_usage_threshold;
            let full = |_removed: usize| gc::disk_usage_percent(&root).is_some_and(|used| used > threshold);
            // A finished runner stays tracked, so the allocation is not started again.
            for id in gc::choose(finished, &self.config.gc, full) {
                let (data_dir, removing) = (self.config.data_dir.clone(), id.clone());
                match smol::unblock(move || remove_alloc_files(&data_dir, &removing)).await {
                    Ok(()) => log::info!(target: "client", "garbage collected allocation {id}"),
                    Err(e) => log::warn!(target: "client", "garbage collecting allocation {id}: {e}"),
                }
            }
        }
    }

    /// Sends allocation updates in batches, newest state per allocation, retrying until
    /// the servers take them.
    async fn send_updates(self: Arc<Self>, updates: smol::channel::Receiver<AllocClientUpdate>) {
        let mut pending: BTreeMap<String, AllocClientUpdate> = BTreeMap::new();
        loop {
            if pending.is_empty() {
                match updates.recv().await {
                    Ok(update) => {
                        pending.insert(update.id.clone(), update);
                    }
                    Err(_) => return,
                }
            }
            smol::Timer::after(UPDATE_COALESCE).await;
            while let Ok(update) = updates.try_recv() {
                pending.insert(update.id.clone(), update);
            }
            let batch: Vec<AllocClientUpdate> = pending.values().cloned().collect();
            match self.call(&Request::NodeUpdateAllocs { updates: batch }).await {
                Ok(_) => pending.clear(),
                Err(RpcError::Remote(message)) => {
                    log::warn!(target: "client", "servers refused allocation updates: {message}");
                    pending.clear();
                }
                Err(e) => {
                    log::warn!(target: "client", "sending allocation updates (will retry): {e}");
                    smol::Timer::after(RETRY_DELAY).await;
                }
            }
        }
    }
}

/// Removes what an allocation left on this node: its directory and its executors' files.
fn remove_alloc_files(data_dir: &Path, alloc_id: &str) -> std::io::Result<()> {
    launch::remove_executor_files(&data_dir.join("tasks"), alloc_id);
    alloc_dir::AllocDir { root: data_dir.join("alloc").join(alloc_id) }.destroy()
}

fn load_or_create_node_id(data_dir: &Path) -> std::io::Result<String> {
    let path = data_dir.join("node-id");
    match std::fs::read_to_string(&path) {
        Ok(id) if !id.trim().is_empty() => Ok(id.trim().to_string()),
        _ => {
            let id = crate::structs::generate_id();
            std::fs::write(&path, &id)?;
            Ok(id)
        }
    }
}

fn build_node(config: &ClientConfig, node_id: &str, drivers: &[Box<dyn rove_drivers::Driver>]) -> Node {
    let machine = fingerprint::machine(&config.data_dir);
    let mut attributes = machine.attributes;
    let drivers = fingerprint::drivers(drivers.iter().map(|d| d.as_ref()), &mut attributes);
    if let Some(host) = config.http_addr.rsplit_once(':').map(|(h, _)| h.to_string()) {
        attributes.insert("unique.network.ip-address".into(), host);
    }
    Node {
        id: node_id.to_string(),
        name: config.node_name.clone(),
        datacenter: config.datacenter.clone(),
        node_class: config.node_class.clone(),
        node_pool: config.node_pool.clone(),
        http_addr: config.http_addr.clone(),
        attributes,
        meta: config.meta.clone(),
        node_resources: machine.resources,
        drivers,
        host_volumes: config.host_volumes.clone(),
        status: NodeStatus::Initializing,
        scheduling_eligibility: "eligible".into(),
        ..Node::default()
    }
}
