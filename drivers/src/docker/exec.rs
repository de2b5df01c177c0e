//! Commands run in a running container (`alloc exec`): the engine's exec API, its
//! multiplexed output split into stdout and stderr, within the request's timeout.

use super::engine::{Engine, EngineError, Payload};
use super::logs::Demux;
use crate::{DriverError, ExecOutput, ExecRequest};
use serde_json::json;

pub async fn run(engine: &Engine, container: &str, request: &ExecRequest) -> Result<ExecOutput, DriverError> {
    let work = async {
        let env: Vec<String> = request.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let spec = json!({ "AttachStdout": true, "AttachStderr": true, "Cmd": request.cmd, "Env": env });
        let created = engine.call("POST", &format!("/containers/{container}/exec"), Payload::Json(&spec)).await?;
        let id = created["Id"].as_str().unwrap_or_default().to_string();
        let start = json!({ "Detach": false, "Tty": false });
        let mut answer = engine.stream("POST", &format!("/exec/{id}/start"), &[], Payload::Json(&start)).await?;
        let mut output = ExecOutput::default();
        let mut frames = Demux::default();
        while let Some(chunk) = answer.chunk().await? {
            frames.push(&chunk, |stream, data| {
                let sink = if stream == 2 { &mut output.stderr } else { &mut output.stdout };
                sink.extend_from_slice(data);
            });
        }
        let inspect = engine.call("GET", &format!("/exec/{id}/json"), Payload::Empty).await?;
        output.exit_code = inspect["ExitCode"].as_i64().unwrap_or(-1) as i32;
        Ok::<_, EngineError>(output)
    };
    let expired = async {
        smol::Timer::after(request.timeout).await;
        Err(DriverError::Exec(format!("{:?} did not finish within {:?}", request.cmd, request.timeout)))
    };
    smol::future::or(async { work.await.map_err(DriverError::Docker) }, expired).await
}
