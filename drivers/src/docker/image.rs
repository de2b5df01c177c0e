//! Getting a task's image onto the engine: loaded from a tarball in the task directory
//! (`load`), else the local copy, else pulled from its registry (always with
//! `force_pull`), with the credentials of an `auth` block; a pull's progress is reported
//! as it goes.

use super::config::{Auth, DockerConfig};
use super::engine::{query, Engine, EngineError, Payload};
use crate::{DriverError, TaskConfig};
use base64::Engine as _;

/// Makes `config.image` available on the engine.
pub async fn ensure(
    engine: &Engine,
    cfg: &TaskConfig,
    config: &DockerConfig,
    progress: &crate::Progress,
) -> Result<(), DriverError> {
    let image = &config.image;
    let unavailable = |source: EngineError| DriverError::Image { image: image.clone(), source };
    if let Some(tarball) = &config.load {
        let path = cfg.task_dir.join(tarball);
        log::info!("docker: loading image {image} from {}", path.display());
        let mut answer = engine
            .stream("POST", "/images/load?quiet=1", &[], Payload::Tar(&path))
            .await
            .map_err(|e| DriverError::Load { path: path.clone(), source: e })?;
        answer
            .messages(|m| {
                if let Some(line) = m.get("stream").and_then(|s| s.as_str()) {
                    log::info!("docker: {}", line.trim());
                }
            })
            .await
            .map_err(|e| DriverError::Load { path: path.clone(), source: e })?;
        return inspect(engine, image).await.map_err(unavailable);
    }
    if !config.force_pull {
        match inspect(engine, image).await {
            Ok(()) => return Ok(()),
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(unavailable(e)),
        }
    }
    progress(&format!("Downloading image {image}"));
    pull(engine, image, config.auth.as_ref(), progress).await.map_err(unavailable)
}

async fn inspect(engine: &Engine, image: &str) -> Result<(), EngineError> {
    engine.call("GET", &format!("/images/{}/json", with_tag(image)), Payload::Empty).await.map(|_| ())
}

async fn pull(
    engine: &Engine,
    image: &str,
    auth: Option<&Auth>,
    progress: &crate::Progress,
) -> Result<(), EngineError> {
    let (repository, tag) = split_reference(image);
    log::info!("docker: pulling image {image}");
    let mut params = vec![("fromImage", repository)];
    if let Some(tag) = tag {
        params.push(("tag", tag));
    }
    let headers: Vec<(&str, String)> = auth.map(|a| ("X-Registry-Auth", registry_auth(a))).into_iter().collect();
    let path = format!("/images/create?{}", query(&params));
    let mut answer = engine.stream("POST", &path, &headers, Payload::Empty).await?;
    let mut last = String::new();
    answer
        .messages(|m| {
            // Per-layer progress ("Downloading", "Extracting") repeats many times: log
            // each status once per layer.
            let status = m.get("status").and_then(|s| s.as_str()).unwrap_or_default();
            let line = match m.get("id").and_then(|i| i.as_str()) {
                Some(id) => format!("{id}: {status}"),
                None => status.to_string(),
            };
            if !status.is_empty() && line != last {
                log::info!("docker: pulling {image}: {line}");
                progress(&format!("Image {image}: {line}"));
                last = line;
            }
        })
        .await?;
    inspect(engine, image).await
}

/// An image reference with the `latest` tag made explicit when it has neither tag nor
/// digest.
fn with_tag(image: &str) -> String {
    match split_reference(image) {
        (repository, None) if !image.contains('@') => format!("{repository}:latest"),
        _ => image.to_string(),
    }
}

/// Splits `repo[:tag]` into the repository and tag; a digest reference stays whole.
fn split_reference(image: &str) -> (&str, Option<&str>) {
    if image.contains('@') {
        return (image, None);
    }
    let name_start = image.rfind('/').map_or(0, |i| i + 1);
    match image[name_start..].rfind(':') {
        Some(i) => (&image[..name_start + i], Some(&image[name_start + i + 1..])),
        None => (image, None),
    }
}

/// The `X-Registry-Auth` header: the credentials as base64url-encoded JSON.
fn registry_auth(auth: &Auth) -> String {
    let json = serde_json::json!({
        "username": auth.username,
        "password": auth.password,
        "serveraddress": auth.server_address,
    });
    base64::engine::general_purpose::URL_SAFE.encode(json.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references() {
        assert_eq!(split_reference("redis"), ("redis", None));
        assert_eq!(split_reference("redis:7"), ("redis", Some("7")));
        assert_eq!(split_reference("reg:5000/team/app"), ("reg:5000/team/app", None));
        assert_eq!(split_reference("reg:5000/team/app:v1"), ("reg:5000/team/app", Some("v1")));
        assert_eq!(with_tag("reg:5000/app"), "reg:5000/app:latest");
        assert_eq!(with_tag("app@sha256:abc"), "app@sha256:abc");
        let auth = Auth { username: "u".into(), password: "p".into(), server_address: "r".into() };
        let decoded = base64::engine::general_purpose::URL_SAFE.decode(registry_auth(&auth)).unwrap();
        let decoded: serde_json::Value = serde_json::from_slice(&decoded).unwrap();
        assert_eq!(decoded, serde_json::json!({ "username": "u", "password": "p", "serveraddress": "r" }));
    }
}
