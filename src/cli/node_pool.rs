//! `rove node pool list | info | apply | delete | nodes | jobs`: the cluster's node pools.
//! `apply` reads a pool from an HCL file (`node_pool "name" { description meta { } }`) or
//! its API JSON.

use super::format::{key_values, or_none, table};
use super::job::job_table;
use super::node::node_table;
use super::{print_json, ApiArgs, CliResult, Outcome};
use crate::api::percent_encode;
use crate::jobspec::decode::{Decoder, Schema, Scope};
use crate::structs::{JobListStub, NodeListStub, NodePool};
use anyhow::{bail, Context};
use clap::Subcommand;
use std::path::{Path, PathBuf};

#[derive(Subcommand)]
pub enum NodePoolCommand {
    /// List node pools
    List {
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Show a node pool
    Info {
        name: String,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Create or update a node pool from a file (HCL or JSON)
    Apply {
        file: PathBuf,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Delete a node pool that no node and no running job uses
    Delete {
        name: String,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// List the nodes of a node pool
    Nodes {
        name: String,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// List the jobs of a node pool
    Jobs {
        name: String,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        api: ApiArgs,
    },
}

pub async fn run(cmd: NodePoolCommand) -> CliResult {
    match cmd {
        NodePoolCommand::List { json, api } => {
            let (pools, _): (Vec<NodePool>, _) = api.client()?.get("/v1/node/pools").await?;
            if json {
                print_json(&pools);
            } else {
                let rows: Vec<Vec<String>> =
                    pools.iter().map(|p| vec![p.name.clone(), or_none(&p.description)]).collect();
                println!("{}", table(&["Name", "Description"], &rows));
            }
        }
        NodePoolCommand::Info { name, json, api } => {
            let (pool, _): (NodePool, _) =
                api.client()?.get(&format!("/v1/node/pool/{}", percent_encode(&name))).await?;
            if json {
                print_json(&pool);
            } else {
                println!("{}", key_values(&[("Name", pool.name.clone()), ("Description", or_none(&pool.description))]));
                println!("\nMetadata");
                if pool.meta.is_empty() {
                    println!("No metadata");
                } else {
                    let meta: Vec<(&str, String)> = pool.meta.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
                    println!("{}", key_values(&meta));
                }
            }
        }
        NodePoolCommand::Apply { file, api } => {
            let pool = read_pool(&file)?;
            let _: serde_json::Value = api.client()?.put("/v1/node/pools", &pool).await?;
            println!("Successfully applied node pool {:?}!", pool.name);
        }
        NodePoolCommand::Delete { name, api } => {
            let _: serde_json::Value =
                api.client()?.delete(&format!("/v1/node/pool/{}", percent_encode(&name))).await?;
            println!("Successfully deleted node pool {name:?}!");
        }
        NodePoolCommand::Nodes { name, json, api } => {
            let path = format!("/v1/node/pool/{}/nodes", percent_encode(&name));
            let (nodes, _): (Vec<NodeListStub>, _) = api.client()?.get(&path).await?;
            print_list(&nodes, json, "No nodes", node_table);
        }
        NodePoolCommand::Jobs { name, json, api } => {
            let path = format!("/v1/node/pool/{}/jobs", percent_encode(&name));
            let (jobs, _): (Vec<JobListStub>, _) = api.client()?.get(&path).await?;
            print_list(&jobs, json, "No jobs", job_table);
        }
    }
    Ok(Outcome::Success)
}

/// A list as JSON, as a table, or a line saying it is empty.
fn print_list<T: serde::Serialize>(items: &[T], json: bool, empty: &str, table: fn(&[T]) -> String) {
    if json {
        print_json(&items);
    } else if items.is_empty() {
        println!("{empty}");
    } else {
        println!("{}", table(items));
    }
}

const TOP: Schema = Schema { attributes: &[], blocks: &["node_pool"], homes: &[], unsupported: &[] };
const POOL: Schema = Schema {
    attributes: &["description"],
    blocks: &["meta"],
    homes: &[],
    unsupported: &[("scheduler_config", "per-pool scheduler settings are not supported yet")],
};

/// A pool from a file: API JSON (`{"Name": ...}`) or HCL with one `node_pool` block.
fn read_pool(path: &Path) -> anyhow::Result<NodePool> {
    let src = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    if src.trim_start().starts_with('{') {
        return serde_json::from_str(&src).with_context(|| format!("{}: not a node pool", path.display()));
    }
    let body = hcl::parse(&src).with_context(|| format!("{}", path.display()))?;
    let mut d = Decoder::default();
    let top = Scope::new("", &body);
    d.check(&top, &TOP);
    let blocks: Vec<&hcl::Block> = top.blocks("node_pool").collect();
    let [block] = blocks.as_slice() else {
        bail!("{}: expected exactly one node_pool block, found {}", path.display(), blocks.len());
    };
    let Some(name) = block.labels.first().map(|l| l.as_str().to_string()) else {
        bail!("{}: the node_pool block needs its name as a label: `node_pool \"name\" {{ ... }}`", path.display());
    };
    let scope = top.child(block);
    d.check(&scope, &POOL);
    let mut pool =
        NodePool { name, description: d.string(&scope, "description").unwrap_or_default(), ..NodePool::default() };
    for meta in scope.blocks("meta") {
        pool.meta.extend(d.string_map(&scope.child(meta)));
    }
    if !d.problems.is_empty() {
        bail!("{}: {}", path.display(), d.problems.join("\n  "));
    }
    Ok(pool)
}
