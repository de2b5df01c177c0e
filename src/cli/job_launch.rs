//! `rove job periodic force` and `rove job dispatch`: launching the children of periodic
//! and parameterized jobs by hand.

use super::api_client::ApiClient;
use super::{lookup, monitor, ApiArgs, CliResult, Outcome};
use crate::api::percent_encode;
use crate::server::{DispatchResponse, JobRegisterResponse};
use anyhow::Context;
use base64::Engine;
use clap::{Args, Subcommand};
use std::collections::BTreeMap;
use std::io::Read;

#[derive(Subcommand)]
pub enum PeriodicCommand {
    /// Launch a periodic job now, whatever its schedule says
    Force {
        job: String,
        /// Return right after launching, without monitoring
        #[arg(long)]
        detach: bool,
        #[command(flatten)]
        api: ApiArgs,
    },
}

#[derive(Args)]
pub struct DispatchArgs {
    /// The parameterized job
    job: String,
    /// The payload: a file, or `-` for standard input
    input: Option<String>,
    /// A meta value for the dispatched job, `key=value` (repeatable)
    #[arg(long = "meta", value_name = "KEY=VALUE")]
    meta: Vec<String>,
    /// Return right after dispatching, without monitoring
    #[arg(long)]
    detach: bool,
    #[command(flatten)]
    api: ApiArgs,
}

/// Monitors an evaluation unless asked not to.
async fn follow(api: &ApiClient, eval_id: &str, detach: bool) -> CliResult {
    if detach || eval_id.is_empty() {
        return Ok(Outcome::Success);
    }
    monitor::monitor(api, eval_id).await
}

pub async fn periodic(cmd: PeriodicCommand) -> CliResult {
    let PeriodicCommand::Force { job, detach, api } = cmd;
    let api = api.client()?;
    let stub = lookup::job(&api, &job).await?;
    let path = format!("/v1/job/{}/periodic/force", percent_encode(&stub.id));
    let response: JobRegisterResponse = api.put(&path, &serde_json::json!({})).await?;
    println!("Job {:?} launched; evaluation ID: {}", stub.id, response.eval_id);
    follow(&api, &response.eval_id, detach).await
}

fn read_payload(input: Option<&str>) -> anyhow::Result<Vec<u8>> {
    match input {
        None => Ok(Vec::new()),
        Some("-") => {
            let mut payload = Vec::new();
            std::io::stdin().read_to_end(&mut payload).context("reading the payload from standard input")?;
            Ok(payload)
        }
        Some(file) => std::fs::read(file).with_context(|| format!("reading the payload from {file}")),
    }
}

pub async fn dispatch(args: DispatchArgs) -> CliResult {
    let mut meta = BTreeMap::new();
    for pair in &args.meta {
        let (key, value) = pair.split_once('=').ok_or_else(|| anyhow::anyhow!("-meta {pair:?}: expected KEY=VALUE"))?;
        meta.insert(key.to_string(), value.to_string());
    }
    let payload = read_payload(args.input.as_deref())?;
    let api = args.api.client()?;
    let body = serde_json::json!({
        "Payload": base64::engine::general_purpose::STANDARD.encode(payload),
        "Meta": meta,
    });
    let path = format!("/v1/job/{}/dispatch", percent_encode(&args.job));
    let response: DispatchResponse = api.put(&path, &body).await?;
    println!("Dispatched Job ID = {}", response.dispatched_job_id);
    println!("Evaluation ID     = {}", response.eval_id);
    follow(&api, &response.eval_id, args.detach).await
}
