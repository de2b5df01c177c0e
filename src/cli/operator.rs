//! `rove operator scheduler get-config | set-config`: the cluster's scheduler settings;
//! `rove operator snapshot save | restore | inspect`: backups of the servers' state;
//! `rove operator raft list-peers | remove-peer`: the servers' Raft membership.

use super::format::key_values;
use super::{print_json, ApiArgs, CliResult, Outcome};
use crate::server::backup;
use crate::structs::{SchedulerAlgorithm, SchedulerConfiguration};
use anyhow::bail;
use clap::Subcommand;
use serde::Deserialize;

const PATH: &str = "/v1/operator/scheduler/configuration";

#[derive(Subcommand)]
pub enum OperatorCommand {
    /// Work with the scheduler configuration
    #[command(subcommand)]
    Scheduler(SchedulerCommand),
    /// Save, restore or inspect backups of the servers' state
    #[command(subcommand)]
    Snapshot(SnapshotCommand),
    /// List or remove the servers' Raft peers
    #[command(subcommand)]
    Raft(super::operator_raft::RaftCommand),
}

#[derive(Subcommand)]
pub enum SnapshotCommand {
    /// Write the servers' state to a file
    Save {
        file: std::path::PathBuf,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Replace the servers' state with a saved file's (checked first)
    Restore {
        file: std::path::PathBuf,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Check a saved file and show what it holds
    Inspect { file: std::path::PathBuf },
}

#[derive(Subcommand)]
pub enum SchedulerCommand {
    /// Show the scheduler configuration
    GetConfig {
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Change the scheduler configuration; settings not given stay as they are
    SetConfig {
        /// binpack or spread
        #[arg(long, value_parser = ["binpack", "spread"])]
        scheduler_algorithm: Option<String>,
        #[arg(long)]
        memory_oversubscription: Option<bool>,
        #[arg(long)]
        reject_job_registration: Option<bool>,
        #[arg(long)]
        pause_eval_broker: Option<bool>,
        #[arg(long)]
        preempt_system_scheduler: Option<bool>,
        #[arg(long)]
        preempt_sysbatch_scheduler: Option<bool>,
        #[arg(long)]
        preempt_batch_scheduler: Option<bool>,
        #[arg(long)]
        preempt_service_scheduler: Option<bool>,
        /// Only update if the configuration's modify index is still this one
        #[arg(long)]
        check_index: Option<u64>,
        #[command(flatten)]
        api: ApiArgs,
    },
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ConfigAnswer {
    scheduler_config: SchedulerConfiguration,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UpdateAnswer {
    updated: bool,
}

pub async fn run(cmd: OperatorCommand) -> CliResult {
    let cmd = match cmd {
        OperatorCommand::Scheduler(cmd) => cmd,
        OperatorCommand::Snapshot(cmd) => return snapshot(cmd).await,
        OperatorCommand::Raft(cmd) => return super::operator_raft::run(cmd).await,
    };
    match cmd {
        SchedulerCommand::GetConfig { json, api } => {
            let (answer, _) = api.client()?.get::<ConfigAnswer>(PATH).await?;
            if json {
                print_json(&answer.scheduler_config);
            } else {
                println!("{}", describe(&answer.scheduler_config));
            }
            Ok(Outcome::Success)
        }
        SchedulerCommand::SetConfig {
            scheduler_algorithm,
            memory_oversubscription,
            reject_job_registration,
            pause_eval_broker,
            preempt_system_scheduler,
            preempt_sysbatch_scheduler,
            preempt_batch_scheduler,
            preempt_service_scheduler,
            check_index,
            api,
        } => {
            let client = api.client()?;
            let (ConfigAnswer { scheduler_config: mut config }, _) = client.get(PATH).await?;
            if let Some(algorithm) = scheduler_algorithm {
                config.scheduler_algorithm =
                    if algorithm == "spread" { SchedulerAlgorithm::Spread } else { SchedulerAlgorithm::Binpack };
            }
            let preemption = &mut config.preemption_config;
            let settings = [
                (memory_oversubscription, &mut config.memory_oversubscription_enabled),
                (reject_job_registration, &mut config.reject_job_registration),
                (pause_eval_broker, &mut config.pause_eval_broker),
                (preempt_system_scheduler, &mut preemption.system_scheduler_enabled),
                (preempt_sysbatch_scheduler, &mut preemption.sys_batch_scheduler_enabled),
                (preempt_batch_scheduler, &mut preemption.batch_scheduler_enabled),
                (preempt_service_scheduler, &mut preemption.service_scheduler_enabled),
            ];
            for (given, setting) in settings {
                if let Some(value) = given {
                    *setting = value;
                }
            }
            let path = match check_index {
                Some(index) => format!("{PATH}?cas={index}"),
                None => PATH.to_string(),
            };
            let answer: UpdateAnswer = client.put(&path, &config).await?;
            if !answer.updated {
                bail!(
                    "scheduler configuration not updated: its modify index is no longer {}",
                    check_index.unwrap_or(0)
                );
            }
            println!("Scheduler configuration updated!");
            Ok(Outcome::Success)
        }
    }
}

async fn snapshot(cmd: SnapshotCommand) -> CliResult {
    use anyhow::Context;
    match cmd {
        SnapshotCommand::Save { file, api } => {
            let answer = api.client()?.request("GET", "/v1/operator/snapshot", None).await?;
            backup::decode(&answer.body).context("the server's snapshot")?;
            std::fs::write(&file, &answer.body).with_context(|| format!("writing {}", file.display()))?;
            println!("State file written to {}", file.display());
        }
        SnapshotCommand::Restore { file, api } => {
            let bytes = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            backup::decode(&bytes).with_context(|| file.display().to_string())?;
            api.client()?.request("PUT", "/v1/operator/snapshot", Some(bytes)).await?;
            println!("Snapshot Restored");
        }
        SnapshotCommand::Inspect { file } => {
            let bytes = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let (info, _) = backup::decode(&bytes).with_context(|| file.display().to_string())?;
            let pairs =
                [("Index", info.index.to_string()), ("Size", info.length.to_string()), ("SHA-256", info.sha256)];
            println!("{}", key_values(&pairs));
        }
    }
    Ok(Outcome::Success)
}

fn describe(config: &SchedulerConfiguration) -> String {
    let algorithm = match config.scheduler_algorithm {
        SchedulerAlgorithm::Binpack => "binpack",
        SchedulerAlgorithm::Spread => "spread",
    };
    let p = &config.preemption_config;
    key_values(&[
        ("Scheduler Algorithm", algorithm.to_string()),
        ("Memory Oversubscription", config.memory_oversubscription_enabled.to_string()),
        ("Reject Job Registration", config.reject_job_registration.to_string()),
        ("Pause Eval Broker", config.pause_eval_broker.to_string()),
        ("Preemption System Scheduler", p.system_scheduler_enabled.to_string()),
        ("Preemption Service Scheduler", p.service_scheduler_enabled.to_string()),
        ("Preemption Batch Scheduler", p.batch_scheduler_enabled.to_string()),
        ("Preemption SysBatch Scheduler", p.sys_batch_scheduler_enabled.to_string()),
        ("Modify Index", config.modify_index.to_string()),
    ])
}
