//! Read endpoints: lists with `?prefix=` and single objects, all as blocking queries that
//! answer with `X-Nomad-Index`.

use super::query::QueryOptions;
use super::response::ApiResponse;
use crate::server::state::{Snapshot, Table};
use crate::server::Server;
use crate::structs::{AllocListStub, Job, JobListStub, Node, NodeListStub};
use serde::Serialize;

async fn snapshot(server: &Server, query: &QueryOptions, table: Table) -> Snapshot {
    server.state.wait_for(table, query.min_index, query.wait).await
}

fn found_or_404<T: Serialize>(value: Option<T>, what: &str, snap: &Snapshot, table: Table) -> ApiResponse {
    match value {
        Some(v) => ApiResponse::indexed(&v, snap.index(table)),
        None => ApiResponse::error(404, format!("{what} not found")),
    }
}

pub async fn jobs(server: &Server, q: &QueryOptions) -> ApiResponse {
    let snap = snapshot(server, q, Table::Jobs).await;
    let stubs: Vec<JobListStub> = snap.jobs(&q.namespace, &q.prefix).map(|job| job_stub(&snap, job)).collect();
    ApiResponse::indexed(&stubs, snap.index(Table::Jobs))
}

/// A job as job lists show it.
pub fn job_stub(snap: &Snapshot, job: &Job) -> JobListStub {
    JobListStub {
        id: job.id.clone(),
        name: job.name.clone(),
        namespace: job.namespace.clone(),
        job_type: job.job_type,
        priority: job.priority,
        datacenters: job.datacenters.clone(),
        parent_id: job.parent_id.clone(),
        periodic: job.is_periodic(),
        parameterized_job: job.is_parameterized(),
        status: job.status,
        status_description: job.status_description.clone(),
        stop: job.stop,
        job_summary: snap.job_summary(job),
        submit_time: job.submit_time,
        create_index: job.create_index,
        modify_index: job.modify_index,
        job_modify_index: job.job_modify_index,
    }
}

pub async fn job(server: &Server, q: &QueryOptions, id: &str) -> ApiResponse {
    let snap = snapshot(server, q, Table::Jobs).await;
    found_or_404(snap.job(&q.namespace, id), &format!("job {id:?}"), &snap, Table::Jobs)
}

pub async fn job_summary(server: &Server, q: &QueryOptions, id: &str) -> ApiResponse {
    let snap = snapshot(server, q, Table::Allocs).await;
    let summary = snap.job(&q.namespace, id).map(|job| snap.job_summary(&job));
    found_or_404(summary, &format!("job {id:?}"), &snap, Table::Allocs)
}

pub async fn job_allocations(server: &Server, q: &QueryOptions, id: &str) -> ApiResponse {
    let snap = snapshot(server, q, Table::Allocs).await;
    let stubs: Vec<AllocListStub> =
        snap.allocs_by_job(&q.namespace, id).iter().map(|a| AllocListStub::from(a.as_ref())).collect();
    ApiResponse::indexed(&stubs, snap.index(Table::Allocs))
}

pub async fn job_evaluations(server: &Server, q: &QueryOptions, id: &str) -> ApiResponse {
    let snap = snapshot(server, q, Table::Evals).await;
    let mut evals = snap.evals_by_job(&q.namespace, id);
    evals.sort_by_key(|e| std::cmp::Reverse(e.create_index));
    ApiResponse::indexed(&evals, snap.index(Table::Evals))
}

pub async fn allocations(server: &Server, q: &QueryOptions) -> ApiResponse {
    let snap = snapshot(server, q, Table::Allocs).await;
    let stubs: Vec<AllocListStub> = snap.allocs_by_prefix(&q.prefix).map(|a| AllocListStub::from(a.as_ref())).collect();
    ApiResponse::indexed(&stubs, snap.index(Table::Allocs))
}

pub async fn allocation(server: &Server, q: &QueryOptions, id: &str) -> ApiResponse {
    let snap = snapshot(server, q, Table::Allocs).await;
    found_or_404(snap.alloc(id), &format!("allocation {id:?}"), &snap, Table::Allocs)
}

pub async fn evaluations(server: &Server, q: &QueryOptions) -> ApiResponse {
    let snap = snapshot(server, q, Table::Evals).await;
    let evals: Vec<_> = snap.evals_by_prefix(&q.prefix).collect();
    ApiResponse::indexed(&evals, snap.index(Table::Evals))
}

pub async fn evaluation(server: &Server, q: &QueryOptions, id: &str) -> ApiResponse {
    let snap = snapshot(server, q, Table::Evals).await;
    found_or_404(snap.eval(id), &format!("evaluation {id:?}"), &snap, Table::Evals)
}

pub async fn nodes(server: &Server, q: &QueryOptions) -> ApiResponse {
    let snap = snapshot(server, q, Table::Nodes).await;
    let stubs: Vec<NodeListStub> = snap.nodes_by_prefix(&q.prefix).map(|n| node_stub(n)).collect();
    ApiResponse::indexed(&stubs, snap.index(Table::Nodes))
}

/// A node as node lists show it.
pub fn node_stub(n: &Node) -> NodeListStub {
    NodeListStub {
        id: n.id.clone(),
        name: n.name.clone(),
        datacenter: n.datacenter.clone(),
        node_class: n.node_class.clone(),
        node_pool: n.node_pool.clone(),
        address: n.attributes.get("unique.network.ip-address").cloned().unwrap_or_default(),
        version: n.attributes.get("nomad.version").cloned().unwrap_or_default(),
        drivers: n.drivers.clone(),
        status: n.status,
        status_description: n.status_description.clone(),
        scheduling_eligibility: n.scheduling_eligibility.clone(),
        drain: false,
        create_index: n.create_index,
        modify_index: n.modify_index,
    }
}

pub async fn node(server: &Server, q: &QueryOptions, id: &str) -> ApiResponse {
    let snap = snapshot(server, q, Table::Nodes).await;
    found_or_404(snap.node(id), &format!("node {id:?}"), &snap, Table::Nodes)
}
