//! Scheduler tests over an in-memory state view.

use super::*;
use crate::structs::{
    ClientStatus, DesiredStatus, DriverInfo, EphemeralDisk, JobType, NodeResources, NodeStatus, Resources, Task,
    TaskGroup,
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

#[test]
fn lost_node_allocations_are_replaced_elsewhere() {
    let mut world = World { nodes: vec![node("n1", 1000, 1024)], ..World::default() };
    set_job(&mut world, job(1, 100, 64));
    run(&mut world);
    let mut down = (*world.nodes[0]).clone();
    down.status = NodeStatus::Down;
    world.nodes = vec![Arc::new(down), node("n2", 1000, 1024)];
    let outcome = run(&mut world);
    let lost = &outcome.plan.node_update["n1"][0];
    assert_eq!(lost.client_status, ClientStatus::Lost);
    assert_eq!(lost.desired_status, DesiredStatus::Stop);
    let live = world.live();
    assert_eq!(live.len(), 1);
    assert_eq!(live[0].node_id, "n2");
    assert_eq!(live[0].name, "web.app[0]");
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
