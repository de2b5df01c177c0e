//! `rove job init|run|status|stop|inspect`.

use super::api_client::ApiClient;
use super::format::{ago, key_values, short_id, table, timestamp};
use super::{lookup, monitor, print_json, ApiArgs, CliResult, Outcome};
use crate::api::percent_encode;
use crate::server::{JobDeregisterResponse, JobRegisterResponse};
use crate::structs::{AllocListStub, Job, JobListStub, JobSummary};
use anyhow::{bail, Context};
use clap::Subcommand;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

const EXAMPLE_FILE: &str = "example.nomad.hcl";
const EXAMPLE_JOB: &str = include_str!("example.nomad.hcl");

#[derive(Subcommand)]
pub enum JobCommand {
    /// Write an example job file
    Init {
        /// File to write
        #[arg(default_value = EXAMPLE_FILE)]
        file: PathBuf,
        /// Write the example without its comments
        #[arg(long)]
        short: bool,
    },
    /// Submit a job file and watch it being scheduled
    Run {
        /// Job file (HCL, or JSON in the API form)
        file: PathBuf,
        /// Return right after submitting, without monitoring
        #[arg(long)]
        detach: bool,
        /// Print the job in its API JSON form instead of submitting it
        #[arg(long)]
        output: bool,
        /// Submit only if the job's modify index is still this (0: the job must be new)
        #[arg(long)]
        check_index: Option<u64>,
        #[command(flatten)]
        vars: VarArgs,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Check a job file without submitting it
    Validate {
        file: PathBuf,
        #[command(flatten)]
        vars: VarArgs,
    },
    /// Show all jobs, or one job with its allocations
    Status {
        /// Job ID or prefix
        job: Option<String>,
        /// Print JSON
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Stop a job
    Stop {
        job: String,
        /// Also remove the job from the servers
        #[arg(long)]
        purge: bool,
        /// Return right after stopping, without monitoring
        #[arg(long)]
        detach: bool,
        /// Accepted for compatibility; rove never prompts
        #[arg(long)]
        yes: bool,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Show what running a job file would change, without changing anything
    Plan(super::job_plan::PlanArgs),
    /// Work with periodic jobs
    #[command(subcommand)]
    Periodic(super::job_launch::PeriodicCommand),
    /// Run a parameterized job with a payload and meta values
    Dispatch(super::job_launch::DispatchArgs),
    /// Print a registered job in its API JSON form
    Inspect {
        job: String,
        /// Print JSON (the only format)
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        api: ApiArgs,
    },
}

/// Values for the job file's `variable` blocks.
#[derive(clap::Args)]
pub struct VarArgs {
    /// A variable value, `name=value` (repeatable)
    #[arg(long = "var", value_name = "NAME=VALUE")]
    vars: Vec<String>,
    /// A file of `name = value` variable values (repeatable)
    #[arg(long = "var-file", value_name = "PATH")]
    var_files: Vec<PathBuf>,
}

impl VarArgs {
    fn sources(&self) -> anyhow::Result<crate::jobspec::VarSources> {
        let mut sources = crate::jobspec::VarSources::from_env();
        for var in &self.vars {
            let (name, value) =
                var.split_once('=').ok_or_else(|| anyhow::anyhow!("-var {var:?}: expected NAME=VALUE"))?;
            sources.vars.push((name.to_string(), value.to_string()));
        }
        sources.var_files = self.var_files.clone();
        Ok(sources)
    }

    pub fn parse(&self, file: &Path) -> anyhow::Result<Job> {
        crate::jobspec::parse_file(file, &self.sources()?).map_err(|e| anyhow::anyhow!("{e}"))
    }
}

/// A job wrapped as Nomad's API sends and takes it.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct JobEnvelope {
    job: Job,
}

pub async fn run(cmd: JobCommand) -> CliResult {
    match cmd {
        JobCommand::Init { file, short } => init(&file, short),
        JobCommand::Run { file, detach, output, check_index, vars, api } => {
            run_job(&file, RunOptions { detach, output, check_index }, &vars, &api).await
        }
        JobCommand::Plan(args) => super::job_plan::run(args).await,
        JobCommand::Periodic(cmd) => super::job_launch::periodic(cmd).await,
        JobCommand::Dispatch(args) => super::job_launch::dispatch(args).await,
        JobCommand::Validate { file, vars } => {
            vars.parse(&file)?;
            println!("Job validation successful");
            Ok(Outcome::Success)
        }
        JobCommand::Status { job: None, json, api } => list(&api.client()?, json).await,
        JobCommand::Status { job: Some(prefix), json, api } => status(&api.client()?, &prefix, json).await,
        JobCommand::Stop { job, purge, detach, yes: _, api } => stop(&api.client()?, &job, purge, detach).await,
        JobCommand::Inspect { job, json: _, api } => {
            let api = api.client()?;
            let stub = lookup::job(&api, &job).await?;
            let (job, _): (Job, _) = api.get(&format!("/v1/job/{}", percent_encode(&stub.id))).await?;
            print_json(&JobEnvelope { job });
            Ok(Outcome::Success)
        }
    }
}

/// The example without its comment lines (`job init -short`).
fn without_comments(text: &str) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim_start().starts_with('#')).collect();
    let kept: Vec<&str> = lines.iter().map(|l| l.split(" # ").next().unwrap_or(l).trim_end()).collect();
    let mut out = kept.join("\n").trim_start().to_string();
    out.push('\n');
    out
}

fn init(file: &Path, short: bool) -> CliResult {
    if file.exists() {
        bail!("Job file {:?} already exists", file.display().to_string());
    }
    let text = if short { without_comments(EXAMPLE_JOB) } else { EXAMPLE_JOB.to_string() };
    std::fs::write(file, text).with_context(|| format!("writing {}", file.display()))?;
    println!("Example job file written to {}", file.display());
    Ok(Outcome::Success)
}

/// How `job run` submits.
struct RunOptions {
    detach: bool,
    output: bool,
    check_index: Option<u64>,
}

/// The body of a registration with `-check-index`.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct EnforcedRegistration {
    job: Job,
    enforce_index: bool,
    job_modify_index: u64,
}

/// When a periodic job launches next, in UTC, as `job run` reports it.
fn next_launch(job: &Job) -> Option<String> {
    let schedule = crate::periodic::Schedule::new(job.periodic.as_ref().filter(|p| p.enabled)?).ok()?;
    schedule.next_after(jiff::Timestamp::now()).map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
}

async fn run_job(file: &Path, options: RunOptions, vars: &VarArgs, api: &ApiArgs) -> CliResult {
    let job = vars.parse(file)?;
    if options.output {
        print_json(&JobEnvelope { job });
        return Ok(Outcome::Success);
    }
    let api = api.client()?;
    let next = next_launch(&job);
    let response: JobRegisterResponse = match options.check_index {
        Some(index) => {
            let body = EnforcedRegistration { job, enforce_index: true, job_modify_index: index };
            api.put("/v1/jobs", &body).await?
        }
        None => api.put("/v1/jobs", &JobEnvelope { job }).await?,
    };
    if response.eval_id.is_empty() {
        // Periodic and parameterized jobs are templates: nothing is scheduled until a
        // launch or a dispatch creates a child.
        println!("Job registration successful");
        if let Some(next) = next {
            println!("Approximate next launch time: {next}");
        }
        return Ok(Outcome::Success);
    }
    if options.detach {
        println!("Job registration successful");
        println!("Evaluation ID: {}", response.eval_id);
        return Ok(Outcome::Success);
    }
    monitor::monitor(&api, &response.eval_id).await
}

async fn list(api: &ApiClient, json: bool) -> CliResult {
    let (jobs, _): (Vec<JobListStub>, _) = api.get("/v1/jobs").await?;
    if json {
        print_json(&jobs);
    } else if jobs.is_empty() {
        println!("No running jobs");
    } else {
        println!("{}", job_table(&jobs));
    }
    Ok(Outcome::Success)
}

/// Jobs as `job status` lists them.
pub fn job_table(jobs: &[JobListStub]) -> String {
    let rows: Vec<Vec<String>> = jobs
        .iter()
        .map(|j| {
            vec![
                j.id.clone(),
                j.job_type.to_string(),
                j.priority.to_string(),
                j.status.to_string(),
                timestamp(j.submit_time),
            ]
        })
        .collect();
    table(&["ID", "Type", "Priority", "Status", "Submit Date"], &rows)
}

pub async fn status(api: &ApiClient, prefix: &str, json: bool) -> CliResult {
    let stub = lookup::job(api, prefix).await?;
    let id = percent_encode(&stub.id);
    let (job, _): (Job, _) = api.get(&format!("/v1/job/{id}")).await?;
    let (summary, _): (JobSummary, _) = api.get(&format!("/v1/job/{id}/summary")).await?;
    let (mut allocs, _): (Vec<AllocListStub>, _) = api.get(&format!("/v1/job/{id}/allocations")).await?;
    if json {
        print_json(&job);
        return Ok(Outcome::Success);
    }
    println!(
        "{}",
        key_values(&[
            ("ID", job.id.clone()),
            ("Name", job.name.clone()),
            ("Submit Date", timestamp(job.submit_time)),
            ("Type", job.job_type.to_string()),
            ("Priority", job.priority.to_string()),
            ("Datacenters", job.datacenters.join(",")),
            ("Namespace", job.namespace.clone()),
            ("Node Pool", job.node_pool.clone()),
            ("Status", if job.stop { "dead (stopped)".into() } else { job.status.to_string() }),
            ("Periodic", "false".into()),
            ("Parameterized", "false".into()),
        ])
    );
    println!("\nSummary");
    let rows: Vec<Vec<String>> = summary
        .summary
        .iter()
        .map(|(group, s)| {
            [group.clone()]
                .into_iter()
                .chain(
                    [s.queued, s.starting, s.running, s.failed, s.complete, s.lost, s.unknown].map(|n| n.to_string()),
                )
                .collect()
        })
        .collect();
    println!(
        "{}",
        table(&["Task Group", "Queued", "Starting", "Running", "Failed", "Complete", "Lost", "Unknown"], &rows)
    );
    println!("\nAllocations");
    if allocs.is_empty() {
        println!("No allocations placed");
    } else {
        allocs.sort_by_key(|a| std::cmp::Reverse(a.create_index));
        println!("{}", alloc_table(&allocs));
    }
    Ok(Outcome::Success)
}

/// The allocation table `job status` and `node status` print.
pub fn alloc_table(allocs: &[AllocListStub]) -> String {
    let rows: Vec<Vec<String>> = allocs
        .iter()
        .map(|a| {
            vec![
                short_id(&a.id),
                short_id(&a.node_id),
                a.task_group.clone(),
                a.job_version.to_string(),
                a.desired_status.to_string(),
                a.client_status.to_string(),
                ago(a.create_time),
                ago(a.modify_time),
            ]
        })
        .collect();
    table(&["ID", "Node ID", "Task Group", "Version", "Desired", "Status", "Created", "Modified"], &rows)
}

async fn stop(api: &ApiClient, prefix: &str, purge: bool, detach: bool) -> CliResult {
    let stub = lookup::job(api, prefix).await?;
    let path = format!("/v1/job/{}{}", percent_encode(&stub.id), if purge { "?purge=true" } else { "" });
    let response: JobDeregisterResponse = api.delete(&path).await?;
    if detach {
        println!("{}", response.eval_id);
        return Ok(Outcome::Success);
    }
    monitor::monitor(api, &response.eval_id).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_examples_parse_and_short_drops_only_comments() {
        let full = crate::jobspec::parse_hcl(EXAMPLE_JOB, "example.nomad.hcl").unwrap();
        let short_text = without_comments(EXAMPLE_JOB);
        assert!(!short_text.contains('#'));
        let short = crate::jobspec::parse_hcl(&short_text, "short.nomad.hcl").unwrap();
        assert_eq!(full, short);
    }
}
