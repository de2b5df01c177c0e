//! Raft messages between servers over the RPC port. A connection to a peer opens with the
//! Raft preface byte and a hello frame naming the sender, then carries one protobuf-encoded
//! message per frame, one way. Sending never blocks the Raft thread: each peer has a
//! bounded queue drained by its own task, and what could not be delivered is reported back
//! so raft-rs probes the peer again (or retries a snapshot).

use super::storage::Peer;
use crate::rpc::{read_frame, write_frame, FrameError, PREFACE_RAFT};
use protobuf::Message as _;
use raft::eraftpb::{Message, MessageType};
use serde::{Deserialize, Serialize};
use smol::io::AsyncWriteExt;
use smol::net::TcpStream;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// Messages queued for one peer before new ones are dropped; Raft resends what is lost.
const QUEUE_LEN: usize = 4096;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long one message may take to write; a whole snapshot gets longer.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
const SNAPSHOT_WRITE_TIMEOUT: Duration = Duration::from_secs(120);

/// The first frame on a Raft connection.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Hello {
    pub id: u64,
    pub peer: Peer,
}

/// What the transport tells the Raft thread about deliveries.
#[derive(Debug)]
pub enum Delivery {
    /// A message to this peer could not be delivered.
    Unreachable(u64),
    /// A snapshot was (or was not) delivered to this peer.
    Snapshot { to: u64, delivered: bool },
}

/// The servers' addresses by Raft id, shared by the Raft thread, the transport and the
/// server (which forwards requests to the leader's address).
pub type PeerBook = Arc<RwLock<BTreeMap<u64, Peer>>>;

pub struct RpcTransport {
    hello: Arc<Vec<u8>>,
    book: PeerBook,
    queues: HashMap<u64, smol::channel::Sender<Message>>,
    report: Arc<dyn Fn(Delivery) + Send + Sync>,
}

impl RpcTransport {
    pub fn new(hello: &Hello, book: PeerBook, report: Arc<dyn Fn(Delivery) + Send + Sync>) -> RpcTransport {
        let hello = Arc::new(serde_json::to_vec(hello).expect("hello encodes"));
        RpcTransport { hello, book, queues: HashMap::new(), report }
    }

    /// Queues each message for its peer, starting the peer's sender on first use.
    pub fn send(&mut self, messages: Vec<Message>) {
        for message in messages {
            let to = message.to;
            let queue = self.queues.entry(to).or_insert_with(|| {
                let (tx, rx) = smol::channel::bounded(QUEUE_LEN);
                smol::spawn(deliver(to, rx, self.book.clone(), self.hello.clone(), self.report.clone())).detach();
                tx
            });
            let snapshot = message.get_msg_type() == MessageType::MsgSnapshot;
            if queue.try_send(message).is_err() {
                (self.report)(Delivery::Unreachable(to));
                if snapshot {
                    (self.report)(Delivery::Snapshot { to, delivered: false });
                }
            }
        }
    }
}

/// Sends one peer's messages in order over one connection, reconnecting after a failure.
async fn deliver(
    to: u64,
    queue: smol::channel::Receiver<Message>,
    book: PeerBook,
    hello: Arc<Vec<u8>>,
    report: Arc<dyn Fn(Delivery) + Send + Sync>,
) {
    let mut conn: Option<TcpStream> = None;
    while let Ok(message) = queue.recv().await {
        let snapshot = message.get_msg_type() == MessageType::MsgSnapshot;
        let limit = if snapshot { SNAPSHOT_WRITE_TIMEOUT } else { WRITE_TIMEOUT };
        let addr = book.read().expect("peer book lock poisoned").get(&to).map(|p| p.addr.clone());
        let result = match addr {
            Some(addr) => within(limit, send_one(&mut conn, &addr, &hello, &message)).await,
            None => Err(std::io::Error::new(std::io::ErrorKind::NotFound, "no address known").into()),
        };
        if let Err(e) = &result {
            log::debug!(target: "raft", "message to server {to:x} not delivered: {e}");
            conn = None;
            report(Delivery::Unreachable(to));
        }
        if snapshot {
            report(Delivery::Snapshot { to, delivered: result.is_ok() });
        }
    }
}

async fn send_one(conn: &mut Option<TcpStream>, addr: &str, hello: &[u8], message: &Message) -> Result<(), FrameError> {
    if conn.is_none() {
        let mut stream = within(CONNECT_TIMEOUT, async { Ok(TcpStream::connect(addr).await?) }).await?;
        stream.set_nodelay(true)?;
        stream.write_all(&[PREFACE_RAFT]).await?;
        write_frame(&mut stream, hello).await?;
        *conn = Some(stream);
    }
    let stream = conn.as_mut().expect("connected above");
    write_frame(stream, &message.write_to_bytes().expect("raft messages encode")).await
}

async fn within<T>(
    limit: Duration,
    work: impl std::future::Future<Output = Result<T, FrameError>>,
) -> Result<T, FrameError> {
    let expired = async {
        smol::Timer::after(limit).await;
        Err(std::io::Error::new(std::io::ErrorKind::TimedOut, format!("no progress within {limit:?}")).into())
    };
    smol::future::or(work, expired).await
}

/// Reads a Raft connection (after its preface byte): the hello, then messages, each handed
/// to `step`. Messages claiming another sender than the hello's are dropped.
pub async fn receive(mut stream: TcpStream, learn: impl Fn(&Hello), step: impl Fn(Message)) -> Result<(), FrameError> {
    let Some(frame) = read_frame(&mut stream).await? else { return Ok(()) };
    let hello: Hello = serde_json::from_slice(&frame)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, format!("raft hello: {e}")))?;
    learn(&hello);
    while let Some(frame) = read_frame(&mut stream).await? {
        match Message::parse_from_bytes(&frame) {
            Ok(message) if message.from == hello.id => step(message),
            Ok(message) => {
                log::warn!(target: "raft", "dropping a message from {:x} on server {:x}'s connection", message.from, hello.id)
            }
            Err(e) => {
                return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, format!("raft message: {e}")).into())
            }
        }
    }
    Ok(())
}
