//! Agent and status endpoints: `/v1/agent/self|health|members`, `/v1/status/leader|peers`
//! and `/v1/regions`.

use super::response::ApiResponse;
use super::router::ApiContext;
use serde_json::json;

pub async fn handle(ctx: &ApiContext, method: &str, rest: &[&str]) -> ApiResponse {
    match (method, rest) {
        ("GET", ["self"]) => agent_self(ctx),
        ("GET", ["health"]) => health(ctx),
        ("GET", ["members"]) => members(ctx),
        _ => ApiResponse::error(404, format!("no such endpoint: {method} /v1/agent/{}", rest.join("/"))),
    }
}

fn rpc_addr(ctx: &ApiContext) -> String {
    format!("{}:{}", ctx.member.bind_addr, ctx.member.rpc_port)
}

fn member(ctx: &ApiContext) -> serde_json::Value {
    let m = &ctx.member;
    json!({
        "Name": format!("{}.{}", m.name, m.region),
        "Addr": m.bind_addr,
        "Port": m.serf_port,
        "Status": "alive",
        "Tags": {
            "role": "rove",
            "region": m.region,
            "dc": m.datacenter,
            "port": m.rpc_port.to_string(),
            "build": env!("CARGO_PKG_VERSION"),
        },
    })
}

fn agent_self(ctx: &ApiContext) -> ApiResponse {
    let m = &ctx.member;
    let node_id = ctx.client.as_ref().map(|c| c.node_id().to_string()).unwrap_or_default();
    ApiResponse::json(&json!({
        "config": {
            "Region": m.region,
            "Datacenter": m.datacenter,
            "NodeName": m.name,
            "DataDir": m.data_dir,
            "BindAddr": m.bind_addr,
            "Ports": { "HTTP": m.http_port, "RPC": m.rpc_port, "Serf": m.serf_port },
            "Server": { "Enabled": ctx.server.is_some() },
            "Client": { "Enabled": ctx.client.is_some() },
            "Version": { "Version": env!("CARGO_PKG_VERSION") },
        },
        "member": member(ctx),
        "stats": {
            "client": { "node_id": node_id },
            "raft": ctx.server.as_ref().map(|s| {
                let st = s.raft_status();
                json!({
                    "state": if s.is_leader() { "Leader" } else { "Follower" },
                    "term": st.term.to_string(),
                    "commit_index": st.commit_index.to_string(),
                    "applied_index": st.applied_index.to_string(),
                    "last_snapshot_index": st.last_snapshot_index.to_string(),
                })
            }),
        },
    }))
}

fn health(ctx: &ApiContext) -> ApiResponse {
    let mut body = serde_json::Map::new();
    if ctx.client.is_some() {
        body.insert("client".into(), json!({ "ok": true, "message": "ok" }));
    }
    if let Some(server) = &ctx.server {
        let ok = server.raft_status().leader_id != 0;
        let message = if ok { "ok" } else { "no known cluster leader" };
        body.insert("server".into(), json!({ "ok": ok, "message": message }));
        if !ok {
            let mut response = ApiResponse::json(&body);
            response.status = 500;
            return response;
        }
    }
    ApiResponse::json(&body)
}

fn members(ctx: &ApiContext) -> ApiResponse {
    let m = &ctx.member;
    ApiResponse::json(&json!({
        "ServerName": m.name,
        "ServerRegion": m.region,
        "ServerDC": m.datacenter,
        "Members": if ctx.server.is_some() { vec![member(ctx)] } else { Vec::new() },
    }))
}

/// `/v1/status/leader`, `/v1/status/peers` and `/v1/regions`.
pub fn handle_status(ctx: &ApiContext, segments: &[&str]) -> ApiResponse {
    let leader = ctx.server.as_ref().filter(|s| s.raft_status().leader_id != 0).map(|_| rpc_addr(ctx));
    match segments {
        ["status", "leader"] => ApiResponse::json(&leader.unwrap_or_default()),
        ["status", "peers"] => ApiResponse::json(&leader.into_iter().collect::<Vec<_>>()),
        _ => ApiResponse::json(&[&ctx.member.region]),
    }
}
