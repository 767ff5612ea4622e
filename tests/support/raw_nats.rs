//! A raw JetStream client for the mesh tests: publishes, presence entries and stream
//! payloads written and read straight on the broker, past claude-meshd.
#![allow(dead_code)] // each test file uses a different part

use super::nats::Nats;

/// A raw client on the broker, with no mesh key material: what an attacker on the
/// broker can do.
pub struct Raw {
    rt: tokio::runtime::Runtime,
    js: async_nats::jetstream::Context,
}

impl Raw {
    pub fn connect(nats: &Nats) -> Raw {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let js = rt.block_on(async {
            async_nats::jetstream::new(async_nats::connect(nats.url()).await.unwrap())
        });
        Raw { rt, js }
    }

    pub fn put(&self, key: &str, value: Vec<u8>) {
        self.rt.block_on(async {
            let kv = self.js.get_key_value("mesh_team_presence").await.unwrap();
            kv.put(key, value.into()).await.unwrap();
        });
    }

    pub fn delete(&self, key: &str) {
        self.rt.block_on(async {
            let kv = self.js.get_key_value("mesh_team_presence").await.unwrap();
            kv.delete(key).await.unwrap();
        });
    }

    pub fn publish(&self, subject: String, payload: Vec<u8>) {
        self.rt.block_on(async {
            self.js
                .publish(subject, payload.into())
                .await
                .unwrap()
                .await
                .unwrap();
        });
    }

    pub fn stream_payload(&self, seq: u64) -> Vec<u8> {
        self.rt.block_on(async {
            let s = self.js.get_stream("MESH_team").await.unwrap();
            s.get_raw_message(seq).await.unwrap().payload.to_vec()
        })
    }

    /// The payloads of the stream's messages on `subject`, in stream order.
    pub fn payloads(&self, subject: &str) -> Vec<Vec<u8>> {
        self.rt.block_on(async {
            let mut s = self.js.get_stream("MESH_team").await.unwrap();
            let last = s.info().await.unwrap().state.last_sequence;
            let mut out = Vec::new();
            for seq in 1..=last {
                if let Ok(m) = s.get_raw_message(seq).await {
                    if m.subject.as_str() == subject {
                        out.push(m.payload.to_vec());
                    }
                }
            }
            out
        })
    }
}
