//! Query parameters shared by the endpoints: prefixes, namespaces and blocking queries.

use std::collections::BTreeMap;
use std::time::Duration;

/// The default and the longest wait of a blocking query, as Nomad's.
const DEFAULT_WAIT: Duration = Duration::from_secs(300);
const MAX_WAIT: Duration = Duration::from_secs(600);

pub struct QueryOptions {
    pub prefix: String,
    pub namespace: String,
    pub min_index: u64,
    pub wait: Duration,
}

/// Parses `?prefix=&namespace=&index=&wait=`; a bad value is an error naming the parameter.
pub fn parse(query: &BTreeMap<String, String>) -> Result<QueryOptions, String> {
    let min_index = match query.get("index") {
        Some(v) => v.parse().map_err(|_| format!("query parameter \"index\": expected an integer, got {v:?}"))?,
        None => 0,
    };
    let wait = match query.get("wait") {
        Some(v) => parse_wait(v).ok_or_else(|| format!("query parameter \"wait\": invalid duration {v:?}"))?,
        None => DEFAULT_WAIT,
    };
    Ok(QueryOptions {
        prefix: query.get("prefix").cloned().unwrap_or_default(),
        namespace: query.get("namespace").cloned().unwrap_or_else(|| crate::structs::DEFAULT_NAMESPACE.into()),
        min_index,
        wait: wait.min(MAX_WAIT),
    })
}

/// Nomad accepts `wait` as a Go duration ("5s", "2m", "100ms"); a bare number is seconds.
fn parse_wait(value: &str) -> Option<Duration> {
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    crate::jobspec::parse_duration(value).ok()
}

/// Whether a boolean query flag is set (`?purge=true`, `?plain=1`, bare `?stale`).
pub fn flag(query: &BTreeMap<String, String>, name: &str) -> bool {
    query.get(name).is_some_and(|v| v.is_empty() || v == "true" || v == "1")
}
