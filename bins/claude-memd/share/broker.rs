//! The team's stream on NATS JetStream: `MEMORY_<team>`, subjects `memory.<team>.>` (one
//! subject per project, see [`super::crypto::subject`]), kept for `[memory.share]`
//! `max_age_days` and at most `max_mb`; and this member's durable consumer of it.

use async_nats::jetstream::{self, consumer, stream};
use std::time::Duration;

/// The JetStream duplicate window: a publish retried within it is stored once.
const DUPLICATE_WINDOW: Duration = Duration::from_secs(120);

/// Largest message the stream takes; a record over it (or over the server's max payload)
/// is refused for good, not retried.
pub const MAX_MESSAGE: i32 = 1 << 20;

/// A connection (reconnecting by itself) and the team's names.
pub struct Broker {
    /// The client.
    pub client: async_nats::Client,
    /// JetStream.
    pub js: jetstream::Context,
    /// The team.
    pub team: String,
    max_age: Duration,
    max_bytes: i64,
}

/// The wait before retry `attempt`: 100 ms doubling to 5 s.
pub fn backoff(attempt: u32) -> Duration {
    Duration::from_millis((100u64 << attempt.min(6)).min(5_000))
}

impl Broker {
    /// Connect to `url` (in the background: a broker that is down is retried forever).
    pub async fn connect(
        url: &str,
        team: &str,
        member: &str,
        max_age_days: u64,
        max_mb: u64,
    ) -> anyhow::Result<Broker> {
        let client = async_nats::ConnectOptions::new()
            .name(format!("claude-memd {}", &member[..16]))
            .retry_on_initial_connect()
            .max_reconnects(None)
            .connection_timeout(Duration::from_secs(5))
            .reconnect_delay_callback(|n| backoff(n as u32))
            .connect(url)
            .await?;
        let js = jetstream::new(client.clone());
        Ok(Broker {
            client,
            js,
            team: team.to_string(),
            max_age: Duration::from_secs(max_age_days * 86_400),
            max_bytes: (max_mb as i64).saturating_mul(1 << 20),
        })
    }

    /// Whether the connection is up.
    pub fn connected(&self) -> bool {
        self.client.connection_state() == async_nats::connection::State::Connected
    }

    /// The stream's name.
    pub fn stream_name(&self) -> String {
        format!("MEMORY_{}", self.team)
    }

    /// Create the stream if it does not exist.
    pub async fn stream(&self) -> anyhow::Result<stream::Stream> {
        self.js
            .get_or_create_stream(stream::Config {
                name: self.stream_name(),
                subjects: vec![format!("memory.{}.>", self.team)],
                duplicate_window: DUPLICATE_WINDOW,
                max_age: self.max_age,
                max_bytes: self.max_bytes,
                max_message_size: MAX_MESSAGE,
                storage: stream::StorageType::File,
                ..Default::default()
            })
            .await
            .map_err(|e| anyhow::anyhow!("stream {}: {e}", self.stream_name()))
    }

    /// This member's durable consumer, starting after what it acknowledged. A consumer left
    /// by an earlier run is recreated from its ack floor, so what it had delivered but not
    /// acknowledged comes again at once and in order (a tombstone must not overtake its
    /// record).
    pub async fn consumer(
        &self,
        member: &str,
    ) -> anyhow::Result<consumer::Consumer<consumer::pull::Config>> {
        let stream = self.stream().await?;
        let durable = format!("memd_{}", &member[..32]);
        let deliver_policy = match stream.consumer_info(&durable).await {
            Ok(info) => {
                let next = info.ack_floor.stream_sequence + 1;
                stream
                    .delete_consumer(&durable)
                    .await
                    .map_err(|e| anyhow::anyhow!("reset consumer {durable}: {e}"))?;
                consumer::DeliverPolicy::ByStartSequence {
                    start_sequence: next,
                }
            }
            Err(_) => consumer::DeliverPolicy::All,
        };
        stream
            .create_consumer(consumer::pull::Config {
                durable_name: Some(durable.clone()),
                filter_subject: format!("memory.{}.>", self.team),
                // One ack a batch acknowledges it all (catching up 100,000 records, an ack
                // each was 100,000 more messages). A batch is stored in one transaction
                // before its ack, so nothing before the acked one is left unstored.
                ack_policy: consumer::AckPolicy::All,
                ack_wait: Duration::from_secs(30),
                max_deliver: 100,
                // Room for two of the receiver's batches in flight (the default, 1,000,
                // would cut every batch short).
                max_ack_pending: 4096,
                deliver_policy,
                ..Default::default()
            })
            .await
            .map_err(|e| anyhow::anyhow!("consumer {durable}: {e}"))
    }
}
