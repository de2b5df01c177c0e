//! Agent and status endpoints: `/v1/agent/self|health|members`, `/v1/status/leader|peers`
//! and `/v1/regions`.

use super::response::ApiResponse;
use super::router::ApiContext;
use serde_json::json;

pub async fn handle(ctx: &ApiContext, method: &str, rest: &[&str]) -> ApiResponse {
    match (method, rest) {
        ("GET", ["self"]) => agent_self(ctx),
        ("GET", ["health"]) => health(ctx),
        ("GET", ["members"]) => members(ctx).await,
        _ => ApiResponse::error(404, format!("no such endpoint: {method} /v1/agent/{}", rest.join("/"))),
    }
}

/// A server as `/v1/agent/members` lists it: `Port` and the `port` tag are its RPC port
/// (rove has no separate gossip port yet).
fn member_json(name: &str, addr: &str, status: &str, region: &str, dc: &str, id: u64) -> serde_json::Value {
    let (host, port) = addr.rsplit_once(':').unwrap_or((addr, ""));
    json!({
        "Name": format!("{name}.{region}"),
        "Addr": host,
        "Port": port.parse::<u16>().unwrap_or(0),
        "Status": status,
        "Tags": {
            "role": "rove",
            "region": region,
            "dc": dc,
            "port": port,
            "id": format!("{id:x}"),
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
        "member": ctx.server.as_ref().map(|s| {
            let me = s.hello();
            member_json(&me.peer.name, &me.peer.addr, "alive", &me.region, &me.datacenter, me.id)
        }),
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

async fn members(ctx: &ApiContext) -> ApiResponse {
    let m = &ctx.member;
    let mut members = Vec::new();
    if let Some(server) = &ctx.server {
        for member in server.members().await {
            let json = match &member.alive {
                Some(h) => member_json(&h.peer.name, &h.peer.addr, "alive", &h.region, &h.datacenter, member.id),
                None => member_json(&member.peer.name, &member.peer.addr, "failed", &m.region, "", member.id),
            };
            members.push(json);
        }
    }
    ApiResponse::json(&json!({
        "ServerName": m.name,
        "ServerRegion": m.region,
        "ServerDC": m.datacenter,
        "Members": members,
    }))
}

/// `/v1/status/leader` (the leader's RPC address, empty when none is known),
/// `/v1/status/peers` (the voters' RPC addresses) and `/v1/regions`.
pub fn handle_status(ctx: &ApiContext, segments: &[&str]) -> ApiResponse {
    let Some(server) = &ctx.server else {
        return match segments {
            ["status", "leader"] => ApiResponse::json(&""),
            ["status", "peers"] => ApiResponse::json(&Vec::<String>::new()),
            _ => ApiResponse::json(&[&ctx.member.region]),
        };
    };
    let status = server.raft_status();
    let peers = server.peers();
    let addr_of = |id: &u64| peers.get(id).map(|p| p.addr.clone()).unwrap_or_default();
    match segments {
        ["status", "leader"] => {
            ApiResponse::json(&Some(status.leader_id).filter(|id| *id != 0).map(|id| addr_of(&id)).unwrap_or_default())
        }
        ["status", "peers"] => ApiResponse::json(&status.voters.iter().map(addr_of).collect::<Vec<_>>()),
        _ => ApiResponse::json(&[&ctx.member.region]),
    }
}
