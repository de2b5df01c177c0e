//! `rove node status` and `rove server members`.

use super::api_client::ApiClient;
use super::format::{key_values, or_none, short_id, table, timestamp};
use super::job::alloc_table;
use super::{lookup, print_json, ApiArgs, CliResult, Outcome};
use crate::structs::{AllocListStub, NodeListStub};
use clap::Subcommand;
use serde::Deserialize;

#[derive(Subcommand)]
pub enum NodeCommand {
    /// Work with node pools
    #[command(subcommand)]
    Pool(super::node_pool::NodePoolCommand),
    /// List client nodes, or show one
    Status {
        /// Node ID or prefix
        node: Option<String>,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        api: ApiArgs,
    },
}

#[derive(Subcommand)]
pub enum ServerCommand {
    /// List the servers of the cluster
    Members {
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        api: ApiArgs,
    },
}

pub async fn run(cmd: NodeCommand) -> CliResult {
    let (node, json, api) = match cmd {
        NodeCommand::Status { node, json, api } => (node, json, api),
        NodeCommand::Pool(cmd) => return super::node_pool::run(cmd).await,
    };
    let api = api.client()?;
    match node {
        None => list(&api, json).await,
        Some(prefix) => status(&api, &prefix, json).await,
    }
}

async fn list(api: &ApiClient, json: bool) -> CliResult {
    let (nodes, _): (Vec<NodeListStub>, _) = api.get("/v1/nodes").await?;
    if json {
        print_json(&nodes);
        return Ok(Outcome::Success);
    }
    if nodes.is_empty() {
        println!("No nodes registered");
        return Ok(Outcome::Success);
    }
    println!("{}", node_table(&nodes));
    Ok(Outcome::Success)
}

/// Nodes as `node status` lists them.
pub fn node_table(nodes: &[NodeListStub]) -> String {
    let rows: Vec<Vec<String>> = nodes
        .iter()
        .map(|n| {
            vec![
                short_id(&n.id),
                n.node_pool.clone(),
                n.datacenter.clone(),
                n.name.clone(),
                or_none(&n.node_class),
                n.drain.to_string(),
                n.scheduling_eligibility.clone(),
                n.status.to_string(),
            ]
        })
        .collect();
    table(&["ID", "Node Pool", "DC", "Name", "Class", "Drain", "Eligibility", "Status"], &rows)
}

pub async fn status(api: &ApiClient, prefix: &str, json: bool) -> CliResult {
    let node = lookup::node(api, prefix).await?;
    if json {
        print_json(&node);
        return Ok(Outcome::Success);
    }
    let drivers: Vec<String> =
        node.drivers.iter().filter(|(_, d)| d.detected && d.healthy).map(|(n, _)| n.clone()).collect();
    println!(
        "{}",
        key_values(&[
            ("ID", node.id.clone()),
            ("Name", node.name.clone()),
            ("Node Pool", node.node_pool.clone()),
            ("Class", or_none(&node.node_class)),
            ("DC", node.datacenter.clone()),
            ("Drain", "false".into()),
            ("Eligibility", node.scheduling_eligibility.clone()),
            ("Status", node.status.to_string()),
            ("HTTP Address", node.http_addr.clone()),
            ("Drivers", drivers.join(",")),
            (
                "CPU",
                format!(
                    "{} MHz ({} cores)",
                    node.node_resources.cpu.cpu_shares, node.node_resources.cpu.total_cpu_cores
                )
            ),
            ("Memory", format!("{} MiB", node.node_resources.memory.memory_mb)),
            ("Disk", format!("{} MiB", node.node_resources.disk.disk_mb)),
            ("Status Updated", timestamp(node.status_updated_at * 1_000_000_000)),
        ])
    );
    let (allocs, _): (Vec<AllocListStub>, _) = api.get("/v1/allocations").await?;
    let mut mine: Vec<AllocListStub> = allocs.into_iter().filter(|a| a.node_id == node.id).collect();
    mine.sort_by_key(|a| std::cmp::Reverse(a.create_index));
    println!("\nAllocations");
    if mine.is_empty() {
        println!("No allocations placed");
    } else {
        println!("{}", alloc_table(&mine));
    }
    Ok(Outcome::Success)
}

#[derive(Deserialize, serde::Serialize)]
#[serde(rename_all = "PascalCase")]
struct Members {
    members: Vec<Member>,
}

#[derive(Deserialize, serde::Serialize)]
#[serde(rename_all = "PascalCase")]
struct Member {
    name: String,
    addr: String,
    port: u16,
    status: String,
    tags: std::collections::BTreeMap<String, String>,
}

pub async fn run_server(cmd: ServerCommand) -> CliResult {
    let ServerCommand::Members { json, api } = cmd;
    let api = api.client()?;
    let (members, _): (Members, _) = api.get("/v1/agent/members").await?;
    let (leader, _): (String, _) = api.get("/v1/status/leader").await?;
    if json {
        print_json(&members);
        return Ok(Outcome::Success);
    }
    let tag = |m: &Member, k: &str| m.tags.get(k).cloned().unwrap_or_default();
    let rows: Vec<Vec<String>> = members
        .members
        .iter()
        .map(|m| {
            let is_leader = format!("{}:{}", m.addr, tag(m, "port")) == leader;
            vec![
                m.name.clone(),
                m.addr.clone(),
                m.port.to_string(),
                m.status.clone(),
                is_leader.to_string(),
                "3".into(),
                tag(m, "build"),
                tag(m, "dc"),
                tag(m, "region"),
            ]
        })
        .collect();
    println!(
        "{}",
        table(&["Name", "Address", "Port", "Status", "Leader", "Raft Version", "Build", "Datacenter", "Region"], &rows)
    );
    Ok(Outcome::Success)
}
