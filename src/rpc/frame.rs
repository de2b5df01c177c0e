//! Frames: a 4-byte big-endian length, then that many bytes of JSON.

use smol::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The largest frame accepted, sized so a whole Raft snapshot fits in one message.
pub const MAX_FRAME_BYTES: usize = 256 << 20;

#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("frame of {0} bytes exceeds the {MAX_FRAME_BYTES} byte limit")]
    TooLarge(usize),
    #[error("connection: {0}")]
    Io(#[from] std::io::Error),
}

pub async fn write_frame<W: AsyncWrite + Unpin>(writer: &mut W, payload: &[u8]) -> Result<(), FrameError> {
    if payload.len() > MAX_FRAME_BYTES {
        return Err(FrameError::TooLarge(payload.len()));
    }
    writer.write_all(&(payload.len() as u32).to_be_bytes()).await?;
    writer.write_all(payload).await?;
    writer.flush().await?;
    Ok(())
}

/// Reads one frame; `None` when the peer closed the connection between frames.
pub async fn read_frame<R: AsyncRead + Unpin>(reader: &mut R) -> Result<Option<Vec<u8>>, FrameError> {
    let mut len = [0u8; 4];
    match reader.read_exact(&mut len).await {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_FRAME_BYTES {
        return Err(FrameError::TooLarge(len));
    }
    let mut payload = vec![0u8; len];
    reader.read_exact(&mut payload).await?;
    Ok(Some(payload))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_oversized_lengths_are_refused() {
        smol::block_on(async {
            let mut buf = Vec::new();
            write_frame(&mut buf, b"hello").await.unwrap();
            write_frame(&mut buf, b"").await.unwrap();
            let mut reader = &buf[..];
            assert_eq!(read_frame(&mut reader).await.unwrap().unwrap(), b"hello");
            assert_eq!(read_frame(&mut reader).await.unwrap().unwrap(), b"");
            assert!(read_frame(&mut reader).await.unwrap().is_none());

            let huge = ((MAX_FRAME_BYTES + 1) as u32).to_be_bytes();
            let mut reader = &huge[..];
            assert!(matches!(read_frame(&mut reader).await, Err(FrameError::TooLarge(_))));
        });
    }
}
