//! Dispatching parameterized jobs: checks the payload and meta against the job's
//! `parameterized` block and registers the dispatched child
//! (`<parent>/dispatch-<unix seconds>-<8 hex>`) with its evaluation.

use super::command::Command;
use super::{Server, ServerError};
use crate::structs::{generate_id, now_nanos, trigger, JobStatus};
use base64::Engine;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Nomad's limit on a dispatch payload.
pub const PAYLOAD_LIMIT: usize = 16 * 1024;

/// The answer to `PUT /v1/job/:id/dispatch`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DispatchResponse {
    #[serde(rename = "DispatchedJobID")]
    pub dispatched_job_id: String,
    #[serde(rename = "EvalID")]
    pub eval_id: String,
    pub eval_create_index: u64,
    pub job_create_index: u64,
    pub index: u64,
}

/// Why a dispatch does not fit the job's `parameterized` block, as Nomad words it.
fn check(
    config: &crate::structs::ParameterizedJobConfig,
    payload: &[u8],
    meta: &BTreeMap<String, String>,
) -> Result<(), String> {
    match config.payload.as_str() {
        "required" if payload.is_empty() => {
            return Err("Payload is not provided but required by parameterized job".into())
        }
        "forbidden" if !payload.is_empty() => return Err("Payload provided but forbidden by parameterized job".into()),
        _ => {}
    }
    if payload.len() > PAYLOAD_LIMIT {
        return Err(format!("Payload exceeds maximum size; {} > {PAYLOAD_LIMIT}", payload.len()));
    }
    let missing: Vec<&String> = config.meta_required.iter().filter(|k| !meta.contains_key(*k)).collect();
    if !missing.is_empty() {
        return Err(format!("Dispatch did not provide required meta keys: {missing:?}"));
    }
    let allowed = |k: &String| config.meta_required.contains(k) || config.meta_optional.contains(k);
    let unpermitted: Vec<&String> = meta.keys().filter(|k| !allowed(k)).collect();
    if !unpermitted.is_empty() {
        return Err(format!("Dispatch included unpermitted meta keys: {unpermitted:?}"));
    }
    Ok(())
}

impl Server {
    pub async fn dispatch_job(
        &self,
        namespace: &str,
        job_id: &str,
        payload: &[u8],
        meta: BTreeMap<String, String>,
    ) -> Result<DispatchResponse, ServerError> {
        let parent = self.stored_job(namespace, job_id)?;
        let config = match &parent.parameterized_job {
            Some(config) if parent.is_parameterized() && !parent.stop => config,
            _ => return Err(ServerError::BadRequest(format!("Specified job {job_id:?} is not a parameterized job"))),
        };
        check(config, payload, &meta).map_err(ServerError::BadRequest)?;
        let mut child = (*parent).clone();
        let seconds = now_nanos() / 1_000_000_000;
        child.id = format!("{}/dispatch-{seconds}-{}", parent.id, &generate_id()[..8]);
        child.name = child.id.clone();
        child.parent_id = parent.id.clone();
        child.dispatched = true;
        child.status = JobStatus::Pending;
        child.submit_time = now_nanos();
        child.payload = base64::engine::general_purpose::STANDARD.encode(payload);
        child.meta.extend(meta);
        let eval = Server::new_eval(&child, trigger::JOB_REGISTER);
        let (eval_id, dispatched_job_id) = (eval.id.clone(), child.id.clone());
        let command = Command::JobRegister { job: Box::new(child), eval: Some(eval), enforce_index: Some(0) };
        let index = self.proposer.propose(command).await?;
        Ok(DispatchResponse { dispatched_job_id, eval_id, eval_create_index: index, job_create_index: index, index })
    }
}

#[cfg(test)]
mod tests {
    use super::check;
    use crate::structs::ParameterizedJobConfig;
    use std::collections::BTreeMap;

    #[test]
    fn payload_and_meta_rules() {
        let config = |payload: &str| ParameterizedJobConfig {
            payload: payload.into(),
            meta_required: vec!["customer".into()],
            meta_optional: vec!["priority".into()],
        };
        let meta = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let ok: BTreeMap<String, String> = meta(&[("customer", "acme")]);
        assert_eq!(check(&config("optional"), b"", &ok), Ok(()));
        assert_eq!(
            check(&config("required"), b"", &ok).unwrap_err(),
            "Payload is not provided but required by parameterized job"
        );
        assert_eq!(
            check(&config("forbidden"), b"x", &ok).unwrap_err(),
            "Payload provided but forbidden by parameterized job"
        );
        assert!(check(&config("optional"), &[0; 16 * 1024 + 1], &ok)
            .unwrap_err()
            .starts_with("Payload exceeds maximum size"));
        assert_eq!(
            check(&config("optional"), b"", &BTreeMap::new()).unwrap_err(),
            "Dispatch did not provide required meta keys: [\"customer\"]"
        );
        let extra = meta(&[("customer", "acme"), ("colour", "red")]);
        assert_eq!(
            check(&config("optional"), b"", &extra).unwrap_err(),
            "Dispatch included unpermitted meta keys: [\"colour\"]"
        );
        assert_eq!(check(&config("optional"), b"", &meta(&[("customer", "a"), ("priority", "1")])), Ok(()));
    }
}
