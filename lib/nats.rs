//! What claude-meshd and claude-supervisord both need of a NATS JetStream broker.

use async_nats::jetstream::{self, kv, stream};
use std::time::Duration;

/// Why a bucket could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("bucket {bucket}: {message}")]
pub struct BucketError {
    /// The bucket.
    pub bucket: String,
    /// What the broker said.
    pub message: String,
}

/// Open the key-value bucket `name` (one value per key, entries older than `max_age`
/// dropped; zero keeps them), creating it if needed.
///
/// The one place that knows about the nats-server 2.9 work-around: async-nats'
/// `create_key_value` reads account info in a shape 2.9.10 does not send, so when it fails
/// the bucket's backing stream is created directly (the layout KV clients expect) and bound
/// to. Newer servers take the normal path.
pub async fn open_kv_bucket(
    js: &jetstream::Context,
    name: &str,
    max_age: Duration,
) -> Result<kv::Store, BucketError> {
    if let Ok(store) = js.get_key_value(name).await {
        return Ok(store);
    }
    let err = |e: &dyn std::fmt::Display| BucketError {
        bucket: name.into(),
        message: e.to_string(),
    };
    let normal = js
        .create_key_value(kv::Config {
            bucket: name.into(),
            history: 1,
            max_age,
            ..Default::default()
        })
        .await;
    match normal {
        Ok(store) => Ok(store),
        Err(e) => {
            tracing::debug!(error = %e, "create_key_value failed; creating the KV stream directly");
            js.get_or_create_stream(stream::Config {
                name: format!("KV_{name}"),
                subjects: vec![format!("$KV.{name}.>")],
                max_messages_per_subject: 1,
                max_age,
                allow_rollup: true,
                deny_delete: true,
                allow_direct: true,
                discard: stream::DiscardPolicy::New,
                ..Default::default()
            })
            .await
            .map_err(|e| err(&e))?;
            js.get_key_value(name).await.map_err(|e| err(&e))
        }
    }
}

/// The wait before reconnect attempt `attempt`: 100 ms doubling to 5 s.
pub fn reconnect_delay(attempt: usize) -> Duration {
    Duration::from_millis((100u64 << attempt.min(6)).min(5_000))
}
