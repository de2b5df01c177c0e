//! The agent: one process that is a server, a client or both. It binds the HTTP API and
//! RPC listeners, starts the server and client, and shuts them down cleanly on SIGINT or
//! SIGTERM.

use crate::api::{ApiContext, MemberInfo};
use crate::client::{Client, ClientConfig};
use crate::config::AgentConfig;
use crate::rpc::{Request, Response, RpcClient};
use crate::server::{Server, ServerConfig};
use anyhow::{bail, Context};
use std::sync::Arc;
use std::time::Duration;

/// Runs the agent until it is told to stop.
pub fn run(config: AgentConfig, dev: bool) -> anyhow::Result<()> {
    let (data_dir, temporary) = match &config.data_dir {
        Some(dir) => (dir.clone(), false),
        None if dev => (std::env::temp_dir().join(format!("rove-dev-{}", crate::structs::generate_id())), true),
        None => bail!("a data dir is required: set data_dir in the config or pass -data-dir (or use -dev)"),
    };
    if config.server.enabled && config.server.bootstrap_expect > 1 && config.server.retry_join.is_empty() {
        bail!(
            "server.bootstrap_expect = {} needs the other servers' addresses: set server_join {{ retry_join = [...] }}",
            config.server.bootstrap_expect
        );
    }
    if !config.server.enabled && !config.client.enabled {
        bail!("neither server nor client is enabled; enable at least one");
    }
    std::fs::create_dir_all(&data_dir).with_context(|| format!("creating data dir {}", data_dir.display()))?;
    let result = smol::block_on(serve(&config, &data_dir));
    if temporary {
        let _ = std::fs::remove_dir_all(&data_dir);
    }
    result
}

async fn serve(config: &AgentConfig, data_dir: &std::path::Path) -> anyhow::Result<()> {
    let http_addr = format!("{}:{}", config.bind_addr, config.ports.http);
    let rpc_addr = format!("{}:{}", config.bind_addr, config.ports.rpc);
    let http = smol::net::TcpListener::bind(&http_addr)
        .await
        .with_context(|| format!("binding the HTTP API to {http_addr}"))?;
    let rpc = smol::net::TcpListener::bind(&rpc_addr).await.with_context(|| format!("binding RPC to {rpc_addr}"))?;

    log::info!(target: "agent", "starting rove agent {} (region {}, datacenter {})", config.name, config.region, config.datacenter);
    log::info!(target: "agent", "data dir {}; HTTP {http_addr}; RPC {rpc_addr}", data_dir.display());
    let advertise = match &config.advertise_rpc {
        Some(addr) => addr.clone(),
        None if ["0.0.0.0", "::", "[::]"].contains(&config.bind_addr.as_str())
            && config.server.bootstrap_expect > 1 =>
        {
            bail!(
                "bind_addr {} is not an address other servers can reach: set advertise {{ rpc = \"host:port\" }}",
                config.bind_addr
            )
        }
        None => rpc_addr.clone(),
    };
    let server = if config.server.enabled {
        let server_config = ServerConfig {
            region: config.region.clone(),
            datacenter: config.datacenter.clone(),
            heartbeat_ttl: config.server.min_heartbeat_ttl,
            heartbeat_grace: config.server.heartbeat_grace,
            advertise: advertise.clone(),
            // A server told of no other servers is a cluster of its own.
            bootstrap_expect: match (config.server.bootstrap_expect, config.server.retry_join.is_empty()) {
                (0, true) => 1,
                (expect, _) => expect,
            },
            retry_join: config.server.retry_join.clone(),
            retry_interval: config.server.retry_interval,
            raft_multiplier: config.server.raft_multiplier,
            raft_snapshot_threshold: config.server.raft_snapshot_threshold,
            ..ServerConfig::single(data_dir.join("server"), &config.name)
        };
        Some(Server::start(server_config).context("starting the server")?)
    } else {
        None
    };
    let servers = if config.client.servers.is_empty() && server.is_some() {
        vec![advertise.clone()]
    } else {
        config.client.servers.clone()
    };
    if config.client.enabled && servers.is_empty() {
        bail!("client.servers is empty: a client-only agent needs at least one server address");
    }
    let client = if config.client.enabled {
        let client_config = ClientConfig {
            data_dir: data_dir.join("client"),
            node_name: config.name.clone(),
            datacenter: config.datacenter.clone(),
            region: config.region.clone(),
            node_class: config.client.node_class.clone(),
            node_pool: config.client.node_pool.clone(),
            meta: config.client.meta.clone(),
            servers: servers.clone(),
            raw_exec_enabled: config.raw_exec_enabled(),
            chroot_env: config.client.chroot_env.as_ref().map_or_else(rove_drivers::ChrootEnv::default, |entries| {
                rove_drivers::ChrootEnv::new(entries.iter().map(|(host, inside)| (host.into(), inside.into())))
            }),
            docker: config.docker_options(),
            http_addr: http_addr.clone(),
            host_volumes: config.client.host_volumes.clone(),
            gc: config.client.gc,
            drain_on_shutdown: config.client.drain_on_shutdown,
        };
        Some(Client::start(client_config).context("starting the client")?)
    } else {
        None
    };
    let ctx = Arc::new(ApiContext {
        server: server.clone(),
        client: client.clone(),
        servers: RpcClient::new(servers),
        member: MemberInfo {
            name: config.name.clone(),
            region: config.region.clone(),
            datacenter: config.datacenter.clone(),
            bind_addr: config.bind_addr.clone(),
            http_port: config.ports.http,
            rpc_port: config.ports.rpc,
            serf_port: config.ports.serf,
            data_dir: data_dir.display().to_string(),
        },
    });
    let http_task = smol::spawn(crate::api::serve(http, ctx.clone()));
    let raft_streams = server.clone().map(|server| -> crate::rpc::server::StreamHandler {
        Arc::new(move |stream| {
            let server = server.clone();
            Box::pin(async move { server.receive_raft(stream).await })
        })
    });
    let rpc_task = smol::spawn(crate::rpc::serve(rpc, rpc_handler(ctx), raft_streams));
    log::info!(target: "agent", "rove agent started");

    let signal = wait_for_signal().await?;
    log::info!(target: "agent", "caught signal: {signal}; gracefully shutting down");
    drop(http_task);
    if let Some(client) = &client {
        client.shutdown().await;
    }
    drop(rpc_task);
    if let Some(server) = &server {
        server.shutdown();
    }
    log::info!(target: "agent", "shutdown complete");
    Ok(())
}

fn rpc_handler(ctx: Arc<ApiContext>) -> crate::rpc::server::Handler {
    Arc::new(move |request: Request| {
        let ctx = ctx.clone();
        Box::pin(async move {
            match (request, &ctx.server) {
                (Request::HttpForward { method, path_and_query, body, from_server }, Some(_)) => {
                    let request = crate::api::ApiRequest::parse(&method, &path_and_query, body);
                    let response = crate::api::route(&ctx, request, from_server).await;
                    Response::Http { status: response.status, headers: response.headers, body: response.body }
                }
                (request, Some(server)) => server.handle_rpc(request).await,
                (_, None) => Response::refusal("this agent is not a server"),
            }
        })
    })
}

async fn wait_for_signal() -> anyhow::Result<&'static str> {
    use async_signal::{Signal, Signals};
    use smol::stream::StreamExt;
    let mut signals = Signals::new([Signal::Int, Signal::Term]).context("installing signal handlers")?;
    loop {
        match signals.next().await {
            Some(Ok(Signal::Int)) => return Ok("interrupt"),
            Some(Ok(Signal::Term)) => return Ok("terminated"),
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(e).context("waiting for signals"),
            None => {
                smol::Timer::after(Duration::from_secs(1)).await;
            }
        }
    }
}
