//! `rove job plan`: what running a job file would change, without changing anything: the
//! diff against the registered version, what happens to each group's allocations, the
//! placements that would fail and why, and the index for `job run -check-index`.

use super::job::VarArgs;
use super::monitor::placement_failures;
use super::{print_json, ApiArgs, CliResult, Outcome};
use crate::api::percent_encode;
use crate::server::{DiffType, FieldDiff, JobDiff, JobPlanResponse};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct PlanArgs {
    /// Job file (HCL, or JSON in the API form)
    file: PathBuf,
    /// Show the job diff (on by default)
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    diff: bool,
    /// Also show fields that did not change (accepted; unchanged fields are not listed)
    #[arg(long)]
    verbose: bool,
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    vars: VarArgs,
    #[command(flatten)]
    api: ApiArgs,
}

fn marker(diff_type: DiffType) -> &'static str {
    match diff_type {
        DiffType::Added => "+",
        DiffType::Deleted => "-",
        DiffType::Edited => "+/-",
        DiffType::None => "",
    }
}

fn field_line(field: &FieldDiff, indent: &str) -> String {
    let value = match field.diff_type {
        DiffType::Added => format!("{:?}", field.new),
        DiffType::Deleted => format!("{:?}", field.old),
        _ => format!("{:?} => {:?}", field.old, field.new),
    };
    format!("{indent}{} {}: {value}\n", marker(field.diff_type), field.name)
}

/// The diff as `job plan` prints it.
pub fn render_diff(diff: &JobDiff) -> String {
    let mut out = format!("{} Job: {:?}\n", marker(diff.diff_type), diff.id).trim_start().to_string();
    for field in &diff.fields {
        out.push_str(&field_line(field, ""));
    }
    for group in &diff.task_groups {
        let updates: Vec<String> = group.updates.iter().map(|(kind, n)| format!("{n} {kind}")).collect();
        let summary = if updates.is_empty() { String::new() } else { format!(" ({})", updates.join(", ")) };
        out.push_str(format!("{} Task Group: {:?}{summary}\n", marker(group.diff_type), group.name).trim_start());
        for field in &group.fields {
            out.push_str(&field_line(field, "  "));
        }
        for task in group.tasks.iter().filter(|t| t.diff_type != DiffType::None) {
            out.push_str(&format!("  {} Task: {:?}\n", marker(task.diff_type), task.name));
            for field in &task.fields {
                out.push_str(&field_line(field, "    "));
            }
        }
    }
    out
}

/// Whether the plan creates or destroys allocations (Nomad's exit code 1).
fn changes_allocations(plan: &JobPlanResponse) -> bool {
    plan.annotations
        .desired_tg_updates
        .values()
        .any(|u| u.place + u.stop + u.destructive_update + u.migrate + u.preemptions > 0)
}

pub async fn run(args: PlanArgs) -> CliResult {
    match plan(&args).await {
        Ok(outcome) => Ok(outcome),
        Err(e) => {
            // Nomad's job plan exits 255 on errors, keeping 1 for "allocations change".
            eprintln!("Error: {e:#}");
            Ok(Outcome::PlanError)
        }
    }
}

async fn plan(args: &PlanArgs) -> CliResult {
    let job = args.vars.parse(&args.file)?;
    let api = args.api.client()?;
    let path = format!("/v1/job/{}/plan", percent_encode(&job.id));
    let body = serde_json::json!({ "Job": job, "Diff": args.diff });
    let plan: JobPlanResponse = api.put(&path, &body).await?;
    if args.json {
        print_json(&plan);
    } else {
        if let Some(diff) = plan.diff.as_ref().filter(|_| args.diff) {
            println!("{}", render_diff(diff));
        }
        println!("Scheduler dry-run:");
        if plan.failed_tg_allocs.is_empty() {
            println!("- All tasks successfully allocated.");
        } else {
            println!("- WARNING: Failed to place all allocations.");
            print!("{}", placement_failures(&plan.failed_tg_allocs));
        }
        let file = args.file.display();
        println!("\nJob Modify Index: {}", plan.job_modify_index);
        println!("To submit the job with version verification run:\n");
        println!("rove job run -check-index {} {file}\n", plan.job_modify_index);
        println!("With -check-index the job is only run if nobody changed it on the servers since");
        println!("this plan; if someone did, plan again, as these results may no longer hold.");
    }
    Ok(if changes_allocations(&plan) { Outcome::Changes } else { Outcome::Success })
}
