//! `rove eval status`.

use super::api_client::ApiClient;
use super::format::{ago, key_values, or_none, short_id};
use super::monitor::placement_failures;
use super::{lookup, print_json, ApiArgs, CliResult, Outcome};
use clap::Subcommand;

#[derive(Subcommand)]
pub enum EvalCommand {
    /// Show an evaluation and why placements failed, if they did
    Status {
        /// Evaluation ID or prefix
        eval: String,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        api: ApiArgs,
    },
}

pub async fn run(cmd: EvalCommand) -> CliResult {
    let EvalCommand::Status { eval, json, api } = cmd;
    status(&api.client()?, &eval, json).await
}

pub async fn status(api: &ApiClient, prefix: &str, json: bool) -> CliResult {
    let eval = lookup::eval(api, prefix).await?;
    if json {
        print_json(&eval);
        return Ok(Outcome::Success);
    }
    println!(
        "{}",
        key_values(&[
            ("ID", eval.id.clone()),
            ("Create Time", ago(eval.create_time)),
            ("Modify Time", ago(eval.modify_time)),
            ("Status", eval.status.to_string()),
            ("Status Description", or_none(&eval.status_description)),
            ("Type", eval.job_type.to_string()),
            ("TriggeredBy", eval.triggered_by.clone()),
            ("Job ID", eval.job_id.clone()),
            ("Node ID", or_none(&short_id(&eval.node_id))),
            ("Priority", eval.priority.to_string()),
            ("Placement Failures", (!eval.failed_tg_allocs.is_empty()).to_string()),
            ("Previous Eval", or_none(&short_id(&eval.previous_eval))),
            ("Blocked Eval", or_none(&short_id(&eval.blocked_eval))),
        ])
    );
    if !eval.failed_tg_allocs.is_empty() {
        println!("\nFailed Placements");
        print!("{}", placement_failures(&eval.failed_tg_allocs));
    }
    Ok(Outcome::Success)
}
