//! The in-memory state store: indexed tables of jobs, evaluations, allocations and nodes,
//! with cheap MVCC snapshots (persistent maps) and change notification for blocking queries.
//!
//! Only the FSM writes to it (every write comes from a committed Raft entry); everything
//! else reads consistent snapshots.

use crate::scheduler::NodeLoad;
use crate::structs::{
    Allocation, ClientStatus, EvalStatus, Evaluation, Job, JobStatus, JobSummary, Node, NodePool,
    SchedulerConfiguration,
};
use event_listener::Event;
use imbl::{OrdMap, OrdSet};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// The tables blocking queries can wait on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    Jobs,
    Evals,
    Allocs,
    Nodes,
    NodePools,
}

/// `(namespace, job id)`
pub type JobKey = (String, String);

/// Keys of the large tables and indexes: shared strings, so that the copy-on-write nodes
/// a write copies clone keys by reference count instead of by allocation.
type Id = Arc<str>;

/// `(namespace, job id)` inside the indexes.
type JobRef = (Id, Id);

fn job_ref(namespace: &str, job_id: &str) -> JobRef {
    (namespace.into(), job_id.into())
}

/// A consistent, immutable view of the whole state at one Raft index.
#[derive(Clone, Default)]
pub struct Snapshot {
    jobs: OrdMap<JobKey, Arc<Job>>,
    evals: OrdMap<Id, Arc<Evaluation>>,
    allocs: OrdMap<Id, Arc<Allocation>>,
    nodes: OrdMap<Id, Arc<Node>>,
    allocs_by_node: OrdSet<(Id, Id)>,
    allocs_by_job: OrdSet<(JobRef, Id)>,
    evals_by_job: OrdSet<(JobRef, Id)>,
    /// Evaluations waiting for capacity, so unblocking does not scan every evaluation.
    blocked_evals: OrdSet<Id>,
    /// What each node's live allocations hold, kept up to date by every allocation write.
    node_loads: OrdMap<Id, Arc<NodeLoad>>,
    /// The pools made by `node pool apply` or by nodes that named them (not the built-in
    /// `all` and `default`).
    node_pools: OrdMap<Id, Arc<NodePool>>,
    scheduler_config: Arc<SchedulerConfiguration>,
    indexes: TableIndexes,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
struct TableIndexes {
    jobs: u64,
    evals: u64,
    allocs: u64,
    nodes: u64,
    #[serde(default)]
    node_pools: u64,
}

/// The serialized form of a snapshot, for Raft snapshots. Allocations share their job
/// versions: each version is written once, in `alloc_jobs`, and allocations refer to it by
/// position, so a million allocations of one job do not write the job a million times.
#[derive(Serialize, Deserialize)]
struct Persisted {
    jobs: Vec<Job>,
    evals: Vec<Evaluation>,
    alloc_jobs: Vec<Arc<Job>>,
    allocs: Vec<(Allocation, Option<usize>)>,
    nodes: Vec<Node>,
    #[serde(default)]
    node_pools: Vec<NodePool>,
    #[serde(default)]
    scheduler_config: SchedulerConfiguration,
    indexes: TableIndexes,
}

fn prefixed<'a, V: 'a>(map: &'a OrdMap<Id, Arc<V>>, prefix: &'a str) -> impl Iterator<Item = &'a Arc<V>> + 'a {
    map.range(Id::from(prefix)..).take_while(move |(k, _)| k.starts_with(prefix)).map(|(_, v)| v)
}

/// The rows a secondary index lists under `key`, looked up in their table.
fn indexed<K: Ord + Clone, V>(index: &OrdSet<(K, Id)>, key: K, table: &OrdMap<Id, Arc<V>>) -> Vec<Arc<V>> {
    index
        .range((key.clone(), Id::from(""))..)
        .take_while(|(k, _)| *k == key)
        .filter_map(|(_, id)| table.get(id).cloned())
        .collect()
}

impl Snapshot {
    pub fn index(&self, table: Table) -> u64 {
        match table {
            Table::Jobs => self.indexes.jobs,
            Table::Evals => self.indexes.evals,
            Table::Allocs => self.indexes.allocs,
            Table::Nodes => self.indexes.nodes,
            Table::NodePools => self.indexes.node_pools,
        }
    }

    /// A node pool by name, the built-in ones included.
    pub fn node_pool(&self, name: &str) -> Option<Arc<NodePool>> {
        self.node_pools
            .get(name)
            .cloned()
            .or_else(|| NodePool::built_in().into_iter().find(|p| p.name == name).map(Arc::new))
    }

    /// Every node pool whose name starts with `prefix`, the built-in ones first.
    pub fn node_pools(&self, prefix: &str) -> Vec<Arc<NodePool>> {
        let built_in = NodePool::built_in().into_iter().map(Arc::new);
        built_in.chain(prefixed(&self.node_pools, prefix).cloned()).filter(|p| p.name.starts_with(prefix)).collect()
    }

    pub fn scheduler_config(&self) -> &SchedulerConfiguration {
        &self.scheduler_config
    }

    /// The highest index of any table: the Raft index this snapshot reflects.
    pub fn latest_index(&self) -> u64 {
        let i = self.indexes;
        i.jobs.max(i.evals).max(i.allocs).max(i.nodes).max(i.node_pools)
    }

    pub fn job(&self, namespace: &str, id: &str) -> Option<Arc<Job>> {
        self.jobs.get(&(namespace.to_string(), id.to_string())).cloned()
    }

    /// Jobs in `namespace` (all namespaces for `"*"`) whose ID starts with `prefix`.
    pub fn jobs<'a>(&'a self, namespace: &'a str, prefix: &'a str) -> impl Iterator<Item = &'a Arc<Job>> + 'a {
        self.jobs.values().filter(move |j| (namespace == "*" || j.namespace == namespace) && j.id.starts_with(prefix))
    }

    pub fn eval(&self, id: &str) -> Option<Arc<Evaluation>> {
        self.evals.get(id).cloned()
    }

    pub fn evals_by_prefix<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = &'a Arc<Evaluation>> + 'a {
        prefixed(&self.evals, prefix)
    }

    pub fn evals_by_job(&self, namespace: &str, job_id: &str) -> Vec<Arc<Evaluation>> {
        indexed(&self.evals_by_job, job_ref(namespace, job_id), &self.evals)
    }

    /// Evaluations not yet finished, oldest first.
    pub fn pending_evals(&self) -> Vec<Arc<Evaluation>> {
        let mut evals: Vec<_> = self.evals.values().filter(|e| e.status == EvalStatus::Pending).cloned().collect();
        evals.sort_by_key(|e| e.create_index);
        evals
    }

    pub fn blocked_evals(&self) -> impl Iterator<Item = &Arc<Evaluation>> {
        self.blocked_evals.iter().filter_map(|id| self.evals.get(id))
    }

    pub fn alloc(&self, id: &str) -> Option<Arc<Allocation>> {
        self.allocs.get(id).cloned()
    }

    pub fn allocs_by_prefix<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = &'a Arc<Allocation>> + 'a {
        prefixed(&self.allocs, prefix)
    }

    pub fn allocs_by_job(&self, namespace: &str, job_id: &str) -> Vec<Arc<Allocation>> {
        indexed(&self.allocs_by_job, job_ref(namespace, job_id), &self.allocs)
    }

    pub fn allocs_by_node(&self, node_id: &str) -> Vec<Arc<Allocation>> {
        indexed(&self.allocs_by_node, Id::from(node_id), &self.allocs)
    }

    pub fn node(&self, id: &str) -> Option<Arc<Node>> {
        self.nodes.get(id).cloned()
    }

    pub fn nodes_by_prefix<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = &'a Arc<Node>> + 'a {
        prefixed(&self.nodes, prefix)
    }

    /// Counts of a job's allocations per group and client status, as Nomad's job summary.
    pub fn job_summary(&self, job: &Job) -> JobSummary {
        let mut summary = JobSummary {
            job_id: job.id.clone(),
            namespace: job.namespace.clone(),
            create_index: job.create_index,
            modify_index: job.modify_index,
            ..JobSummary::default()
        };
        for group in &job.task_groups {
            summary.summary.entry(group.name.clone()).or_default();
        }
        for alloc in self.allocs_by_job(&job.namespace, &job.id) {
            let counts = summary.summary.entry(alloc.task_group.clone()).or_default();
            match alloc.client_status {
                ClientStatus::Pending => counts.starting += 1,
                ClientStatus::Running => counts.running += 1,
                ClientStatus::Complete => counts.complete += 1,
                ClientStatus::Failed => counts.failed += 1,
                ClientStatus::Lost => counts.lost += 1,
                ClientStatus::Unknown => counts.unknown += 1,
            }
            summary.modify_index = summary.modify_index.max(alloc.modify_index);
        }
        if let Some(eval) = self.evals_by_job(&job.namespace, &job.id).iter().max_by_key(|e| e.create_index) {
            for (group, queued) in &eval.queued_allocations {
                summary.summary.entry(group.clone()).or_default().queued = *queued;
            }
        }
        summary
    }

    /// A job's status from its allocations and evaluations, by Nomad's rules: running
    /// while any allocation is live, pending while an evaluation is outstanding, else dead.
    fn derive_job_status(&self, job: &Job) -> JobStatus {
        if job.is_periodic() || job.is_parameterized() {
            // A template for children is running for as long as it is not stopped.
            return if job.stop { JobStatus::Dead } else { JobStatus::Running };
        }
        let allocs = self.allocs_by_job(&job.namespace, &job.id);
        if allocs.iter().any(|a| !a.is_terminal()) {
            return JobStatus::Running;
        }
        let evals = self.evals_by_job(&job.namespace, &job.id);
        if evals.iter().any(|e| !e.status.is_terminal()) {
            return JobStatus::Pending;
        }
        if !allocs.is_empty() || !evals.is_empty() || job.stop {
            JobStatus::Dead
        } else {
            JobStatus::Pending
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut persisted = Persisted {
            jobs: self.jobs.values().map(|j| (**j).clone()).collect(),
            evals: self.evals.values().map(|e| (**e).clone()).collect(),
            alloc_jobs: Vec::new(),
            allocs: Vec::with_capacity(self.allocs.len()),
            nodes: self.nodes.values().map(|n| (**n).clone()).collect(),
            node_pools: self.node_pools.values().map(|p| (**p).clone()).collect(),
            scheduler_config: (*self.scheduler_config).clone(),
            indexes: self.indexes,
        };
        let mut positions: HashMap<*const Job, usize> = HashMap::new();
        for alloc in self.allocs.values() {
            let mut alloc = (**alloc).clone();
            let position = alloc.job.take().map(|job| {
                *positions.entry(Arc::as_ptr(&job)).or_insert_with(|| {
                    persisted.alloc_jobs.push(job);
                    persisted.alloc_jobs.len() - 1
                })
            });
            persisted.allocs.push((alloc, position));
        }
        serde_json::to_vec(&persisted).expect("state serializes to JSON")
    }

    pub fn from_bytes(data: &[u8]) -> Result<Snapshot, serde_json::Error> {
        let persisted: Persisted = serde_json::from_slice(data)?;
        let mut snap = Snapshot {
            indexes: persisted.indexes,
            scheduler_config: Arc::new(persisted.scheduler_config),
            ..Snapshot::default()
        };
        for job in persisted.jobs {
            snap.put_job(job);
        }
        for eval in persisted.evals {
            snap.put_eval(eval);
        }
        for (mut alloc, position) in persisted.allocs {
            alloc.job = position.and_then(|p| persisted.alloc_jobs.get(p)).cloned();
            snap.put_alloc(alloc);
        }
        for node in persisted.nodes {
            snap.nodes.insert(node.id.as_str().into(), Arc::new(node));
        }
        for pool in persisted.node_pools {
            snap.node_pools.insert(pool.name.as_str().into(), Arc::new(pool));
        }
        Ok(snap)
    }

    // Writers, used by `StateStore::write` only.

    fn put_job(&mut self, job: Job) {
        self.jobs.insert((job.namespace.clone(), job.id.clone()), Arc::new(job));
    }

    fn put_eval(&mut self, eval: Evaluation) {
        let id = Id::from(eval.id.as_str());
        self.evals_by_job.insert((job_ref(&eval.namespace, &eval.job_id), id.clone()));
        if eval.status == EvalStatus::Blocked {
            self.blocked_evals.insert(id.clone());
        } else {
            self.blocked_evals.remove(&id);
        }
        self.evals.insert(id, Arc::new(eval));
    }

    fn put_alloc(&mut self, alloc: Allocation) {
        let id = Id::from(alloc.id.as_str());
        match self.allocs.get(alloc.id.as_str()).cloned() {
            Some(old) => {
                if old.node_id != alloc.node_id {
                    self.allocs_by_node.remove(&(Id::from(old.node_id.as_str()), id.clone()));
                    self.allocs_by_node.insert((alloc.node_id.as_str().into(), id.clone()));
                }
                self.change_load(&old, NodeLoad::remove);
            }
            None => {
                self.allocs_by_node.insert((alloc.node_id.as_str().into(), id.clone()));
                self.allocs_by_job.insert((job_ref(&alloc.namespace, &alloc.job_id), id.clone()));
            }
        }
        self.change_load(&alloc, NodeLoad::add);
        self.allocs.insert(id, Arc::new(alloc));
    }
}

impl Snapshot {
    fn change_load(&mut self, alloc: &Allocation, change: fn(&mut NodeLoad, &Allocation)) {
        if alloc.is_terminal() {
            return;
        }
        let load = self.node_loads.entry(alloc.node_id.as_str().into()).or_default();
        change(Arc::make_mut(load), alloc);
        if load.is_empty() {
            self.node_loads.remove(alloc.node_id.as_str());
        }
    }

    /// What the node's live allocations hold.
    pub fn node_load(&self, node_id: &str) -> Arc<NodeLoad> {
        self.node_loads.get(node_id).cloned().unwrap_or_default()
    }
}

/// A write transaction over a private copy of the tables; visible to readers on commit.
pub struct Txn {
    snap: Snapshot,
    index: u64,
    touched_jobs: Vec<JobKey>,
    upserted_evals: Vec<String>,
}

impl Txn {
    pub fn index(&self) -> u64 {
        self.index
    }

    pub fn read(&self) -> &Snapshot {
        &self.snap
    }

    pub fn upsert_job(&mut self, mut job: Job) {
        job.modify_index = self.index;
        let key = (job.namespace.clone(), job.id.clone());
        self.snap.indexes.jobs = self.index;
        self.touched_jobs.push(key);
        self.snap.put_job(job);
    }

    pub fn delete_job(&mut self, namespace: &str, id: &str) {
        let key = (namespace.to_string(), id.to_string());
        self.snap.jobs.remove(&key);
        self.snap.indexes.jobs = self.index;
    }

    pub fn upsert_eval(&mut self, mut eval: Evaluation) {
        if self.snap.evals.get(eval.id.as_str()).is_none() {
            eval.create_index = self.index;
        }
        eval.modify_index = self.index;
        self.snap.indexes.evals = self.index;
        self.touched_jobs.push((eval.namespace.clone(), eval.job_id.clone()));
        self.upserted_evals.push(eval.id.clone());
        self.snap.put_eval(eval);
    }

    pub fn upsert_alloc(&mut self, mut alloc: Allocation) {
        if self.snap.allocs.get(alloc.id.as_str()).is_none() {
            alloc.create_index = self.index;
        }
        alloc.modify_index = self.index;
        self.snap.indexes.allocs = self.index;
        self.touched_jobs.push((alloc.namespace.clone(), alloc.job_id.clone()));
        self.snap.put_alloc(alloc);
    }

    pub fn set_scheduler_config(&mut self, mut config: SchedulerConfiguration) {
        config.create_index = match self.snap.scheduler_config.create_index {
            0 => self.index,
            existing => existing,
        };
        config.modify_index = self.index;
        self.snap.scheduler_config = Arc::new(config);
    }

    /// Creates or replaces a node pool (never a built-in one).
    pub fn upsert_node_pool(&mut self, mut pool: NodePool) {
        if NodePool::is_built_in(&pool.name) {
            return;
        }
        pool.create_index = self.snap.node_pools.get(pool.name.as_str()).map_or(self.index, |old| old.create_index);
        pool.modify_index = self.index;
        self.snap.indexes.node_pools = self.index;
        self.snap.node_pools.insert(pool.name.as_str().into(), Arc::new(pool));
    }

    pub fn delete_node_pool(&mut self, name: &str) {
        if self.snap.node_pools.remove(name).is_some() {
            self.snap.indexes.node_pools = self.index;
        }
    }

    pub fn upsert_node(&mut self, mut node: Node) {
        // A node may name a pool nobody made yet: it comes into being, as in Nomad.
        if !node.node_pool.is_empty() && self.snap.node_pool(&node.node_pool).is_none() {
            self.upsert_node_pool(NodePool { name: node.node_pool.clone(), ..NodePool::default() });
        }
        if let Some(old) = self.snap.nodes.get(node.id.as_str()) {
            node.create_index = old.create_index;
        } else {
            node.create_index = self.index;
        }
        node.modify_index = self.index;
        self.snap.indexes.nodes = self.index;
        self.snap.nodes.insert(node.id.as_str().into(), Arc::new(node));
    }

    /// Removes a purged job's evaluations and allocations too.
    pub fn purge_job(&mut self, namespace: &str, id: &str) {
        let key = job_ref(namespace, id);
        for alloc in self.snap.allocs_by_job(namespace, id) {
            let alloc_id = Id::from(alloc.id.as_str());
            self.snap.change_load(&alloc, NodeLoad::remove);
            self.snap.allocs.remove(&alloc_id);
            self.snap.allocs_by_node.remove(&(alloc.node_id.as_str().into(), alloc_id.clone()));
            self.snap.allocs_by_job.remove(&(key.clone(), alloc_id));
        }
        for eval in self.snap.evals_by_job(namespace, id) {
            let eval_id = Id::from(eval.id.as_str());
            self.snap.evals.remove(&eval_id);
            self.snap.blocked_evals.remove(&eval_id);
            self.snap.evals_by_job.remove(&(key.clone(), eval_id));
        }
        self.snap.indexes.allocs = self.index;
        self.snap.indexes.evals = self.index;
        self.delete_job(namespace, id);
    }

    /// Evaluations written by this transaction that are now pending.
    pub fn pending_upserted_evals(&self) -> Vec<Evaluation> {
        self.upserted_evals
            .iter()
            .filter_map(|id| self.snap.eval(id))
            .filter(|e| e.status == EvalStatus::Pending)
            .map(|e| (*e).clone())
            .collect()
    }

    /// Brings the status of every job this transaction touched up to date.
    fn refresh_job_statuses(&mut self) {
        let mut keys = std::mem::take(&mut self.touched_jobs);
        keys.sort();
        keys.dedup();
        for (namespace, id) in keys {
            let Some(job) = self.snap.job(&namespace, &id) else {
                continue;
            };
            let status = self.snap.derive_job_status(&job);
            if status != job.status {
                let mut job = (*job).clone();
                job.status = status;
                job.modify_index = self.index;
                self.snap.indexes.jobs = self.index;
                self.snap.put_job(job);
            }
        }
    }
}

/// The shared, lockable state store.
#[derive(Default)]
pub struct StateStore {
    current: RwLock<Snapshot>,
    changed: Event,
}

impl StateStore {
    pub fn new() -> Arc<StateStore> {
        Arc::new(StateStore::default())
    }

    pub fn snapshot(&self) -> Snapshot {
        self.current.read().expect("state lock poisoned").clone()
    }

    /// Runs `f` as one transaction at Raft index `index` and publishes the result.
    pub fn write<R>(&self, index: u64, f: impl FnOnce(&mut Txn) -> R) -> R {
        let mut txn = Txn { snap: self.snapshot(), index, touched_jobs: Vec::new(), upserted_evals: Vec::new() };
        let result = f(&mut txn);
        txn.refresh_job_statuses();
        *self.current.write().expect("state lock poisoned") = txn.snap;
        self.changed.notify(usize::MAX);
        result
    }

    /// Replaces the whole state with a backup's at Raft index `index`: every table's index
    /// moves to `index`, so blocking queries see the change.
    pub fn restore_at(&self, mut snap: Snapshot, index: u64) {
        snap.indexes = TableIndexes { jobs: index, evals: index, allocs: index, nodes: index, node_pools: index };
        self.restore(snap);
    }

    /// Replaces the whole state (Raft snapshot restore).
    pub fn restore(&self, snap: Snapshot) {
        *self.current.write().expect("state lock poisoned") = snap;
        self.changed.notify(usize::MAX);
    }

    /// A blocking query: waits until `table`'s index exceeds `min_index` or `wait` passes,
    /// then returns the current snapshot.
    pub async fn wait_for(&self, table: Table, min_index: u64, wait: Duration) -> Snapshot {
        let deadline = Instant::now() + wait;
        loop {
            let listener = self.changed.listen();
            let snap = self.snapshot();
            if min_index == 0 || snap.index(table) > min_index || Instant::now() >= deadline {
                return snap;
            }
            let timer = async {
                smol::Timer::at(deadline).await;
            };
            smol::future::or(listener, timer).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::structs::{DesiredStatus, JobType};

    fn job(id: &str) -> Job {
        Job { id: id.into(), namespace: "default".into(), job_type: JobType::Service, ..Job::default() }
    }

    fn alloc(id: &str, job_id: &str, node: &str) -> Allocation {
        Allocation {
            id: id.into(),
            namespace: "default".into(),
            job_id: job_id.into(),
            node_id: node.into(),
            ..Allocation::default()
        }
    }

    #[test]
    fn blocked_evaluations_are_indexed_by_status_and_survive_a_snapshot() {
        let store = StateStore::new();
        let eval = |id: &str, status| Evaluation {
            id: id.into(),
            namespace: "default".into(),
            job_id: "web".into(),
            status,
            ..Evaluation::default()
        };
        store.write(1, |t| {
            t.upsert_eval(eval("e1", EvalStatus::Blocked));
            t.upsert_eval(eval("e2", EvalStatus::Complete));
            t.upsert_eval(eval("e3", EvalStatus::Blocked));
        });
        let blocked = |snap: &Snapshot| snap.blocked_evals().map(|e| e.id.clone()).collect::<Vec<_>>();
        assert_eq!(blocked(&store.snapshot()), ["e1", "e3"]);
        store.write(2, |t| t.upsert_eval(eval("e1", EvalStatus::Pending)));
        assert_eq!(blocked(&store.snapshot()), ["e3"]);
        let restored = Snapshot::from_bytes(&store.snapshot().to_bytes()).unwrap();
        assert_eq!(blocked(&restored), ["e3"]);
        store.write(3, |t| t.purge_job("default", "web"));
        assert!(blocked(&store.snapshot()).is_empty());
    }

    #[test]
    fn node_loads_follow_allocation_writes() {
        let store = StateStore::new();
        let mut a1 = alloc("a1", "web", "n1");
        a1.allocated_resources.tasks.insert("t".into(), crate::structs::Resources { cpu: 300, ..Default::default() });
        let mut a2 = alloc("a2", "web", "n1");
        a2.allocated_resources.tasks.insert("t".into(), crate::structs::Resources { cpu: 200, ..Default::default() });
        store.write(1, |t| t.upsert_job(job("web")));
        store.write(2, |t| {
            t.upsert_alloc(a1.clone());
            t.upsert_alloc(a2.clone());
        });
        assert_eq!(store.snapshot().node_load("n1").used.cpu, 500);
        let before = store.snapshot();
        store.write(3, |t| t.upsert_alloc(Allocation { client_status: ClientStatus::Complete, ..a1.clone() }));
        assert_eq!(store.snapshot().node_load("n1").used.cpu, 200, "a finished allocation frees its resources");
        assert_eq!(before.node_load("n1").used.cpu, 500, "older snapshots keep their view");
        store.write(4, |t| t.upsert_alloc(Allocation { node_id: "n2".into(), ..a2.clone() }));
        assert_eq!((store.snapshot().node_load("n1").used.cpu, store.snapshot().node_load("n2").used.cpu), (0, 200));
        store.write(5, |t| t.purge_job("default", "web"));
        assert!(store.snapshot().node_load("n2").is_empty());
    }

    #[test]
    fn snapshots_do_not_see_later_writes_and_indexes_track_writes() {
        let store = StateStore::new();
        store.write(5, |t| t.upsert_job(job("web")));
        let before = store.snapshot();
        store.write(6, |t| t.upsert_alloc(alloc("a1", "web", "n1")));
        let after = store.snapshot();
        assert!(before.alloc("a1").is_none());
        assert_eq!(after.alloc("a1").unwrap().create_index, 6);
        assert_eq!(after.index(Table::Allocs), 6);
        assert_eq!(after.allocs_by_node("n1").len(), 1);
        assert_eq!(after.allocs_by_job("default", "web").len(), 1);
        assert_eq!(after.job("default", "web").unwrap().status, JobStatus::Running);
    }

    #[test]
    fn job_goes_dead_when_its_allocations_stop() {
        let store = StateStore::new();
        store.write(1, |t| {
            t.upsert_job(job("web"));
            t.upsert_alloc(alloc("a1", "web", "n1"));
        });
        store.write(2, |t| {
            let mut a = (*t.read().alloc("a1").unwrap()).clone();
            a.desired_status = DesiredStatus::Stop;
            t.upsert_alloc(a);
        });
        let snap = store.snapshot();
        assert_eq!(snap.job("default", "web").unwrap().status, JobStatus::Dead);
        assert_eq!(snap.alloc("a1").unwrap().create_index, 1);
        assert_eq!(snap.alloc("a1").unwrap().modify_index, 2);
    }

    #[test]
    fn purge_removes_allocations_and_evaluations() {
        let store = StateStore::new();
        store.write(1, |t| {
            t.upsert_job(job("web"));
            t.upsert_alloc(alloc("a1", "web", "n1"));
            t.upsert_eval(Evaluation {
                id: "e1".into(),
                namespace: "default".into(),
                job_id: "web".into(),
                ..Default::default()
            });
        });
        store.write(2, |t| t.purge_job("default", "web"));
        let snap = store.snapshot();
        assert!(snap.job("default", "web").is_none());
        assert!(snap.alloc("a1").is_none());
        assert!(snap.eval("e1").is_none());
        assert!(snap.allocs_by_node("n1").is_empty());
    }

    #[test]
    fn serialized_state_round_trips() {
        let store = StateStore::new();
        store.write(3, |t| {
            t.upsert_job(job("web"));
            t.upsert_alloc(alloc("a1", "web", "n1"));
            t.upsert_node_pool(NodePool {
                name: "edge".into(),
                description: "field sites".into(),
                ..NodePool::default()
            });
        });
        let bytes = store.snapshot().to_bytes();
        let restored = Snapshot::from_bytes(&bytes).unwrap();
        assert_eq!(restored.latest_index(), 3);
        assert_eq!(restored.node_pool("edge").unwrap().description, "field sites");
        let names: Vec<String> = restored.node_pools("").iter().map(|p| p.name.clone()).collect();
        assert_eq!(names, ["all", "default", "edge"]);
        assert_eq!(restored.allocs_by_node("n1")[0].id, "a1");
        assert_eq!(*restored.job("default", "web").unwrap(), *store.snapshot().job("default", "web").unwrap());
    }

    #[test]
    fn blocking_query_wakes_on_write() {
        let store = StateStore::new();
        store.write(1, |t| t.upsert_job(job("a")));
        let waiter = {
            let store = store.clone();
            std::thread::spawn(move || {
                smol::block_on(store.wait_for(Table::Jobs, 1, Duration::from_secs(10))).index(Table::Jobs)
            })
        };
        std::thread::sleep(Duration::from_millis(50));
        store.write(2, |t| t.upsert_job(job("b")));
        assert_eq!(waiter.join().unwrap(), 2);
        let started = Instant::now();
        let snap = smol::block_on(store.wait_for(Table::Jobs, 2, Duration::from_millis(100)));
        assert_eq!(snap.index(Table::Jobs), 2);
        assert!(started.elapsed() >= Duration::from_millis(100));
    }
}
