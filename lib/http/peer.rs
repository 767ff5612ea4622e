//! The peer-credential check on Unix connections: the socket's 0600 mode already keeps
//! other users out, but a mode can be loosened by accident (or by a service manager's
//! `SocketMode=`); checking the kernel's record of who connected cannot.

use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

const REFUSAL: &[u8] = b"HTTP/1.1 403 Forbidden\r\ncontent-type: application/json\r\ncontent-length: 59\r\nconnection: close\r\n\r\n{\"error\":\"forbidden\",\"reason\":\"peer uid is not the owner\"}\n";

/// Whether the connecting process runs as our uid. If not, answer 403 and close.
pub(crate) async fn admit(stream: &mut UnixStream) -> bool {
    let me = crate::paths::current_uid();
    match stream.peer_cred() {
        Ok(cred) if cred.uid() == me => true,
        Ok(cred) => {
            tracing::warn!(
                peer_uid = cred.uid(),
                peer_pid = cred.pid().unwrap_or(0),
                "refused a connection from another user"
            );
            // Read the request first (bounded): closing with it unread resets the
            // connection, and the client would see a reset instead of the 403.
            let mut head = [0u8; 8192];
            let _ = tokio::time::timeout(Duration::from_millis(500), stream.read(&mut head)).await;
            let _ = stream.write_all(REFUSAL).await;
            let _ = stream.shutdown().await;
            false
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot read peer credentials; refusing");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn refusal_is_well_formed() {
        let text = std::str::from_utf8(super::REFUSAL).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(body.len(), len);
        serde_json::from_str::<serde_json::Value>(body).unwrap();
    }
}
