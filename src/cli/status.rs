//! `rove status [prefix]`: the jobs list, or whatever job, allocation, evaluation or node
//! the prefix names.

use super::{alloc, eval, job, lookup, node, ApiArgs, CliResult};
use anyhow::bail;
use clap::Args;

#[derive(Args)]
pub struct StatusArgs {
    /// ID or prefix of a job, allocation, evaluation or node
    id: Option<String>,
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    api: ApiArgs,
}

pub async fn run(args: StatusArgs) -> CliResult {
    let api = args.api.client()?;
    let Some(prefix) = args.id else {
        return job::run(job::JobCommand::Status { job: None, json: args.json, api: args.api }).await;
    };
    if lookup::job(&api, &prefix).await.is_ok() {
        return job::status(&api, &prefix, args.json).await;
    }
    if prefix.len() >= 2 && lookup::alloc(&api, &prefix).await.is_ok() {
        return alloc::status(&api, &prefix, args.json, false).await;
    }
    if lookup::eval(&api, &prefix).await.is_ok() {
        return eval::status(&api, &prefix, args.json).await;
    }
    if lookup::node(&api, &prefix).await.is_ok() {
        return node::status(&api, &prefix, args.json).await;
    }
    bail!("No matches for {prefix:?} among jobs, allocations, evaluations and nodes")
}
