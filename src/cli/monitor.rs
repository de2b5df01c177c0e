//! Watches an evaluation until the scheduler is done with it, printing Nomad's `==>`
//! progress lines, the allocations it created and any placement failures.

use super::api_client::ApiClient;
use super::format::{short_id, timestamp};
use super::{CliResult, Outcome};
use crate::api::percent_encode;
use crate::structs::{now_nanos, AllocListStub, EvalStatus, Evaluation};
use std::collections::BTreeSet;

fn now() -> String {
    timestamp(now_nanos())
}

pub async fn monitor(api: &ApiClient, eval_id: &str) -> CliResult {
    println!("==> {}: Monitoring evaluation \"{}\"", now(), short_id(eval_id));
    let mut index = 0;
    let mut last_status: Option<EvalStatus> = None;
    let mut seen = BTreeSet::new();
    loop {
        let (eval, new_index): (Evaluation, u64) =
            api.get(&format!("/v1/evaluation/{eval_id}?index={index}&wait=5s")).await?;
        match last_status {
            None => println!("    {}: Evaluation triggered by job \"{}\"", now(), eval.job_id),
            Some(old) if old != eval.status => {
                println!("    {}: Evaluation status changed: \"{old}\" -> \"{}\"", now(), eval.status)
            }
            Some(_) => {}
        }
        last_status = Some(eval.status);
        if eval.status == EvalStatus::Pending {
            index = new_index;
            continue;
        }
        let (allocs, _): (Vec<AllocListStub>, _) = api
            .get(&format!(
                "/v1/job/{}/allocations?namespace={}",
                percent_encode(&eval.job_id),
                percent_encode(&eval.namespace)
            ))
            .await?;
        for alloc in allocs.iter().filter(|a| a.eval_id == eval.id && seen.insert(a.id.clone())) {
            println!(
                "    {}: Allocation \"{}\" created: node \"{}\", group \"{}\"",
                now(),
                short_id(&alloc.id),
                short_id(&alloc.node_id),
                alloc.task_group
            );
        }
        return finish(&eval);
    }
}

fn finish(eval: &Evaluation) -> CliResult {
    let id = short_id(&eval.id);
    if eval.status == EvalStatus::Failed || eval.status == EvalStatus::Canceled {
        anyhow::bail!("evaluation \"{id}\" finished with status \"{}\": {}", eval.status, eval.status_description);
    }
    if eval.failed_tg_allocs.is_empty() {
        println!("==> {}: Evaluation \"{id}\" finished with status \"{}\"", now(), eval.status);
        return Ok(Outcome::Success);
    }
    println!(
        "==> {}: Evaluation \"{id}\" finished with status \"{}\" but failed to place all allocations:",
        now(),
        eval.status
    );
    print!("{}", placement_failures(&eval.failed_tg_allocs));
    if !eval.blocked_eval.is_empty() {
        println!(
            "    {}: Evaluation \"{}\" waiting for additional capacity to place remainder",
            now(),
            short_id(&eval.blocked_eval)
        );
    }
    Ok(Outcome::Partial)
}

/// Why each task group could not be placed, in Nomad's wording.
pub fn placement_failures(failed: &std::collections::BTreeMap<String, crate::structs::AllocMetric>) -> String {
    let mut out = String::new();
    for (group, metric) in failed {
        let count = metric.coalesced_failures + 1;
        let plural = if count == 1 { "" } else { "s" };
        out.push_str(&format!("    Task Group \"{group}\" (failed to place {count} allocation{plural}):\n"));
        if metric.nodes_evaluated == 0 {
            out.push_str("      * No nodes were eligible for evaluation\n");
        }
        for (constraint, n) in &metric.constraint_filtered {
            out.push_str(&format!("      * Constraint \"{constraint}\": {n} nodes excluded by filter\n"));
        }
        if metric.nodes_exhausted > 0 {
            out.push_str(&format!("      * Resources exhausted on {} nodes\n", metric.nodes_exhausted));
        }
        for (dimension, n) in &metric.dimension_exhausted {
            out.push_str(&format!("      * Dimension \"{dimension}\" exhausted on {n} nodes\n"));
        }
    }
    out
}
