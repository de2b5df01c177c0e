//! Finds the one job, allocation, evaluation or node an ID prefix names, as Nomad's
//! commands do, with Nomad's messages when none or several match.

use super::api_client::ApiClient;
use crate::api::percent_encode;
use crate::structs::{AllocListStub, Allocation, Evaluation, JobListStub, Node, NodeListStub};
use anyhow::{bail, Result};

/// Picks the item whose ID equals `prefix`, else the only one that starts with it.
fn unique<T>(items: Vec<T>, id: impl Fn(&T) -> &str, what: &str, prefix: &str) -> Result<T> {
    if prefix.is_empty() {
        bail!("an ID or ID prefix is required");
    }
    let mut matching: Vec<T> = items.into_iter().filter(|i| id(i).starts_with(prefix)).collect();
    if let Some(pos) = matching.iter().position(|i| id(i) == prefix) {
        return Ok(matching.swap_remove(pos));
    }
    match matching.len() {
        0 => bail!("No {what}(s) with prefix or ID {prefix:?} found"),
        1 => Ok(matching.remove(0)),
        _ => {
            let ids: Vec<String> = matching.iter().map(|i| id(i).to_string()).collect();
            bail!("Prefix {prefix:?} matched multiple {what}s:\n{}", ids.join("\n"))
        }
    }
}

pub async fn job(api: &ApiClient, prefix: &str) -> Result<JobListStub> {
    let (jobs, _): (Vec<JobListStub>, _) = api.get(&format!("/v1/jobs?prefix={}", percent_encode(prefix))).await?;
    unique(jobs, |j| &j.id, "job", prefix)
}

pub async fn alloc(api: &ApiClient, prefix: &str) -> Result<Allocation> {
    if prefix.len() < 2 {
        bail!("Alloc ID must contain at least two characters");
    }
    let (allocs, _): (Vec<AllocListStub>, _) =
        api.get(&format!("/v1/allocations?prefix={}", percent_encode(prefix))).await?;
    let stub = unique(allocs, |a| &a.id, "allocation", prefix)?;
    Ok(api.get(&format!("/v1/allocation/{}", stub.id)).await?.0)
}

pub async fn eval(api: &ApiClient, prefix: &str) -> Result<Evaluation> {
    let (evals, _): (Vec<Evaluation>, _) =
        api.get(&format!("/v1/evaluations?prefix={}", percent_encode(prefix))).await?;
    unique(evals, |e| &e.id, "evaluation", prefix)
}

pub async fn node(api: &ApiClient, prefix: &str) -> Result<Node> {
    let (nodes, _): (Vec<NodeListStub>, _) = api.get(&format!("/v1/nodes?prefix={}", percent_encode(prefix))).await?;
    let stub = unique(nodes, |n| &n.id, "node", prefix)?;
    Ok(api.get(&format!("/v1/node/{}", stub.id)).await?.0)
}

#[cfg(test)]
mod tests {
    use super::unique;

    #[test]
    fn exact_match_wins_and_ambiguity_is_an_error() {
        let ids = || vec!["web".to_string(), "web-api".to_string(), "db".to_string()];
        assert_eq!(unique(ids(), |s| s, "job", "web").unwrap(), "web");
        assert_eq!(unique(ids(), |s| s, "job", "web-").unwrap(), "web-api");
        assert!(unique(ids(), |s| s, "job", "w").unwrap_err().to_string().contains("matched multiple jobs"));
        assert_eq!(
            unique(ids(), |s| s, "job", "x").unwrap_err().to_string(),
            "No job(s) with prefix or ID \"x\" found"
        );
    }
}
