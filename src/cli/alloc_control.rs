//! `rove alloc stop` (the servers stop the allocation and place a replacement) and
//! `rove alloc signal` (the node that runs it signals its tasks).

use super::alloc::node_client;
use super::{lookup, monitor, ApiArgs, CliResult, Outcome};
use crate::server::JobRegisterResponse;

#[derive(clap::Args)]
pub struct StopArgs {
    /// Allocation ID or prefix
    alloc: String,
    /// Return right after stopping, without monitoring
    #[arg(long)]
    detach: bool,
    #[command(flatten)]
    api: ApiArgs,
}

#[derive(clap::Args)]
pub struct SignalArgs {
    /// Allocation ID or prefix
    alloc: String,
    /// Only this task (default: every running task)
    task: Option<String>,
    /// The signal (default SIGKILL, as Nomad)
    #[arg(short = 's', default_value = "SIGKILL")]
    signal: String,
    #[command(flatten)]
    api: ApiArgs,
}

pub async fn stop(args: StopArgs) -> CliResult {
    let api = args.api.client()?;
    let alloc = lookup::alloc(&api, &args.alloc).await?;
    let response: JobRegisterResponse =
        api.put(&format!("/v1/allocation/{}/stop", alloc.id), &serde_json::json!({})).await?;
    if args.detach {
        println!("{}", response.eval_id);
        return Ok(Outcome::Success);
    }
    monitor::monitor(&api, &response.eval_id).await
}

pub async fn signal(args: SignalArgs) -> CliResult {
    let api = args.api.client()?;
    let alloc = lookup::alloc(&api, &args.alloc).await?;
    let node = node_client(&api, &alloc).await?;
    let body = serde_json::json!({ "Task": args.task.unwrap_or_default(), "Signal": args.signal });
    let _: serde_json::Value = node.put(&format!("/v1/client/allocation/{}/signal", alloc.id), &body).await?;
    Ok(Outcome::Success)
}
