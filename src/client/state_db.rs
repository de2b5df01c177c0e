//! The client's own state in redb (`<client data dir>/state.redb`): the allocations it
//! runs, and for each of their tasks how it last stood (running under an executor, with
//! what finds it again, or finished). A client that starts again after a crash reads it to
//! reattach to the tasks that kept running instead of starting them twice.

use crate::structs::{Allocation, TaskState};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use rove_drivers::TaskHandle;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

const ALLOCS: TableDefinition<&str, &[u8]> = TableDefinition::new("allocs");
/// Keyed by `<alloc id>/<task name>`.
const TASKS: TableDefinition<&str, &[u8]> = TableDefinition::new("tasks");

/// A small page cache: the file holds a few records per allocation.
const CACHE_BYTES: usize = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum StateDbError {
    #[error("client state {path}: {source}")]
    Redb { path: PathBuf, source: redb::Error },
}

/// An allocation's task records by task name.
pub type TaskRecords = std::collections::BTreeMap<String, TaskRecord>;

/// How a task last stood.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaskRecord {
    pub state: TaskState,
    /// While it runs: what finds it again.
    pub running: Option<RunningTask>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunningTask {
    pub handle: TaskHandle,
    /// The executor it runs under (process drivers); docker tasks have none.
    pub executor: Option<ExecutorRef>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExecutorRef {
    pub pid: u32,
    /// Where it writes how the task ended.
    pub exit_path: PathBuf,
}

pub struct StateDb {
    db: Database,
    path: PathBuf,
}

impl StateDb {
    pub fn open(path: &Path) -> Result<StateDb, StateDbError> {
        let err = |source: redb::Error| StateDbError::Redb { path: path.to_path_buf(), source };
        let db = Database::builder().set_cache_size(CACHE_BYTES).create(path).map_err(|e| err(e.into()))?;
        let txn = db.begin_write().map_err(|e| err(e.into()))?;
        txn.open_table(ALLOCS).map_err(|e| err(e.into()))?;
        txn.open_table(TASKS).map_err(|e| err(e.into()))?;
        txn.commit().map_err(|e| err(e.into()))?;
        Ok(StateDb { db, path: path.to_path_buf() })
    }

    fn err<E: Into<redb::Error>>(&self, e: E) -> StateDbError {
        StateDbError::Redb { path: self.path.clone(), source: e.into() }
    }

    pub fn put_alloc(&self, alloc: &Allocation) -> Result<(), StateDbError> {
        let bytes = serde_json::to_vec(alloc).expect("allocations serialize");
        let txn = self.db.begin_write().map_err(|e| self.err(e))?;
        txn.open_table(ALLOCS)
            .map_err(|e| self.err(e))?
            .insert(alloc.id.as_str(), bytes.as_slice())
            .map_err(|e| self.err(e))?;
        txn.commit().map_err(|e| self.err(e))
    }

    /// Forgets an allocation and its tasks.
    pub fn remove_alloc(&self, alloc_id: &str) -> Result<(), StateDbError> {
        let txn = self.db.begin_write().map_err(|e| self.err(e))?;
        {
            txn.open_table(ALLOCS).map_err(|e| self.err(e))?.remove(alloc_id).map_err(|e| self.err(e))?;
            let prefix = format!("{alloc_id}/");
            let mut tasks = txn.open_table(TASKS).map_err(|e| self.err(e))?;
            tasks.retain(|key, _| !key.starts_with(&prefix)).map_err(|e| self.err(e))?;
        }
        txn.commit().map_err(|e| self.err(e))
    }

    pub fn put_task(&self, alloc_id: &str, task: &str, record: &TaskRecord) -> Result<(), StateDbError> {
        let bytes = serde_json::to_vec(record).expect("task records serialize");
        let key = format!("{alloc_id}/{task}");
        let txn = self.db.begin_write().map_err(|e| self.err(e))?;
        txn.open_table(TASKS)
            .map_err(|e| self.err(e))?
            .insert(key.as_str(), bytes.as_slice())
            .map_err(|e| self.err(e))?;
        txn.commit().map_err(|e| self.err(e))
    }

    /// Every stored allocation with its tasks' records by task name; records that do not
    /// parse (written by another version) are skipped.
    pub fn load(&self) -> Result<Vec<(Allocation, TaskRecords)>, StateDbError> {
        let txn = self.db.begin_read().map_err(|e| self.err(e))?;
        let allocs = txn.open_table(ALLOCS).map_err(|e| self.err(e))?;
        let tasks = txn.open_table(TASKS).map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for item in allocs.iter().map_err(|e| self.err(e))? {
            let (_, bytes) = item.map_err(|e| self.err(e))?;
            let Ok(alloc) = serde_json::from_slice::<Allocation>(bytes.value()) else { continue };
            let prefix = format!("{}/", alloc.id);
            let mut records = TaskRecords::new();
            for item in tasks.range(prefix.as_str()..).map_err(|e| self.err(e))? {
                let (key, bytes) = item.map_err(|e| self.err(e))?;
                let Some(task) = key.value().strip_prefix(&prefix).map(str::to_string) else { break };
                if let Ok(record) = serde_json::from_slice::<TaskRecord>(bytes.value()) {
                    records.insert(task, record);
                }
            }
            out.push((alloc, records));
        }
        Ok(out)
    }
}
