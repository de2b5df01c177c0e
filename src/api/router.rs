//! Routing: maps a method and path to its handler, forwarding server endpoints to a server
//! when this agent has none, and to the leader when this server is not it (unless a read
//! asks for `?stale`).

use super::response::ApiResponse;
use super::{agent, client_alloc, client_fs, jobs, node_pools, operator, reads};
use crate::client::Client;
use crate::rpc::{Request, Response, RpcClient};
use crate::server::cluster::LeaderRoute;
use crate::server::Server;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// An HTTP request reduced to what the handlers need.
#[derive(Debug, Clone)]
pub struct ApiRequest {
    pub method: String,
    pub path: String,
    pub query: BTreeMap<String, String>,
    pub body: Vec<u8>,
}

impl ApiRequest {
    pub fn path_and_query(&self) -> String {
        if self.query.is_empty() {
            return self.path.clone();
        }
        let query: Vec<String> = self.query.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect();
        format!("{}?{}", self.path, query.join("&"))
    }

    /// Splits `path?query`, percent-decoding the query. The path stays encoded: a segment
    /// may hold an encoded `/` (a dispatched or periodic job's ID); see [`segments`].
    pub fn parse(method: &str, path_and_query: &str, body: Vec<u8>) -> ApiRequest {
        let (path, query) = path_and_query.split_once('?').unwrap_or((path_and_query, ""));
        let query = query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|pair| {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                (decode(k), decode(v))
            })
            .collect();
        ApiRequest { method: method.to_string(), path: path.to_string(), query, body }
    }
}

/// The path's segments, each percent-decoded on its own.
fn segments(path: &str) -> Vec<String> {
    path.trim_matches('/').split('/').map(decode).collect()
}

/// Percent-encodes a path segment or query value.
pub fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What `/v1/agent/*` reports about this agent.
#[derive(Debug, Clone)]
pub struct MemberInfo {
    pub name: String,
    pub region: String,
    pub datacenter: String,
    pub bind_addr: String,
    pub http_port: u16,
    pub rpc_port: u16,
    pub serf_port: u16,
    pub data_dir: String,
}

/// Everything a handler may use.
pub struct ApiContext {
    pub server: Option<Arc<Server>>,
    pub client: Option<Arc<Client>>,
    /// Servers to forward server endpoints to when this agent is not one.
    pub servers: RpcClient,
    pub member: MemberInfo,
}

/// Answers a request; `from_server` marks one another server forwarded here as the leader.
pub async fn route(ctx: &ApiContext, req: ApiRequest, from_server: bool) -> ApiResponse {
    let decoded = segments(&req.path);
    let segments: Vec<&str> = decoded.iter().map(String::as_str).collect();
    let method = req.method.as_str();
    match segments.as_slice() {
        ["v1", "agent", rest @ ..] => agent::handle(ctx, method, rest).await,
        ["v1", "client", "allocation", alloc_id, "stats"] if method == "GET" => {
            client_alloc::alloc_stats(ctx, alloc_id).await
        }
        ["v1", "client", "allocation", alloc_id, "signal"] if method == "PUT" || method == "POST" => {
            client_alloc::alloc_signal(ctx, alloc_id, &req.body).await
        }
        ["v1", "client", "allocation", alloc_id, "restart"] if method == "PUT" || method == "POST" => {
            client_alloc::alloc_restart(ctx, alloc_id, &req.body).await
        }
        ["v1", "client", "allocation", alloc_id, "exec"] if method == "PUT" || method == "POST" => {
            client_alloc::alloc_exec(ctx, alloc_id, &req.body).await
        }
        ["v1", "client", "fs", op, alloc_id] if method == "GET" => client_fs::handle(ctx, op, alloc_id, &req).await,
        ["v1", "status", "leader" | "peers"] | ["v1", "regions"] => agent::handle_status(ctx, &segments[1..]),
        _ => match &ctx.server {
            Some(server) if method == "GET" && super::query::flag(&req.query, "stale") => {
                with_leader_headers(server, server_route(server, method, &segments, &req).await)
            }
            Some(server) if from_server && !server.is_leader() => {
                ApiResponse::error(500, "this server is no longer the leader; retry")
            }
            Some(server) => match server.leader_route().await {
                Ok(LeaderRoute::Here) => {
                    // A consistent read: only once the leader confirmed it still leads.
                    if method == "GET" {
                        if let Err(e) = server.read_barrier().await {
                            return ApiResponse::from(e);
                        }
                    }
                    with_leader_headers(server, server_route(server, method, &segments, &req).await)
                }
                Ok(LeaderRoute::At(leader)) => forward(&RpcClient::new(vec![leader]), req, true).await,
                Err(e) => ApiResponse::error(500, e.to_string()),
            },
            None => forward(&ctx.servers, req, false).await,
        },
    }
}

/// Nomad's `X-Nomad-KnownLeader` and `X-Nomad-LastContact` (milliseconds since this server
/// last heard from the leader; 0 on the leader).
fn with_leader_headers(server: &Server, mut response: ApiResponse) -> ApiResponse {
    let status = server.raft_status();
    let last_contact = if server.is_leader() {
        0
    } else {
        status.last_leader_contact.map_or(u128::from(u32::MAX), |at| at.elapsed().as_millis())
    };
    response.headers.push(("X-Nomad-KnownLeader".into(), (status.leader_id != 0).to_string()));
    response.headers.push(("X-Nomad-LastContact".into(), last_contact.to_string()));
    response
}

async fn server_route(server: &Server, method: &str, segments: &[&str], req: &ApiRequest) -> ApiResponse {
    let query = match super::query::parse(&req.query) {
        Ok(q) => q,
        Err(e) => return ApiResponse::error(400, e),
    };
    match (method, segments) {
        ("GET", ["v1", "jobs"]) => reads::jobs(server, &query).await,
        ("PUT" | "POST", ["v1", "jobs"]) => jobs::register(server, &req.body, None).await,
        ("PUT" | "POST", ["v1", "jobs", "parse"]) => jobs::parse(&req.body),
        ("PUT" | "POST", ["v1", "validate", "job"]) => jobs::validate(&req.body),
        ("GET", ["v1", "job", id]) => reads::job(server, &query, id).await,
        ("PUT" | "POST", ["v1", "job", id]) => jobs::register(server, &req.body, Some(id)).await,
        ("PUT" | "POST", ["v1", "job", id, "periodic", "force"]) => {
            jobs::force_periodic(server, &query.namespace, id).await
        }
        ("PUT" | "POST", ["v1", "job", id, "plan"]) => jobs::plan(server, &req.body, id).await,
        ("PUT" | "POST", ["v1", "job", id, "dispatch"]) => {
            jobs::dispatch(server, &query.namespace, id, &req.body).await
        }
        ("DELETE", ["v1", "job", id]) => jobs::deregister(server, &query.namespace, id, &req.query).await,
        ("GET", ["v1", "job", id, "allocations"]) => reads::job_allocations(server, &query, id).await,
        ("GET", ["v1", "job", id, "evaluations"]) => reads::job_evaluations(server, &query, id).await,
        ("GET", ["v1", "job", id, "summary"]) => reads::job_summary(server, &query, id).await,
        ("GET", ["v1", "allocations"]) => reads::allocations(server, &query).await,
        ("GET", ["v1", "allocation", id]) => reads::allocation(server, &query, id).await,
        ("PUT" | "POST", ["v1", "allocation", id, "stop"]) => jobs::stop_alloc(server, id).await,
        ("GET", ["v1", "evaluations"]) => reads::evaluations(server, &query).await,
        ("GET", ["v1", "evaluation", id]) => reads::evaluation(server, &query, id).await,
        ("GET", ["v1", "nodes"]) => reads::nodes(server, &query).await,
        ("GET", ["v1", "node", "pools"]) => node_pools::list(server, &query).await,
        ("PUT" | "POST", ["v1", "node", "pools"]) => node_pools::upsert(server, &req.body).await,
        ("GET", ["v1", "node", "pool", name]) => node_pools::get(server, &query, name).await,
        ("DELETE", ["v1", "node", "pool", name]) => node_pools::delete(server, name).await,
        ("GET", ["v1", "node", "pool", name, "nodes"]) => node_pools::nodes(server, &query, name).await,
        ("GET", ["v1", "node", "pool", name, "jobs"]) => node_pools::jobs(server, &query, name).await,
        ("GET", ["v1", "node", id]) => reads::node(server, &query, id).await,
        ("GET", ["v1", "operator", "raft", "configuration"]) => operator::raft_configuration(server),
        ("DELETE", ["v1", "operator", "raft", "peer"]) => operator::remove_raft_peer(server, &req.query).await,
        ("GET", ["v1", "operator", "snapshot"]) => operator::save_snapshot(server),
        ("PUT" | "POST", ["v1", "operator", "snapshot"]) => operator::restore_snapshot(server, &req.body).await,
        ("GET", ["v1", "operator", "scheduler", "configuration"]) => operator::scheduler_config(server),
        ("PUT" | "POST", ["v1", "operator", "scheduler", "configuration"]) => {
            operator::set_scheduler_config(server, &req.body, &req.query).await
        }
        (_, ["v1", ..]) => ApiResponse::error(404, format!("no such endpoint: {method} {}", req.path)),
        _ => ApiResponse::error(404, format!("no such path: {}", req.path)),
    }
}

/// Runs a server endpoint on another agent: a server, for an agent that is only a client,
/// or the leader, for a server that is not.
async fn forward(servers: &RpcClient, req: ApiRequest, from_server: bool) -> ApiResponse {
    let request = Request::HttpForward {
        method: req.method.clone(),
        path_and_query: req.path_and_query(),
        body: req.body,
        from_server,
    };
    // Long enough for the longest blocking query.
    match servers.call(&request, Duration::from_secs(660)).await {
        Ok(Response::Http { status, headers, body }) => ApiResponse { status, headers, body, stream: None },
        Ok(_) => ApiResponse::error(500, "unexpected answer from server"),
        Err(e) => ApiResponse::error(500, format!("forwarding to a server: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::{segments, ApiRequest};

    #[test]
    fn an_encoded_slash_stays_inside_its_segment() {
        let req = ApiRequest::parse("PUT", "/v1/job/backup%2Fperiodic-1795608000/dispatch", Vec::new());
        assert_eq!(segments(&req.path), ["v1", "job", "backup/periodic-1795608000", "dispatch"]);
    }

    #[test]
    fn query_strings_are_decoded_and_re_encoded() {
        let req = ApiRequest::parse("GET", "/v1/jobs?prefix=web%20app&index=5&stale", Vec::new());
        assert_eq!(req.path, "/v1/jobs");
        assert_eq!(req.query["prefix"], "web app");
        assert_eq!(req.query["index"], "5");
        assert_eq!(req.query["stale"], "");
        let again = ApiRequest::parse("GET", &req.path_and_query(), Vec::new());
        assert_eq!(again.query, req.query);
    }
}
