//! The order of an allocation's tasks (`lifecycle` and `leader`, as Nomad runs them):
//! prestart tasks first, and the main tasks once every prestart task completed (or, for a
//! sidecar, runs); poststart tasks once the main tasks run; poststop tasks once everything
//! else ended. The main tasks' end, a leader task's end, a failed task or a stop asked for
//! the allocation ends the rest (sidecars included) before the poststop tasks run.

use crate::structs::{TaskGroup, TaskState};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Prestart,
    Main,
    Poststart,
    Poststop,
}

#[derive(Debug)]
struct Role {
    name: String,
    phase: Phase,
    sidecar: bool,
    leader: bool,
}

/// What to do next: tasks to start and tasks to stop.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Steps {
    pub start: Vec<String>,
    pub kill: Vec<String>,
}

#[derive(Debug)]
pub struct Lifecycle {
    roles: Vec<Role>,
    started: BTreeSet<String>,
    stopping: bool,
}

impl Lifecycle {
    pub fn new(group: &TaskGroup) -> Lifecycle {
        let roles = group
            .tasks
            .iter()
            .map(|task| {
                let hook = task.lifecycle.as_ref().map(|l| l.hook.as_str());
                let phase = match hook {
                    Some("prestart") => Phase::Prestart,
                    Some("poststart") => Phase::Poststart,
                    Some("poststop") => Phase::Poststop,
                    _ => Phase::Main,
                };
                Role {
                    name: task.name.clone(),
                    phase,
                    sidecar: task.lifecycle.as_ref().is_some_and(|l| l.sidecar),
                    leader: task.leader,
                }
            })
            .collect();
        Lifecycle { roles, started: BTreeSet::new(), stopping: false }
    }

    /// The allocation is to stop: what runs ends, then the poststop tasks run.
    pub fn stop(&mut self) {
        self.stopping = true;
    }

    /// What to do given the tasks' states (tasks missing from `states` count as pending).
    pub fn next(&mut self, states: &BTreeMap<String, TaskState>) -> Steps {
        let state = |name: &str| states.get(name).map_or("pending", |s| s.state.as_str());
        let dead = |name: &str| state(name) == "dead";
        let failed = |name: &str| dead(name) && states.get(name).is_some_and(|s| s.failed);
        let of = |phase: Phase| self.roles.iter().filter(move |r| r.phase == phase);
        let started = |phase: Phase| of(phase).all(|r| self.started.contains(&r.name));

        let main_done = started(Phase::Main) && of(Phase::Main).all(|r| dead(&r.name));
        let leader_done = self.roles.iter().any(|r| r.leader && self.started.contains(&r.name) && dead(&r.name));
        let any_failed = self.started.iter().any(|name| failed(name));
        if main_done || leader_done || any_failed {
            self.stopping = true;
        }
        let mut steps = Steps::default();
        let start = |phase: Phase, steps: &mut Steps, started: &mut BTreeSet<String>| {
            for role in self.roles.iter().filter(|r| r.phase == phase) {
                if started.insert(role.name.clone()) {
                    steps.start.push(role.name.clone());
                }
            }
        };
        if !self.stopping {
            start(Phase::Prestart, &mut steps, &mut self.started);
            let prestart_ready = of(Phase::Prestart).all(|r| {
                if r.sidecar {
                    state(&r.name) == "running"
                } else {
                    dead(&r.name) && !failed(&r.name)
                }
            });
            if prestart_ready {
                start(Phase::Main, &mut steps, &mut self.started);
                // Tasks started just now are still pending here.
                let main_up = of(Phase::Main).all(|r| state(&r.name) == "running" || dead(&r.name));
                if main_up {
                    start(Phase::Poststart, &mut steps, &mut self.started);
                }
            }
            return steps;
        }
        let (poststop, others): (Vec<&Role>, Vec<&Role>) = self.roles.iter().partition(|r| r.phase == Phase::Poststop);
        steps.kill = others
            .iter()
            .filter(|r| self.started.contains(&r.name) && !dead(&r.name))
            .map(|r| r.name.clone())
            .collect();
        let others_ended = others.iter().all(|r| !self.started.contains(&r.name) || dead(&r.name));
        if others_ended && !poststop.is_empty() && poststop.iter().all(|r| !self.started.contains(&r.name)) {
            start(Phase::Poststop, &mut steps, &mut self.started);
        }
        steps
    }

    /// Whether nothing runs and nothing is left to start.
    pub fn finished(&self, states: &BTreeMap<String, TaskState>) -> bool {
        let dead = |name: &String| states.get(name).is_some_and(|s| s.state == "dead");
        let poststop_done = self
            .roles
            .iter()
            .filter(|r| r.phase == Phase::Poststop)
            .all(|r| self.started.contains(&r.name) && dead(&r.name));
        self.stopping && self.started.iter().all(dead) && poststop_done
    }

    /// The tasks never started.
    pub fn never_started(&self) -> impl Iterator<Item = &str> {
        self.roles.iter().map(|r| r.name.as_str()).filter(|n| !self.started.contains(*n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::structs::{Task, TaskLifecycle};

    fn task(name: &str, hook: Option<&str>, sidecar: bool) -> Task {
        Task {
            name: name.into(),
            lifecycle: hook.map(|h| TaskLifecycle { hook: h.into(), sidecar }),
            ..Task::default()
        }
    }

    fn set(states: &mut BTreeMap<String, TaskState>, name: &str, state: &str, failed: bool) {
        states.insert(name.into(), TaskState { state: state.into(), failed, ..TaskState::default() });
    }

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn tasks_run_in_lifecycle_order() {
        let group = TaskGroup {
            tasks: vec![
                task("init", Some("prestart"), false),
                task("proxy", Some("prestart"), true),
                task("app", None, false),
                task("warm", Some("poststart"), false),
                task("cleanup", Some("poststop"), false),
            ],
            ..TaskGroup::default()
        };
        let mut lc = Lifecycle::new(&group);
        let mut states = BTreeMap::new();
        assert_eq!(lc.next(&states).start, names(&["init", "proxy"]));
        set(&mut states, "proxy", "running", false);
        assert!(lc.next(&states).start.is_empty(), "init has not completed");
        set(&mut states, "init", "dead", false);
        assert_eq!(lc.next(&states).start, names(&["app"]));
        set(&mut states, "app", "running", false);
        assert_eq!(lc.next(&states).start, names(&["warm"]));
        set(&mut states, "warm", "dead", false);
        assert_eq!(lc.next(&states), Steps::default());
        // The main task ends: the sidecar is stopped, then cleanup runs.
        set(&mut states, "app", "dead", false);
        assert_eq!(lc.next(&states).kill, names(&["proxy"]));
        set(&mut states, "proxy", "dead", false);
        let steps = lc.next(&states);
        assert_eq!(steps.start, names(&["cleanup"]));
        assert!(!lc.finished(&states));
        set(&mut states, "cleanup", "dead", false);
        assert!(lc.finished(&states));
    }

    #[test]
    fn a_failed_prestart_task_stops_the_allocation_before_the_main_tasks() {
        let group = TaskGroup {
            tasks: vec![task("init", Some("prestart"), false), task("app", None, false)],
            ..TaskGroup::default()
        };
        let mut lc = Lifecycle::new(&group);
        let mut states = BTreeMap::new();
        lc.next(&states);
        set(&mut states, "init", "dead", true);
        assert_eq!(lc.next(&states), Steps::default());
        assert!(lc.finished(&states));
        assert_eq!(lc.never_started().collect::<Vec<_>>(), ["app"]);
    }

    #[test]
    fn a_leader_ending_stops_its_siblings() {
        let mut leader = task("leader", None, false);
        leader.leader = true;
        let group = TaskGroup { tasks: vec![leader, task("helper", None, false)], ..TaskGroup::default() };
        let mut lc = Lifecycle::new(&group);
        let mut states = BTreeMap::new();
        assert_eq!(lc.next(&states).start, names(&["leader", "helper"]));
        set(&mut states, "leader", "running", false);
        set(&mut states, "helper", "running", false);
        set(&mut states, "leader", "dead", false);
        assert_eq!(lc.next(&states).kill, names(&["helper"]));
    }
}
