//! Interactive sessions (`"kind": "interactive"`): the screen and the attach stream.
//!
//! `GET /v1/sessions/{key}/screen` → [`SessionScreen`].
//!
//! `GET /v1/sessions/{key}/attach` with `Connection: upgrade`, `Upgrade:`
//! [`ATTACH_PROTOCOL`] switches the connection (101) to the session's terminal: the server
//! first sends the whole screen redrawn, then every byte the terminal writes; the client
//! sends [`AttachFrame`]s. `?read_only=true` only watches; otherwise the caller becomes the
//! session's one typist (409 when another person types).

use serde::{Deserialize, Serialize};

/// The `Upgrade` token of the attach stream.
pub const ATTACH_PROTOCOL: &str = "claude-daemons-pty";

/// Byte that starts an input frame: `0x00`, then a big-endian `u32` length, then the bytes.
pub const FRAME_INPUT: u8 = 0;
/// Byte that starts a resize frame: `0x01`, then the new `rows` and `cols` as big-endian `u16`.
pub const FRAME_RESIZE: u8 = 1;

/// What an attached client sends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AttachFrame {
    /// Keys typed, as the terminal sends them.
    Input(Vec<u8>),
    /// The client's terminal changed size.
    Resize {
        /// Rows.
        rows: u16,
        /// Columns.
        cols: u16,
    },
}

/// Largest input frame accepted, in bytes.
pub const MAX_INPUT_FRAME: usize = 1 << 20;

impl AttachFrame {
    /// The frame's bytes on the wire.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            AttachFrame::Input(b) => {
                let mut v = Vec::with_capacity(5 + b.len());
                v.push(FRAME_INPUT);
                v.extend_from_slice(&(b.len() as u32).to_be_bytes());
                v.extend_from_slice(b);
                v
            }
            AttachFrame::Resize { rows, cols } => {
                let mut v = vec![FRAME_RESIZE];
                v.extend_from_slice(&rows.to_be_bytes());
                v.extend_from_slice(&cols.to_be_bytes());
                v
            }
        }
    }

    /// Take one whole frame off the front of `buf`: `Ok(None)` when more bytes are needed,
    /// an error for a frame that is not one.
    pub fn decode(buf: &mut Vec<u8>) -> Result<Option<AttachFrame>, String> {
        let Some(&kind) = buf.first() else {
            return Ok(None);
        };
        match kind {
            FRAME_INPUT => {
                if buf.len() < 5 {
                    return Ok(None);
                }
                let len = u32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]) as usize;
                if len > MAX_INPUT_FRAME {
                    return Err(format!("input frame of {len} bytes is too large"));
                }
                if buf.len() < 5 + len {
                    return Ok(None);
                }
                let bytes = buf[5..5 + len].to_vec();
                buf.drain(..5 + len);
                Ok(Some(AttachFrame::Input(bytes)))
            }
            FRAME_RESIZE => {
                if buf.len() < 5 {
                    return Ok(None);
                }
                let rows = u16::from_be_bytes([buf[1], buf[2]]);
                let cols = u16::from_be_bytes([buf[3], buf[4]]);
                buf.drain(..5);
                Ok(Some(AttachFrame::Resize { rows, cols }))
            }
            other => Err(format!("unknown frame type {other}")),
        }
    }
}

/// `GET /v1/sessions/{key}/screen`: what the session's terminal shows now.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SessionScreen {
    /// The session key.
    pub key: String,
    /// The process drawing it.
    pub pid: u32,
    /// Terminal rows.
    pub rows: u16,
    /// Terminal columns.
    pub cols: u16,
    /// The screen as text, one line per row, trailing blanks trimmed.
    pub text: String,
    /// Clients watching (`claudectl sup attach`).
    pub viewers: usize,
    /// Whether a person is attached as the typist (asks then wait or are refused, as
    /// `[supervisor] attached_asks` says).
    pub typist: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_wait_for_their_bytes() {
        let mut buf = Vec::new();
        for f in [
            AttachFrame::Input(b"hi\r".to_vec()),
            AttachFrame::Resize {
                rows: 50,
                cols: 200,
            },
        ] {
            buf.extend(f.encode());
        }
        let tail = buf.split_off(buf.len() - 2);
        assert_eq!(
            AttachFrame::decode(&mut buf).unwrap(),
            Some(AttachFrame::Input(b"hi\r".to_vec()))
        );
        assert_eq!(AttachFrame::decode(&mut buf).unwrap(), None, "partial");
        buf.extend(tail);
        assert_eq!(
            AttachFrame::decode(&mut buf).unwrap(),
            Some(AttachFrame::Resize {
                rows: 50,
                cols: 200
            })
        );
        assert!(AttachFrame::decode(&mut vec![7]).is_err());
        let mut huge = vec![FRAME_INPUT];
        huge.extend_from_slice(&u32::MAX.to_be_bytes());
        assert!(AttachFrame::decode(&mut huge).is_err());
    }
}
