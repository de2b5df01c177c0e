//! Scheduler tests over an in-memory state view.

use super::*;
use crate::structs::{
    Affinity, ClientStatus, Constraint, DesiredStatus, DriverInfo, EphemeralDisk, JobType, NodeResources, NodeStatus,
    Resources, SchedulerAlgorithm, Spread, SpreadTarget, Task, TaskGroup,
};

#[derive(Default)]
struct World {
    jobs: Vec<Arc<Job>>,
    allocs: Vec<Arc<Allocation>>,
    nodes: Vec<Arc<Node>>,
    config: SchedulerConfiguration,
}

impl StateView for World {
    fn job(&self, namespace: &str, id: &str) -> Option<Arc<Job>> {
        self.jobs.iter().find(|j| j.namespace == namespace && j.id == id).cloned()
    }
    fn allocs_by_job(&self, namespace: &str, job_id: &str) -> Vec<Arc<Allocation>> {
        self.allocs.iter().filter(|a| a.namespace == namespace && a.job_id == job_id).cloned().collect()
    }
    fn allocs_by_node(&self, node_id: &str) -> Vec<Arc<Allocation>> {
        self.allocs.iter().filter(|a| a.node_id == node_id).cloned().collect()
    }
    fn node(&self, id: &str) -> Option<Arc<Node>> {
        self.nodes.iter().find(|n| n.id == id).cloned()
    }
    fn nodes(&self) -> Vec<Arc<Node>> {
        self.nodes.clone()
    }
    fn scheduler_config(&self) -> SchedulerConfiguration {
        self.config.clone()
    }
}

impl World {
    /// Commits a plan the way the plan applier would.
    fn apply(&mut self, plan: &Plan) {
        for alloc in plan.node_update.values().flatten().chain(plan.node_allocation.values().flatten()) {
            self.allocs.retain(|a| a.id != alloc.id);
            self.allocs.push(Arc::new(alloc.clone()));
        }
    }

    fn live(&self) -> Vec<&Arc<Allocation>> {
        self.allocs.iter().filter(|a| !a.is_terminal()).collect()
    }
}

fn node(id: &str, cpu: u64, memory_mb: u64) -> Arc<Node> {
    let mut n = Node {
        id: id.into(),
        name: id.into(),
        datacenter: "dc1".into(),
        node_pool: "default".into(),
        status: NodeStatus::Ready,
        scheduling_eligibility: "eligible".into(),
        ..Node::default()
    };
    n.node_resources = NodeResources::default();
    n.node_resources.cpu.cpu_shares = cpu;
    n.node_resources.memory.memory_mb = memory_mb;
    n.node_resources.disk.disk_mb = 100_000;
    n.drivers.insert("exec".into(), DriverInfo { detected: true, healthy: true, ..DriverInfo::default() });
    Arc::new(n)
}

fn job(count: u32, cpu: u64, memory_mb: u64) -> Job {
    Job {
        id: "web".into(),
        name: "web".into(),
        namespace: "default".into(),
        job_type: JobType::Service,
        priority: 50,
        datacenters: vec!["*".into()],
        node_pool: "default".into(),
        task_groups: vec![TaskGroup {
            name: "app".into(),
            count,
            ephemeral_disk: Some(EphemeralDisk::default()),
            tasks: vec![Task {
                name: "server".into(),
                driver: "exec".into(),
                resources: Resources { cpu, memory_mb, ..Resources::default() },
                ..Task::default()
            }],
            ..TaskGroup::default()
        }],
        ..Job::default()
    }
}

fn eval() -> Evaluation {
    Evaluation {
        id: generate("eval"),
        namespace: "default".into(),
        job_id: "web".into(),
        priority: 50,
        ..Default::default()
    }
}

fn generate(prefix: &str) -> String {
    format!("{prefix}-{}", crate::structs::generate_id())
}

fn run(world: &mut World) -> Outcome {
    let outcome = schedule(&eval(), world);
    world.apply(&outcome.plan);
    outcome
}

fn set_job(world: &mut World, job: Job) {
    world.jobs = vec![Arc::new(job)];
}

#[test]
fn places_count_with_unique_names_and_never_oversubscribes() {
    let mut world = World { nodes: vec![node("n1", 1000, 1024), node("n2", 1000, 1024)], ..World::default() };
    set_job(&mut world, job(5, 500, 256));
    let outcome = run(&mut world);
    // Two 500 MHz allocations fit per node: 4 placed, the 5th is queued with a reason.
    assert_eq!(world.live().len(), 4);
    let mut names: Vec<_> = world.live().iter().map(|a| a.name.clone()).collect();
    names.sort();
    assert_eq!(names, ["web.app[0]", "web.app[1]", "web.app[2]", "web.app[3]"]);
    for n in ["n1", "n2"] {
        let cpu: u64 = world.allocs_by_node(n).iter().map(|a| a.allocated_resources.total().cpu).sum();
        assert!(cpu <= 1000, "node {n} oversubscribed: {cpu} MHz");
    }
    assert_eq!(outcome.queued["app"], 1);
    let metric = &outcome.failed_tg_allocs["app"];
    assert_eq!(metric.nodes_exhausted, 2);
    assert_eq!(metric.dimension_exhausted["cpu"], 2);
    assert_eq!(metric.nodes_available["dc1"], 2);
}

#[test]
fn bin_packing_prefers_the_fuller_node() {
    let mut world = World { nodes: vec![node("empty", 4000, 4096), node("busy", 4000, 4096)], ..World::default() };
    let mut other = job(1, 2000, 2048);
    other.id = "other".into();
    world.jobs.push(Arc::new(other));
    world.allocs.push(Arc::new(Allocation {
        id: "existing".into(),
        namespace: "default".into(),
        job_id: "other".into(),
        node_id: "busy".into(),
        client_status: ClientStatus::Running,
        allocated_resources: crate::structs::AllocatedResources {
            tasks: [("t".to_string(), Resources { cpu: 2000, memory_mb: 2048, ..Resources::default() })].into(),
            ..Default::default()
        },
        ..Allocation::default()
    }));
    world.jobs.push(Arc::new(job(1, 500, 256)));
    let outcome = schedule(&eval(), &world);
    assert_eq!(outcome.plan.node_allocation.keys().collect::<Vec<_>>(), ["busy"]);
}

#[test]
fn missing_driver_is_reported_as_a_constraint() {
    let mut world = World { nodes: vec![node("n1", 1000, 1024)], ..World::default() };
    let mut j = job(1, 100, 64);
    j.task_groups[0].tasks[0].driver = "docker".into();
    set_job(&mut world, j);
    let outcome = run(&mut world);
    assert!(world.live().is_empty());
    let metric = &outcome.failed_tg_allocs["app"];
    assert_eq!(metric.nodes_filtered, 1);
    assert_eq!(metric.constraint_filtered["missing drivers (docker)"], 1);
}

#[test]
fn scaling_down_stops_the_highest_indexes() {
    let mut world = World { nodes: vec![node("n1", 4000, 4096)], ..World::default() };
    set_job(&mut world, job(3, 100, 64));
    run(&mut world);
    let mut smaller = job(1, 100, 64);
    smaller.version = 1;
    set_job(&mut world, smaller);
    let outcome = run(&mut world);
    let stopped: Vec<_> = outcome.plan.node_update.values().flatten().map(|a| a.name.clone()).collect();
    assert_eq!(stopped.len(), 2);
    assert!(stopped.contains(&"web.app[1]".to_string()) && stopped.contains(&"web.app[2]".to_string()));
    assert_eq!(world.live().len(), 1);
    assert_eq!(world.live()[0].name, "web.app[0]");
}

/// A one-allocation job placed on n1; then n1 takes `status` and n2 joins; the run after.
fn node_goes(status: NodeStatus) -> (World, Outcome) {
    let mut world = World { nodes: vec![node("n1", 1000, 1024)], ..World::default() };
    set_job(&mut world, job(1, 100, 64));
    run(&mut world);
    let mut gone = (*world.nodes[0]).clone();
    gone.status = status;
    world.nodes = vec![Arc::new(gone), node("n2", 1000, 1024)];
    let outcome = run(&mut world);
    (world, outcome)
}

#[test]
fn lost_node_allocations_are_replaced_elsewhere() {
    let (world, outcome) = node_goes(NodeStatus::Down);
    let lost = &outcome.plan.node_update["n1"][0];
    assert_eq!(lost.client_status, ClientStatus::Lost);
    assert_eq!(lost.desired_status, DesiredStatus::Stop);
    let live = world.live();
    assert_eq!(live.len(), 1);
    assert_eq!(live[0].node_id, "n2");
    assert_eq!(live[0].name, "web.app[0]");
}

/// A one-allocation job whose group waits an hour for a disconnected node, placed on n1;
/// then n1 stops heartbeating (disconnected, its allocation unknown) and n2 joins.
fn disconnected_world(replace: Option<bool>, reconcile: &str) -> World {
    let mut world = World { nodes: vec![node("n1", 1000, 1024)], ..World::default() };
    let mut waiting = job(1, 100, 64);
    waiting.task_groups[0].disconnect = Some(crate::structs::DisconnectStrategy {
        lost_after: std::time::Duration::from_secs(3600),
        replace,
        reconcile: reconcile.into(),
        ..Default::default()
    });
    set_job(&mut world, waiting);
    run(&mut world);
    let mut away = (*world.nodes[0]).clone();
    away.status = NodeStatus::Disconnected;
    world.nodes = vec![Arc::new(away), node("n2", 1000, 1024)];
    world.allocs = world
        .allocs
        .iter()
        .map(|a| Arc::new(Allocation { client_status: ClientStatus::Unknown, ..(**a).clone() }))
        .collect();
    world
}

/// n1 comes back and reports its allocation running again.
fn reconnect(world: &mut World) {
    let mut back = (*world.nodes[0]).clone();
    back.status = NodeStatus::Ready;
    world.nodes[0] = Arc::new(back);
    world.allocs = world
        .allocs
        .iter()
        .map(|a| match a.client_status {
            ClientStatus::Unknown => Arc::new(Allocation { client_status: ClientStatus::Running, ..(**a).clone() }),
            _ => a.clone(),
        })
        .collect();
}

#[test]
fn a_disconnected_nodes_allocations_wait_for_it_while_replaced_and_the_original_stays() {
    let mut world = disconnected_world(None, "");
    let outcome = run(&mut world);
    assert!(outcome.plan.node_update.is_empty(), "the unknown allocation is not stopped: {:?}", outcome.plan);
    let mut nodes: Vec<&str> = world.live().iter().map(|a| a.node_id.as_str()).collect();
    nodes.sort_unstable();
    assert_eq!(nodes, ["n1", "n2"], "replaced on n2 while n1 is away");
    assert!(run(&mut world).plan.node_allocation.is_empty(), "one replacement only");

    reconnect(&mut world);
    let outcome = run(&mut world);
    let stopped: Vec<&str> = outcome.plan.node_update.values().flatten().map(|a| a.node_id.as_str()).collect();
    assert_eq!(stopped, ["n2"], "the replacement gives way to the original");
    assert_eq!(world.live().len(), 1);
}

#[test]
fn keep_replacement_stops_the_original_when_its_node_comes_back() {
    let mut world = disconnected_world(None, "keep_replacement");
    run(&mut world);
    reconnect(&mut world);
    let outcome = run(&mut world);
    let stopped: Vec<&str> = outcome.plan.node_update.values().flatten().map(|a| a.node_id.as_str()).collect();
    assert_eq!(stopped, ["n1"]);
}

#[test]
fn without_replace_a_disconnected_nodes_allocations_only_wait() {
    let mut world = disconnected_world(Some(false), "");
    let outcome = run(&mut world);
    assert!(outcome.plan.node_allocation.is_empty() && outcome.plan.node_update.is_empty(), "{:?}", outcome.plan);
    // Once the wait is over the node is down: the allocation is lost and replaced.
    let mut down = (*world.nodes[0]).clone();
    down.status = NodeStatus::Down;
    world.nodes[0] = Arc::new(down);
    let outcome = run(&mut world);
    assert_eq!(outcome.plan.node_update["n1"][0].client_status, ClientStatus::Lost);
    assert_eq!(world.live()[0].node_id, "n2");
}

#[test]
fn a_group_that_does_not_wait_loses_its_allocations_on_a_disconnected_node() {
    let (world, outcome) = node_goes(NodeStatus::Disconnected);
    assert_eq!(outcome.plan.node_update["n1"][0].client_status, ClientStatus::Lost);
    assert_eq!(world.live()[0].node_id, "n2");
}

#[test]
fn stopped_job_stops_everything() {
    let mut world = World { nodes: vec![node("n1", 1000, 1024)], ..World::default() };
    set_job(&mut world, job(2, 100, 64));
    run(&mut world);
    let mut stopped = job(2, 100, 64);
    stopped.stop = true;
    set_job(&mut world, stopped);
    run(&mut world);
    assert!(world.live().is_empty());
    assert!(world.allocs.iter().all(|a| a.desired_status == DesiredStatus::Stop));
}

#[test]
fn changed_task_is_replaced_but_meta_only_change_updates_in_place() {
    let mut world = World { nodes: vec![node("n1", 4000, 4096)], ..World::default() };
    set_job(&mut world, job(1, 100, 64));
    run(&mut world);
    let first = world.live()[0].id.clone();

    let mut meta_only = job(1, 100, 64);
    meta_only.version = 1;
    meta_only.meta.insert("owner".into(), "ops".into());
    set_job(&mut world, meta_only);
    let outcome = run(&mut world);
    assert!(outcome.plan.node_update.is_empty());
    assert_eq!(world.live()[0].id, first, "in-place update keeps the allocation");
    assert_eq!(world.live()[0].job_version(), 1);

    let mut bigger = job(1, 200, 64);
    bigger.version = 2;
    set_job(&mut world, bigger);
    run(&mut world);
    let live = world.live();
    assert_eq!(live.len(), 1);
    assert_ne!(live[0].id, first, "a changed task needs a new allocation");
    assert_eq!(live[0].allocated_resources.total().cpu, 200);
}

#[test]
fn finished_batch_allocations_are_not_rerun() {
    let mut world = World { nodes: vec![node("n1", 4000, 4096)], ..World::default() };
    let mut batch = job(1, 100, 64);
    batch.job_type = JobType::Batch;
    set_job(&mut world, batch);
    run(&mut world);
    let mut done = (*world.allocs[0]).clone();
    done.client_status = ClientStatus::Complete;
    world.allocs = vec![Arc::new(done)];
    let outcome = run(&mut world);
    assert!(outcome.plan.is_empty());
}

#[test]
fn constraints_filter_nodes_and_are_named_in_the_metrics() {
    let mut linux = (*node("linux", 1000, 1024)).clone();
    linux.attributes.insert("kernel.name".into(), "linux".into());
    let mut windows = (*node("windows", 1000, 1024)).clone();
    windows.attributes.insert("kernel.name".into(), "windows".into());
    let mut world = World { nodes: vec![Arc::new(linux), Arc::new(windows)], ..World::default() };
    let mut j = job(1, 100, 64);
    j.constraints.push(crate::structs::Constraint {
        l_target: "${attr.kernel.name}".into(),
        operand: "=".into(),
        r_target: "windows".into(),
    });
    set_job(&mut world, j.clone());
    run(&mut world);
    assert_eq!(world.live()[0].node_id, "windows");

    j.task_groups[0].count = 2;
    j.version = 1;
    set_job(&mut world, j);
    let outcome = run(&mut world);
    assert_eq!(world.live().len(), 2, "both fit on the windows node");
    assert!(outcome.failed_tg_allocs.is_empty());
}

#[test]
fn distinct_hosts_puts_at_most_one_allocation_per_node() {
    let mut world = World { nodes: vec![node("n1", 4000, 4096), node("n2", 4000, 4096)], ..World::default() };
    let mut j = job(3, 100, 64);
    j.task_groups[0]
        .constraints
        .push(crate::structs::Constraint { operand: "distinct_hosts".into(), ..Default::default() });
    set_job(&mut world, j);
    let outcome = run(&mut world);
    let mut nodes: Vec<String> = world.live().iter().map(|a| a.node_id.clone()).collect();
    nodes.sort();
    assert_eq!(nodes, ["n1", "n2"]);
    assert_eq!(outcome.queued["app"], 1);
    assert_eq!(outcome.failed_tg_allocs["app"].constraint_filtered["distinct_hosts"], 2);
}

#[test]
fn unmet_constraints_are_reported_by_name() {
    let mut world = World { nodes: vec![node("n1", 1000, 1024)], ..World::default() };
    let mut j = job(1, 100, 64);
    j.task_groups[0].tasks[0].constraints.push(crate::structs::Constraint {
        l_target: "${attr.cpu.arch}".into(),
        operand: "=".into(),
        r_target: "riscv64".into(),
    });
    set_job(&mut world, j);
    let outcome = run(&mut world);
    assert!(world.live().is_empty());
    assert_eq!(outcome.failed_tg_allocs["app"].constraint_filtered["${attr.cpu.arch} = riscv64"], 1);
}

#[test]
fn ports_are_assigned_without_collisions_and_static_ones_limit_placement() {
    use crate::structs::{NetworkResource, Port};
    let mut world = World { nodes: vec![node("n1", 4000, 4096), node("n2", 4000, 4096)], ..World::default() };
    let mut j = job(3, 100, 64);
    j.task_groups[0].networks = vec![NetworkResource {
        reserved_ports: vec![Port { label: "admin".into(), value: 9000, ..Port::default() }],
        dynamic_ports: vec![Port { label: "http".into(), ..Port::default() }],
        ..NetworkResource::default()
    }];
    set_job(&mut world, j);
    let outcome = run(&mut world);
    // Static port 9000 fits once per node: two placed, the third fails on the port.
    assert_eq!(world.live().len(), 2);
    let metric = &outcome.failed_tg_allocs["app"];
    assert_eq!(metric.dimension_exhausted["network: reserved port collision admin=9000"], 2);
    for alloc in world.live() {
        let ports = &alloc.allocated_resources.shared.ports;
        assert_eq!(ports.len(), 2);
        assert_eq!((ports[0].label.as_str(), ports[0].value), ("admin", 9000));
        assert!((ports::MIN_DYNAMIC_PORT..=ports::MAX_DYNAMIC_PORT).contains(&ports[1].value));
    }
}

fn eval_for(job: &Job) -> Evaluation {
    Evaluation { job_id: job.id.clone(), job_type: job.job_type, priority: job.priority, ..eval() }
}

fn run_job(world: &mut World, job: &Job) -> Outcome {
    let outcome = schedule(&eval_for(job), world);
    world.apply(&outcome.plan);
    outcome
}

fn with_type(job_type: JobType, mut job: Job) -> Job {
    job.job_type = job_type;
    job.id = format!("{job_type:?}").to_lowercase();
    job
}

fn set_status(world: &mut World, alloc_id: &str, status: ClientStatus, finished_at: i64) {
    let mut alloc = (**world.allocs.iter().find(|a| a.id == alloc_id).unwrap()).clone();
    alloc.client_status = status;
    alloc.modify_time = finished_at;
    world.allocs.retain(|a| a.id != alloc_id);
    world.allocs.push(Arc::new(alloc));
}

fn node_in(id: &str, dc: &str, class: &str) -> Arc<Node> {
    let mut n = (*node(id, 4000, 4096)).clone();
    n.datacenter = dc.into();
    n.node_class = class.into();
    Arc::new(n)
}

#[test]
fn system_job_runs_once_on_every_feasible_node_and_follows_the_nodes() {
    let mut world = World {
        nodes: vec![node_in("n1", "dc1", "edge"), node_in("n2", "dc1", "edge"), node_in("n3", "dc1", "core")],
        ..World::default()
    };
    let mut system = with_type(JobType::System, job(1, 100, 64));
    system.constraints.push(Constraint {
        l_target: "${node.class}".into(),
        r_target: "edge".into(),
        operand: "=".into(),
    });
    world.jobs = vec![Arc::new(system.clone())];
    run_job(&mut world, &system);
    let mut on: Vec<_> = world.live().iter().map(|a| (a.node_id.clone(), a.name.clone())).collect();
    on.sort();
    assert_eq!(on, [("n1".to_string(), "system.app[0]".to_string()), ("n2".into(), "system.app[0]".into())]);

    world.nodes.push(node_in("n4", "dc1", "edge"));
    let outcome = run_job(&mut world, &system);
    assert_eq!(outcome.plan.node_allocation.keys().collect::<Vec<_>>(), ["n4"], "only the new node gets work");
    assert!(outcome.plan.node_update.is_empty());

    let mut down = (*world.nodes[0]).clone();
    down.status = NodeStatus::Down;
    world.nodes[0] = Arc::new(down);
    let outcome = run_job(&mut world, &system);
    let lost = &outcome.plan.node_update["n1"][0];
    assert_eq!(lost.client_status, ClientStatus::Lost);
    assert!(outcome.plan.node_allocation.is_empty(), "a system allocation is not moved to another node");
    assert_eq!(world.live().len(), 2);
}

#[test]
fn sysbatch_runs_once_per_node_and_a_completed_run_is_not_repeated() {
    let mut world = World { nodes: vec![node("n1", 1000, 1024), node("n2", 1000, 1024)], ..World::default() };
    let sysbatch = with_type(JobType::Sysbatch, job(1, 100, 64));
    world.jobs = vec![Arc::new(sysbatch.clone())];
    run_job(&mut world, &sysbatch);
    assert_eq!(world.live().len(), 2);
    let ids: Vec<String> = world.live().iter().map(|a| a.id.clone()).collect();
    for id in &ids {
        set_status(&mut world, id, ClientStatus::Complete, now_nanos());
    }
    let outcome = run_job(&mut world, &sysbatch);
    assert!(outcome.plan.is_empty(), "completed sysbatch allocations stay done: {:?}", outcome.plan);
}

#[test]
fn system_jobs_preempt_lower_priority_work_but_not_near_equals() {
    let mut world = World { nodes: vec![node("n1", 1000, 1024)], ..World::default() };
    let mut low = job(1, 800, 512);
    low.priority = 20;
    world.jobs = vec![Arc::new(low.clone())];
    run_job(&mut world, &low);
    let victim = world.live()[0].id.clone();

    let mut system = with_type(JobType::System, job(1, 500, 256));
    system.priority = 25;
    world.jobs.push(Arc::new(system.clone()));
    let outcome = run_job(&mut world, &system);
    assert!(outcome.failed_tg_allocs.contains_key("app"), "a priority 5 above does not preempt");
    assert_eq!(world.live().len(), 1);

    system.priority = 70;
    world.jobs = vec![Arc::new(low), Arc::new(system.clone())];
    let outcome = run_job(&mut world, &system);
    let evicted = &outcome.plan.node_update["n1"][0];
    assert_eq!((evicted.id.as_str(), evicted.desired_status), (victim.as_str(), DesiredStatus::Evict));
    let placed = &outcome.plan.node_allocation["n1"][0];
    assert_eq!(placed.preempted_allocations, std::slice::from_ref(&victim));
    assert_eq!(evicted.preempted_by_allocation, placed.id);
    assert!(outcome.preempted_jobs.contains(&("default".to_string(), "web".to_string())));
    let cpu: u64 = world.live().iter().map(|a| a.allocated_resources.total().cpu).sum();
    assert!(cpu <= 1000, "never oversubscribed: {cpu}");
}

#[test]
fn a_failed_allocation_is_rescheduled_after_its_delay_on_another_node() {
    let mut world = World { nodes: vec![node("n1", 1000, 1024), node("n2", 1000, 1024)], ..World::default() };
    let service = job(1, 100, 64);
    set_job(&mut world, service.clone());
    run(&mut world);
    let first = world.live()[0].clone();

    // Failed just now: Nomad's service default waits 30s, through a delayed evaluation.
    set_status(&mut world, &first.id, ClientStatus::Failed, now_nanos());
    let outcome = run_job(&mut world, &service);
    assert!(outcome.plan.node_update.is_empty());
    let followup = &outcome.followup_evals[0];
    assert_eq!(followup.triggered_by, "alloc-failure");
    let wait = followup.wait_until - now_nanos();
    assert!(wait > 25_000_000_000 && wait <= 30_000_000_000, "due in about 30s: {wait}");
    let annotated = world.allocs.iter().find(|a| a.id == first.id).unwrap();
    assert_eq!(annotated.followup_eval_id, followup.id);
    assert!(run_job(&mut world, &service).followup_evals.is_empty(), "one follow-up per failure");

    // Its delay is over: replaced, away from the node it failed on.
    set_status(&mut world, &first.id, ClientStatus::Failed, now_nanos() - 31_000_000_000);
    let outcome = run_job(&mut world, &service);
    assert_eq!(outcome.plan.node_update[&first.node_id][0].desired_status, DesiredStatus::Stop);
    let replacement = outcome.plan.node_allocation.values().flatten().next().unwrap();
    assert_ne!(replacement.node_id, first.node_id, "the node it failed on is avoided");
    assert_eq!(replacement.previous_allocation, first.id);
    assert_eq!(replacement.name, first.name);
    let events = &replacement.reschedule_tracker.as_ref().unwrap().events;
    assert_eq!((events.len(), events[0].prev_alloc_id.as_str()), (1, first.id.as_str()));
}

#[test]
fn a_batch_allocation_that_used_its_attempts_stays_failed() {
    let mut world = World { nodes: vec![node("n1", 1000, 1024), node("n2", 1000, 1024)], ..World::default() };
    let batch = with_type(JobType::Batch, job(1, 100, 64));
    world.jobs = vec![Arc::new(batch.clone())];
    run_job(&mut world, &batch);
    let first = world.live()[0].id.clone();
    set_status(&mut world, &first, ClientStatus::Failed, now_nanos() - 10_000_000_000);
    let outcome = run_job(&mut world, &batch);
    let second = outcome.plan.node_allocation.values().flatten().next().expect("one attempt allowed").clone();
    set_status(&mut world, &second.id, ClientStatus::Failed, now_nanos() - 10_000_000_000);
    let outcome = run_job(&mut world, &batch);
    assert!(outcome.plan.is_empty() && outcome.followup_evals.is_empty(), "attempts used up: {:?}", outcome.plan);
}

#[test]
fn affinities_steer_placements_to_the_preferred_nodes() {
    let nodes = (0..10u32)
        .map(|i| node_in(&format!("n{i}"), "dc1", if i.is_multiple_of(2) { "fast" } else { "slow" }))
        .collect();
    let mut world = World { nodes, ..World::default() };
    let mut service = job(4, 100, 64);
    service.affinities.push(Affinity {
        l_target: "${node.class}".into(),
        r_target: "fast".into(),
        operand: "=".into(),
        weight: 100,
    });
    set_job(&mut world, service);
    run(&mut world);
    assert_eq!(world.live().len(), 4);
    for alloc in world.live() {
        let node = world.node(&alloc.node_id).unwrap();
        assert_eq!(node.node_class, "fast", "{} went to {}", alloc.name, node.id);
    }
}

#[test]
fn spread_targets_divide_placements_between_datacenters() {
    let nodes = (0..10).map(|i| node_in(&format!("n{i}"), if i < 5 { "dc1" } else { "dc2" }, "")).collect();
    let mut world = World { nodes, ..World::default() };
    let mut service = job(10, 100, 64);
    service.spreads.push(Spread {
        attribute: "${node.datacenter}".into(),
        weight: 100,
        spread_target: vec![
            SpreadTarget { value: "dc1".into(), percent: 70 },
            SpreadTarget { value: "dc2".into(), percent: 30 },
        ],
    });
    set_job(&mut world, service);
    run(&mut world);
    let in_dc1 = world.live().iter().filter(|a| world.node(&a.node_id).unwrap().datacenter == "dc1").count();
    assert_eq!((world.live().len(), in_dc1), (10, 7));
}

#[test]
fn the_spread_algorithm_prefers_empty_nodes_where_binpack_fills_busy_ones() {
    for (algorithm, expected) in [(SchedulerAlgorithm::Binpack, "n1"), (SchedulerAlgorithm::Spread, "n2")] {
        let mut world = World { nodes: vec![node("n1", 1000, 1024), node("n2", 1000, 1024)], ..World::default() };
        world.config.scheduler_algorithm = algorithm;
        let mut other = job(1, 500, 512);
        other.id = "other".into();
        world.jobs = vec![Arc::new(other.clone())];
        run_job(&mut world, &other);
        let busy = world.live()[0].node_id.clone();
        let service = job(1, 100, 64);
        world.jobs.push(Arc::new(service.clone()));
        run_job(&mut world, &service);
        let placed = world.live().iter().find(|a| a.job_id == "web").unwrap().node_id.clone();
        let expected = if expected == "n1" { busy } else { if busy == "n1" { "n2" } else { "n1" }.to_string() };
        assert_eq!(placed, expected, "{algorithm:?}");
    }
}

#[test]
fn a_placement_finds_the_one_feasible_node_among_many() {
    let mut nodes: Vec<_> = (0..1000).map(|i| node_in(&format!("n{i:04}"), "dc1", "slow")).collect();
    nodes[617] = node_in("n0617", "dc1", "gpu");
    let mut world = World { nodes, ..World::default() };
    let mut service = job(1, 100, 64);
    service.constraints.push(Constraint {
        l_target: "${node.class}".into(),
        r_target: "gpu".into(),
        operand: "=".into(),
    });
    set_job(&mut world, service);
    run(&mut world);
    assert_eq!(world.live()[0].node_id, "n0617");
}

/// Checks the invariants every plan must keep, over the world's live allocations.
fn assert_nothing_oversubscribed(world: &World, context: &str) {
    for node in &world.nodes {
        let live: Vec<_> = world.live().into_iter().filter(|a| a.node_id == node.id).collect();
        let used = live.iter().fold(Resources::default(), |mut sum, a| {
            sum.add(&a.allocated_resources.total());
            sum
        });
        let capacity = feasible::node_capacity(node);
        assert!(
            used.cpu <= capacity.cpu && used.memory_mb <= capacity.memory_mb && used.disk_mb <= capacity.disk_mb,
            "{context}: node {} oversubscribed: {used:?} of {capacity:?}",
            node.id
        );
        let mut ports = std::collections::HashSet::new();
        for port in live.iter().flat_map(|a| &a.allocated_resources.shared.ports) {
            assert!(ports.insert(port.value), "{context}: port {} booked twice on {}", port.value, node.id);
        }
    }
}

#[test]
fn random_workloads_never_oversubscribe_a_node_or_double_book_a_port() {
    use crate::structs::{NetworkResource, Port};
    for seed in 0..200u64 {
        let mut rng = fastrand::Rng::with_seed(seed);
        let nodes =
            (0..rng.usize(1..8)).map(|i| node(&format!("n{i}"), rng.u64(500..4000), rng.u64(256..4096))).collect();
        let mut world = World { nodes, ..World::default() };
        for j in 0..rng.usize(1..6) {
            let mut spec = job(rng.u32(1..12), rng.u64(50..1500), rng.u64(32..1500));
            spec.id = format!("job{j}");
            spec.job_type = if rng.u8(0..4) == 0 { JobType::System } else { JobType::Service };
            spec.priority = rng.i32(10..90);
            spec.task_groups[0].networks = vec![NetworkResource {
                reserved_ports: (0..rng.usize(0..2))
                    .map(|_| Port { label: "fixed".into(), value: rng.u16(8000..8004), ..Port::default() })
                    .collect(),
                dynamic_ports: (0..rng.usize(0..3))
                    .map(|i| Port { label: format!("d{i}"), ..Port::default() })
                    .collect(),
                ..NetworkResource::default()
            }];
            world.jobs.push(Arc::new(spec.clone()));
            run_job(&mut world, &spec);
            let context = format!("seed {seed}, job {j}");
            assert_nothing_oversubscribed(&world, &context);
            // Scaling a job down and up again must keep the invariants too.
            let mut rescaled = spec.clone();
            rescaled.task_groups[0].count = rng.u32(0..12);
            world.jobs.retain(|existing| existing.id != rescaled.id);
            world.jobs.push(Arc::new(rescaled.clone()));
            run_job(&mut world, &rescaled);
            assert_nothing_oversubscribed(&world, &format!("{context}, rescaled"));
        }
    }
}

fn node_on_rack(id: &str, rack: &str) -> Arc<Node> {
    let mut n = (*node(id, 4000, 4096)).clone();
    n.meta.insert("rack".into(), rack.into());
    Arc::new(n)
}

fn per_rack(world: &World) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for alloc in world.live() {
        *counts.entry(world.node(&alloc.node_id).unwrap().meta["rack"].clone()).or_default() += 1;
    }
    counts
}

#[test]
fn distinct_property_caps_allocations_per_property_value() {
    let racks = [("n1", "r1"), ("n2", "r1"), ("n3", "r2"), ("n4", "r2"), ("n5", "r3")];
    let mut world = World { nodes: racks.iter().map(|(n, r)| node_on_rack(n, r)).collect(), ..World::default() };
    let mut service = job(7, 100, 64);
    service.task_groups[0].constraints.push(Constraint {
        l_target: "${meta.rack}".into(),
        r_target: "2".into(),
        operand: "distinct_property".into(),
    });
    set_job(&mut world, service);
    let outcome = run(&mut world);
    assert_eq!(per_rack(&world), BTreeMap::from([("r1".into(), 2), ("r2".into(), 2), ("r3".into(), 2)]));
    assert_eq!(outcome.queued["app"], 1, "the seventh has no rack left");
    let failed = &outcome.failed_tg_allocs["app"];
    assert!(failed.constraint_filtered.keys().any(|k| k.starts_with("distinct_property: ${meta.rack}=")), "{failed:?}");

    // Job level: the limit counts every group of the job.
    let mut world = World { nodes: racks.iter().map(|(n, r)| node_on_rack(n, r)).collect(), ..World::default() };
    let mut two_groups = job(2, 100, 64);
    let mut second = two_groups.task_groups[0].clone();
    second.name = "worker".into();
    two_groups.task_groups.push(second);
    two_groups.constraints.push(Constraint {
        l_target: "${meta.rack}".into(),
        r_target: String::new(),
        operand: "distinct_property".into(),
    });
    set_job(&mut world, two_groups);
    run(&mut world);
    assert_eq!(per_rack(&world).values().copied().collect::<Vec<_>>(), [1, 1, 1], "one per rack across both groups");
}

#[test]
fn whole_cores_are_reserved_by_id_and_never_shared() {
    let mut big = (*node("n1", 8000, 8192)).clone();
    big.node_resources.cpu.total_cpu_cores = 4;
    let mut world = World { nodes: vec![Arc::new(big)], ..World::default() };
    let mut service = job(2, 100, 64);
    let mut pinned = service.task_groups[0].tasks[0].clone();
    pinned.resources.cores = 2;
    let mut helper = pinned.clone();
    helper.name = "helper".into();
    helper.resources.cores = 1;
    service.task_groups[0].tasks = vec![pinned, helper];
    set_job(&mut world, service);
    let outcome = run(&mut world);
    assert_eq!(world.live().len(), 1, "three of four cores per allocation: one fits");
    let cores = &world.live()[0].allocated_resources.task_cores;
    assert_eq!(cores["server"], [0, 1]);
    assert_eq!(cores["helper"], [2]);
    assert_eq!(outcome.failed_tg_allocs["app"].dimension_exhausted["cores"], 1);

    // A one-core job gets the core left over, and nothing overlaps.
    let mut single = job(1, 100, 64);
    single.id = "single".into();
    single.task_groups[0].tasks[0].resources.cores = 1;
    world.jobs.push(Arc::new(single.clone()));
    run_job(&mut world, &single);
    let all: Vec<u16> =
        world.live().iter().flat_map(|a| a.allocated_resources.task_cores.values().flatten().copied()).collect();
    let mut sorted = all.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, [0, 1, 2, 3], "every core reserved once: {all:?}");
    // Reserved cores take their MHz of the node's CPU (2,000 MHz each here) in place of
    // the cpu the tasks also gave.
    let cpu: u64 = world.live().iter().map(|a| a.allocated_resources.total().cpu).sum();
    assert_eq!(cpu, 8000, "four cores of 2,000 MHz");
}

#[test]
fn reserved_cores_count_against_the_nodes_cpu() {
    let mut small = (*node("n1", 4000, 8192)).clone();
    small.node_resources.cpu.total_cpu_cores = 4;
    let mut world = World { nodes: vec![Arc::new(small)], ..World::default() };
    let mut pinned = job(1, 0, 64);
    pinned.task_groups[0].tasks[0].resources.cores = 2;
    set_job(&mut world, pinned);
    run(&mut world);
    assert_eq!(world.live().len(), 1);
    // Two cores of 1,000 MHz are taken: 2,000 MHz is left, not the whole 4,000.
    let mut shares = job(1, 2500, 64);
    shares.id = "shares".into();
    world.jobs.push(Arc::new(shares.clone()));
    let outcome = run_job(&mut world, &shares);
    assert_eq!(outcome.failed_tg_allocs["app"].dimension_exhausted["cpu"], 1, "{outcome:?}");
    let mut fits = job(1, 2000, 64);
    fits.id = "fits".into();
    world.jobs.push(Arc::new(fits.clone()));
    run_job(&mut world, &fits);
    assert_eq!(world.live().len(), 2);
}
