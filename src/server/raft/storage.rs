//! The Raft log, hard state, conf state and snapshots in one redb file, implementing
//! raft-rs's `Storage` trait. Everything here is blocking and runs on the Raft thread.

use protobuf::Message as _;
use raft::eraftpb::{ConfState, Entry, HardState, Snapshot};
use raft::{GetEntriesContext, RaftState, StorageError};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use std::cell::Cell;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

const ENTRIES: TableDefinition<u64, &[u8]> = TableDefinition::new("raft_entries");
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("raft_meta");
const HARD_STATE: &str = "hard_state";
const CONF_STATE: &str = "conf_state";
const SNAPSHOT: &str = "snapshot";
const SERVER_ID: &str = "server_id";
const PEERS: &str = "peers";

/// redb's page cache for the Raft store; the log is read mostly at its tail.
const CACHE_BYTES: usize = 4 << 20;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("raft store: {0}")]
    Redb(#[from] redb::Error),
    #[error("raft store: corrupt {what}: {source}")]
    Corrupt { what: &'static str, source: protobuf::ProtobufError },
    #[error("raft store: corrupt peer list: {0}")]
    CorruptPeers(serde_json::Error),
}

fn redb_err<E: Into<redb::Error>>(e: E) -> StoreError {
    StoreError::Redb(e.into())
}

/// Another server as this one knows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Peer {
    /// Its RPC address, `host:port`.
    pub addr: String,
    pub name: String,
}

fn to_raft(e: StoreError) -> raft::Error {
    raft::Error::Store(StorageError::Other(Box::new(e)))
}

pub struct RedbStorage {
    db: Arc<Database>,
    /// Index and term of the last snapshot (0, 0 when none).
    snapshot_index: Cell<u64>,
    snapshot_term: Cell<u64>,
    last_index: Cell<u64>,
}

impl RedbStorage {
    pub fn open(path: &Path) -> Result<RedbStorage, StoreError> {
        let db = Database::builder().set_cache_size(CACHE_BYTES).create(path).map_err(redb_err)?;
        let txn = db.begin_write().map_err(redb_err)?;
        txn.open_table(ENTRIES).map_err(redb_err)?;
        txn.open_table(META).map_err(redb_err)?;
        txn.commit().map_err(redb_err)?;
        RedbStorage::over(Arc::new(db))
    }

    /// A second storage over the same file, for a Raft node rebuilt after bootstrap.
    pub fn reopen(&self) -> Result<RedbStorage, StoreError> {
        RedbStorage::over(self.db.clone())
    }

    fn over(db: Arc<Database>) -> Result<RedbStorage, StoreError> {
        let storage =
            RedbStorage { db, snapshot_index: Cell::new(0), snapshot_term: Cell::new(0), last_index: Cell::new(0) };
        let meta = storage.snapshot_meta()?;
        storage.snapshot_index.set(meta.0);
        storage.snapshot_term.set(meta.1);
        let last = storage.last_entry_index()?.unwrap_or(meta.0);
        storage.last_index.set(last.max(meta.0));
        Ok(storage)
    }

    fn read_meta<M: protobuf::Message>(&self, key: &'static str) -> Result<Option<M>, StoreError> {
        let txn = self.db.begin_read().map_err(redb_err)?;
        let table = txn.open_table(META).map_err(redb_err)?;
        match table.get(key).map_err(redb_err)? {
            Some(bytes) => {
                M::parse_from_bytes(bytes.value()).map(Some).map_err(|source| StoreError::Corrupt { what: key, source })
            }
            None => Ok(None),
        }
    }

    fn snapshot_meta(&self) -> Result<(u64, u64), StoreError> {
        Ok(self.stored_snapshot()?.map_or((0, 0), |s| (s.get_metadata().index, s.get_metadata().term)))
    }

    fn last_entry_index(&self) -> Result<Option<u64>, StoreError> {
        let txn = self.db.begin_read().map_err(redb_err)?;
        let table = txn.open_table(ENTRIES).map_err(redb_err)?;
        let last = table.last().map_err(redb_err)?.map(|(k, _)| k.value());
        Ok(last)
    }

    /// Whether the store has ever been initialized (a conf state or a snapshot exists).
    pub fn is_initialized(&self) -> Result<bool, StoreError> {
        Ok(self.read_meta::<ConfState>(CONF_STATE)?.is_some() || self.snapshot_index.get() > 0)
    }

    pub fn stored_snapshot(&self) -> Result<Option<Snapshot>, StoreError> {
        self.read_meta(SNAPSHOT)
    }

    pub fn set_conf_state(&self, cs: &ConfState) -> Result<(), StoreError> {
        self.write_meta(CONF_STATE, &cs.write_to_bytes().expect("conf state encodes"))
    }

    fn write_meta(&self, key: &str, bytes: &[u8]) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(redb_err)?;
        txn.open_table(META).map_err(redb_err)?.insert(key, bytes).map_err(redb_err)?;
        txn.commit().map_err(redb_err)
    }

    /// This server's Raft id: chosen at random on first start and kept for good.
    pub fn server_id(&self) -> Result<u64, StoreError> {
        let txn = self.db.begin_read().map_err(redb_err)?;
        let stored = txn.open_table(META).map_err(redb_err)?.get(SERVER_ID).map_err(redb_err)?;
        if let Some(id) = stored.and_then(|bytes| <[u8; 8]>::try_from(bytes.value()).ok()) {
            return Ok(u64::from_be_bytes(id));
        }
        let id = fastrand::u64(1..);
        self.write_meta(SERVER_ID, &id.to_be_bytes())?;
        Ok(id)
    }

    /// The servers' addresses by Raft id, as last saved.
    pub fn peers(&self) -> Result<BTreeMap<u64, Peer>, StoreError> {
        let txn = self.db.begin_read().map_err(redb_err)?;
        let stored = txn.open_table(META).map_err(redb_err)?.get(PEERS).map_err(redb_err)?;
        match stored {
            Some(bytes) => serde_json::from_slice(bytes.value()).map_err(StoreError::CorruptPeers),
            None => Ok(BTreeMap::new()),
        }
    }

    pub fn set_peers(&self, peers: &BTreeMap<u64, Peer>) -> Result<(), StoreError> {
        self.write_meta(PEERS, &serde_json::to_vec(peers).expect("peers encode"))
    }

    /// Starts a new cluster of `voters`: the log begins with a snapshot at index 1 holding
    /// the voter set and `data` (the empty state), so a server added later is always caught
    /// up by snapshot and learns the voters from it. Refused on a store that already has a
    /// cluster.
    pub fn bootstrap(&self, voters: Vec<u64>, data: Vec<u8>) -> Result<bool, StoreError> {
        if self.is_initialized()? {
            return Ok(false);
        }
        let mut snapshot = Snapshot::default();
        snapshot.set_data(data.into());
        let meta = snapshot.mut_metadata();
        meta.index = 1;
        meta.term = 1;
        meta.set_conf_state(ConfState::from((voters, vec![])));
        self.save_snapshot(&snapshot, false)?;
        Ok(true)
    }

    /// Appends entries (replacing any conflicting tail) and saves the hard state, in one
    /// transaction.
    pub fn append_and_save(&self, entries: &[Entry], hard_state: Option<&HardState>) -> Result<(), StoreError> {
        if entries.is_empty() && hard_state.is_none() {
            return Ok(());
        }
        let txn = self.db.begin_write().map_err(redb_err)?;
        {
            let mut table = txn.open_table(ENTRIES).map_err(redb_err)?;
            if let Some(first) = entries.first() {
                // A new entry at index i replaces everything from i on.
                table.retain_in(first.index.., |_, _| false).map_err(redb_err)?;
                for entry in entries {
                    let bytes = entry.write_to_bytes().expect("entries encode");
                    table.insert(entry.index, bytes.as_slice()).map_err(redb_err)?;
                }
            }
            if let Some(hs) = hard_state {
                let bytes = hs.write_to_bytes().expect("hard state encodes");
                txn.open_table(META).map_err(redb_err)?.insert(HARD_STATE, bytes.as_slice()).map_err(redb_err)?;
            }
        }
        txn.commit().map_err(redb_err)?;
        if let Some(last) = entries.last() {
            self.last_index.set(last.index);
        }
        Ok(())
    }

    pub fn set_commit(&self, commit: u64) -> Result<(), StoreError> {
        let mut hs = self.read_meta::<HardState>(HARD_STATE)?.unwrap_or_default();
        hs.commit = commit;
        self.append_and_save(&[], Some(&hs))
    }

    /// Stores a snapshot (data and metadata) and drops the log it covers, with the hard
    /// state moved up to it, all in one transaction.
    pub fn save_snapshot(&self, snapshot: &Snapshot, truncate_log: bool) -> Result<(), StoreError> {
        let meta = snapshot.get_metadata();
        let mut hs = self.read_meta::<HardState>(HARD_STATE)?.unwrap_or_default();
        hs.commit = hs.commit.max(meta.index);
        hs.term = hs.term.max(meta.term);
        let txn = self.db.begin_write().map_err(redb_err)?;
        {
            let mut metas = txn.open_table(META).map_err(redb_err)?;
            let snap_bytes = snapshot.write_to_bytes().expect("snapshot encodes");
            metas.insert(SNAPSHOT, snap_bytes.as_slice()).map_err(redb_err)?;
            let cs_bytes = meta.get_conf_state().write_to_bytes().expect("conf state encodes");
            metas.insert(CONF_STATE, cs_bytes.as_slice()).map_err(redb_err)?;
            let hs_bytes = hs.write_to_bytes().expect("hard state encodes");
            metas.insert(HARD_STATE, hs_bytes.as_slice()).map_err(redb_err)?;
            let mut entries = txn.open_table(ENTRIES).map_err(redb_err)?;
            if truncate_log {
                entries.retain_in(..=meta.index, |_, _| false).map_err(redb_err)?;
            } else {
                entries.retain(|_, _| false).map_err(redb_err)?;
            }
        }
        txn.commit().map_err(redb_err)?;
        self.snapshot_index.set(meta.index);
        self.snapshot_term.set(meta.term);
        self.last_index.set(self.last_index.get().max(meta.index));
        if !truncate_log {
            self.last_index.set(meta.index);
        }
        Ok(())
    }

    /// Number of log entries stored.
    #[cfg(test)]
    pub fn entry_count(&self) -> Result<u64, StoreError> {
        use redb::ReadableTableMetadata;
        let txn = self.db.begin_read().map_err(redb_err)?;
        txn.open_table(ENTRIES).map_err(redb_err)?.len().map_err(redb_err)
    }
}

impl raft::Storage for RedbStorage {
    fn initial_state(&self) -> raft::Result<RaftState> {
        let hard_state = self.read_meta::<HardState>(HARD_STATE).map_err(to_raft)?.unwrap_or_default();
        let conf_state = self.read_meta::<ConfState>(CONF_STATE).map_err(to_raft)?.unwrap_or_default();
        Ok(RaftState { hard_state, conf_state })
    }

    fn entries(
        &self,
        low: u64,
        high: u64,
        max_size: impl Into<Option<u64>>,
        _ctx: GetEntriesContext,
    ) -> raft::Result<Vec<Entry>> {
        if low <= self.snapshot_index.get() {
            return Err(raft::Error::Store(StorageError::Compacted));
        }
        if high > self.last_index.get() + 1 {
            return Err(raft::Error::Store(StorageError::Unavailable));
        }
        let read = || -> Result<Vec<Entry>, StoreError> {
            let txn = self.db.begin_read().map_err(redb_err)?;
            let table = txn.open_table(ENTRIES).map_err(redb_err)?;
            let mut out = Vec::new();
            for item in table.range(low..high).map_err(redb_err)? {
                let (_, bytes) = item.map_err(redb_err)?;
                let entry = Entry::parse_from_bytes(bytes.value())
                    .map_err(|source| StoreError::Corrupt { what: "log entry", source })?;
                out.push(entry);
            }
            Ok(out)
        };
        let mut entries = read().map_err(to_raft)?;
        raft::util::limit_size(&mut entries, max_size.into());
        Ok(entries)
    }

    fn term(&self, idx: u64) -> raft::Result<u64> {
        if idx == self.snapshot_index.get() {
            return Ok(self.snapshot_term.get());
        }
        if idx < self.snapshot_index.get() {
            return Err(raft::Error::Store(StorageError::Compacted));
        }
        if idx > self.last_index.get() {
            return Err(raft::Error::Store(StorageError::Unavailable));
        }
        let read = || -> Result<Option<u64>, StoreError> {
            let txn = self.db.begin_read().map_err(redb_err)?;
            let table = txn.open_table(ENTRIES).map_err(redb_err)?;
            match table.get(idx).map_err(redb_err)? {
                Some(bytes) => Ok(Some(
                    Entry::parse_from_bytes(bytes.value())
                        .map_err(|source| StoreError::Corrupt { what: "log entry", source })?
                        .term,
                )),
                None => Ok(None),
            }
        };
        read().map_err(to_raft)?.ok_or(raft::Error::Store(StorageError::Unavailable))
    }

    fn first_index(&self) -> raft::Result<u64> {
        Ok(self.snapshot_index.get() + 1)
    }

    fn last_index(&self) -> raft::Result<u64> {
        Ok(self.last_index.get())
    }

    fn snapshot(&self, _request_index: u64, _to: u64) -> raft::Result<Snapshot> {
        match self.stored_snapshot().map_err(to_raft)? {
            Some(s) => Ok(s),
            None => Err(raft::Error::Store(StorageError::SnapshotTemporarilyUnavailable)),
        }
    }
}
