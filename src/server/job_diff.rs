//! The difference between a registered job and a submitted one, in the shape of Nomad's
//! job diff: the job's own fields, then per task group and per task, each field by its
//! dotted path with its old and new value. Bookkeeping the servers set (indexes, version,
//! status, submit time) is not part of a diff.

use crate::structs::{Job, Task, TaskGroup};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// Fields the servers set, left out of diffs.
const BOOKKEEPING: &[&str] =
    &["Status", "StatusDescription", "Version", "SubmitTime", "CreateIndex", "ModifyIndex", "JobModifyIndex", "Stop"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DiffType {
    Added,
    Deleted,
    Edited,
    None,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct FieldDiff {
    #[serde(rename = "Type")]
    pub diff_type: DiffType,
    pub name: String,
    pub old: String,
    pub new: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TaskDiff {
    #[serde(rename = "Type")]
    pub diff_type: DiffType,
    pub name: String,
    pub fields: Vec<FieldDiff>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TaskGroupDiff {
    #[serde(rename = "Type")]
    pub diff_type: DiffType,
    pub name: String,
    pub fields: Vec<FieldDiff>,
    pub tasks: Vec<TaskDiff>,
    /// What the scheduler would do to the group's allocations, by kind of change.
    pub updates: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct JobDiff {
    #[serde(rename = "Type")]
    pub diff_type: DiffType,
    #[serde(rename = "ID")]
    pub id: String,
    pub fields: Vec<FieldDiff>,
    pub task_groups: Vec<TaskGroupDiff>,
}

/// Flattens a JSON value to `path -> text`, leaving out `skip`ped top-level keys.
fn flatten(value: &Value, skip: &[&str]) -> BTreeMap<String, String> {
    fn walk(prefix: &str, value: &Value, out: &mut BTreeMap<String, String>) {
        let join = |key: &str| if prefix.is_empty() { key.to_string() } else { format!("{prefix}.{key}") };
        match value {
            Value::Object(map) => map.iter().for_each(|(k, v)| walk(&join(k), v, out)),
            Value::Array(items) => items.iter().enumerate().for_each(|(i, v)| walk(&join(&i.to_string()), v, out)),
            Value::Null => {}
            Value::String(s) => {
                out.insert(prefix.to_string(), s.clone());
            }
            other => {
                out.insert(prefix.to_string(), other.to_string());
            }
        }
    }
    let mut out = BTreeMap::new();
    if let Value::Object(map) = value {
        for (key, v) in map.iter().filter(|(k, _)| !skip.contains(&k.as_str())) {
            walk(key, v, &mut out);
        }
    }
    out
}

fn field_diffs<T: Serialize>(old: Option<&T>, new: Option<&T>, skip: &[&str]) -> Vec<FieldDiff> {
    let flat = |v: Option<&T>| v.map(|v| flatten(&serde_json::to_value(v).unwrap_or(Value::Null), skip));
    let (old, new) = (flat(old).unwrap_or_default(), flat(new).unwrap_or_default());
    let mut names: Vec<&String> = old.keys().chain(new.keys()).collect();
    names.sort_unstable();
    names.dedup();
    names
        .into_iter()
        .filter_map(|name| {
            let (o, n) = (old.get(name), new.get(name));
            let diff_type = match (o, n) {
                (None, Some(_)) => DiffType::Added,
                (Some(_), None) => DiffType::Deleted,
                (Some(a), Some(b)) if a != b => DiffType::Edited,
                _ => return None,
            };
            let text = |v: Option<&String>| v.cloned().unwrap_or_default();
            Some(FieldDiff { diff_type, name: name.clone(), old: text(o), new: text(n) })
        })
        .collect()
}

fn kind<T>(old: Option<&T>, new: Option<&T>, changed: bool) -> DiffType {
    match (old, new) {
        (None, Some(_)) => DiffType::Added,
        (Some(_), None) => DiffType::Deleted,
        _ if changed => DiffType::Edited,
        _ => DiffType::None,
    }
}

/// Pairs two lists' items by name: `(old, new)` for every name in either, in name order.
fn pair_by_name<'a, T>(old: &'a [T], new: &'a [T], name: fn(&T) -> &str) -> Vec<(Option<&'a T>, Option<&'a T>)> {
    let mut names: Vec<&str> = old.iter().chain(new).map(name).collect();
    names.sort_unstable();
    names.dedup();
    let find = |list: &'a [T], n: &str| list.iter().find(|item| name(item) == n);
    names.into_iter().map(|n| (find(old, n), find(new, n))).collect()
}

fn task_diff(old: Option<&Task>, new: Option<&Task>) -> TaskDiff {
    let fields = field_diffs(old, new, &[]);
    let name = new.or(old).map(|t| t.name.clone()).unwrap_or_default();
    TaskDiff { diff_type: kind(old, new, !fields.is_empty()), name, fields }
}

fn group_diff(old: Option<&TaskGroup>, new: Option<&TaskGroup>) -> TaskGroupDiff {
    let fields = field_diffs(old, new, &["Tasks"]);
    let (old_tasks, new_tasks) = (old.map_or(&[][..], |g| &g.tasks[..]), new.map_or(&[][..], |g| &g.tasks[..]));
    let tasks: Vec<TaskDiff> =
        pair_by_name(old_tasks, new_tasks, |t| &t.name).into_iter().map(|(o, n)| task_diff(o, n)).collect();
    let changed = !fields.is_empty() || tasks.iter().any(|t| t.diff_type != DiffType::None);
    let name = new.or(old).map(|g| g.name.clone()).unwrap_or_default();
    TaskGroupDiff { diff_type: kind(old, new, changed), name, fields, tasks, updates: BTreeMap::new() }
}

/// The diff from the registered job (if any) to the submitted one.
pub fn diff(old: Option<&Job>, new: &Job) -> JobDiff {
    let skip: Vec<&str> = BOOKKEEPING.iter().copied().chain(["TaskGroups"]).collect();
    let fields = field_diffs(old, Some(new), &skip);
    let old_groups = old.map_or(&[][..], |j| &j.task_groups[..]);
    let task_groups: Vec<TaskGroupDiff> =
        pair_by_name(old_groups, &new.task_groups, |g| &g.name).into_iter().map(|(o, n)| group_diff(o, n)).collect();
    let changed = !fields.is_empty() || task_groups.iter().any(|g| g.diff_type != DiffType::None);
    JobDiff { diff_type: kind(old, Some(new), changed), id: new.id.clone(), fields, task_groups }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::structs::Resources;

    fn job(count: u32, cpu: u64) -> Job {
        Job {
            id: "web".into(),
            task_groups: vec![TaskGroup {
                name: "app".into(),
                count,
                tasks: vec![Task {
                    name: "server".into(),
                    resources: Resources { cpu, ..Resources::default() },
                    ..Task::default()
                }],
                ..TaskGroup::default()
            }],
            ..Job::default()
        }
    }

    #[test]
    fn new_jobs_are_added_and_changes_are_listed_by_path() {
        let added = diff(None, &job(1, 100));
        assert_eq!(added.diff_type, DiffType::Added);
        assert_eq!(added.task_groups[0].diff_type, DiffType::Added);

        let old = Job { version: 3, job_modify_index: 40, ..job(1, 100) };
        let changed = diff(Some(&old), &job(3, 200));
        assert_eq!(changed.diff_type, DiffType::Edited);
        assert!(changed.fields.is_empty(), "bookkeeping is not a change: {:?}", changed.fields);
        let group = &changed.task_groups[0];
        assert_eq!(
            group.fields,
            [FieldDiff { diff_type: DiffType::Edited, name: "Count".into(), old: "1".into(), new: "3".into() }]
        );
        let task = &group.tasks[0];
        assert_eq!((task.diff_type, task.fields[0].name.as_str()), (DiffType::Edited, "Resources.CPU"));

        assert_eq!(diff(Some(&old), &Job { version: 9, ..job(1, 100) }).diff_type, DiffType::None);
    }
}
