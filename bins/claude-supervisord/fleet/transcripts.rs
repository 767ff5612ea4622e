//! Transcripts in the fleet's object store `csup_<fleet>_transcripts`: after each turn the
//! owner stores the session's transcript (Claude Code's `<uuid>.jsonl`) before answering,
//! and names it in the key's placement record; a host taking the key over writes it into
//! its own projects directory and records the same Claude session, so its child starts
//! with `--resume` and the conversation goes on.

use super::placement::{kv_key, Cas, Record, Resume};
use super::{unavailable, Fleet};
use crate::child;
use crate::records;
use crate::settings::Settings;
use crate::turn::{TurnError, TurnEvent};
use async_nats::jetstream::{self, object_store};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc::{self, UnboundedReceiver};
use tokio::sync::OnceCell;

/// How long storing or fetching one transcript may take.
const OP_TIMEOUT: Duration = Duration::from_secs(60);

/// The object store, opened on first use.
pub struct Transcripts {
    js: jetstream::Context,
    bucket: String,
    store: OnceCell<object_store::ObjectStore>,
}

fn timed<T, E: std::fmt::Display>(
    r: Result<Result<T, E>, tokio::time::error::Elapsed>,
) -> Result<T, String> {
    match r {
        Err(_) => Err("the broker did not answer within 60 s".into()),
        Ok(r) => r.map_err(|e| e.to_string()),
    }
}

impl Transcripts {
    pub fn new(js: jetstream::Context, fleet: &str) -> Transcripts {
        Transcripts {
            js,
            bucket: format!("csup_{fleet}_transcripts"),
            store: OnceCell::new(),
        }
    }

    async fn store(&self) -> Result<&object_store::ObjectStore, String> {
        self.store
            .get_or_try_init(|| async {
                if let Ok(s) = self.js.get_object_store(&self.bucket).await {
                    return Ok(s);
                }
                let create = self.js.create_object_store(object_store::Config {
                    bucket: self.bucket.clone(),
                    ..Default::default()
                });
                timed(tokio::time::timeout(OP_TIMEOUT, create).await)
                    .map_err(|e| format!("transcript store: {e}"))
            })
            .await
    }

    /// Store `data` as `key`'s transcript; its object id.
    pub async fn put(&self, key: &str, data: &[u8]) -> Result<String, String> {
        let store = self.store().await?;
        let mut reader = data;
        let info = timed(
            tokio::time::timeout(OP_TIMEOUT, store.put(kv_key(key).as_str(), &mut reader)).await,
        )
        .map_err(|e| format!("transcript store: {e}"))?;
        Ok(info.nuid)
    }

    /// `key`'s transcript; its object id must be `nuid` (an older one is not the turn the
    /// placement names).
    pub async fn get(&self, key: &str, nuid: &str) -> Result<Vec<u8>, String> {
        let store = self.store().await?;
        let mut obj = timed(tokio::time::timeout(OP_TIMEOUT, store.get(kv_key(key))).await)
            .map_err(|e| format!("transcript of {key}: {e}"))?;
        if obj.info.nuid != nuid {
            return Err(format!(
                "transcript of {key}: stored object {} is not the one placed ({nuid})",
                obj.info.nuid
            ));
        }
        let mut data = Vec::with_capacity(obj.info.size);
        timed(tokio::time::timeout(OP_TIMEOUT, obj.read_to_end(&mut data)).await)
            .map_err(|e| format!("transcript of {key}: {e}"))?;
        Ok(data)
    }
}

impl Fleet {
    /// Pass a local turn's events on, storing the transcript once it completes and before
    /// its result goes out: an answered turn survives this host.
    pub fn store_after_turn(
        self: &Arc<Self>,
        key: &str,
        mut rx: UnboundedReceiver<TurnEvent>,
    ) -> UnboundedReceiver<TurnEvent> {
        let (tx, out) = mpsc::unbounded_channel();
        let (fleet, key) = (self.clone(), key.to_string());
        tokio::spawn(async move {
            while let Some(ev) = rx.recv().await {
                if let TurnEvent::Done(Ok(r)) = &ev {
                    if let Err(e) = fleet.store_transcript(&key, &r.session_id).await {
                        tracing::warn!(SESSION_KEY = %key, "transcript not stored: {e}");
                    }
                }
                let _ = tx.send(ev);
            }
        });
        out
    }

    async fn store_transcript(&self, key: &str, session_id: &str) -> Result<(), String> {
        let Some(h) = self.pool.get(key) else {
            return Ok(());
        };
        let settings = h.settings();
        let Some(path) = child::transcript_path(&settings.cwd, session_id) else {
            return Ok(());
        };
        let data = tokio::fs::read(&path)
            .await
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let nuid = self.transcripts.put(key, &data).await?;
        let Some((mut rec, rev)) = self.owned().get(key).cloned() else {
            return Err("this host no longer holds the session".into());
        };
        rec.transcript = Some(nuid);
        rec.session = Some(Resume {
            session_id: session_id.into(),
            options: settings.to_options(),
        });
        match self.placement.update(&rec, rev).await? {
            Cas::Done(new) => {
                self.owned().insert(key.into(), (rec, new));
                Ok(())
            }
            Cas::Lost => {
                // A lease renewal raced this write; once more on top of it.
                let (cur, rev) = self
                    .placement
                    .get(key)
                    .await?
                    .ok_or("the placement disappeared")?;
                if cur.host != self.host {
                    return Err(format!("host {} took the session over", cur.host));
                }
                let rec = Record {
                    lease_until_ms: cur.lease_until_ms,
                    ..rec
                };
                if let Cas::Done(new) = self.placement.update(&rec, rev).await? {
                    self.owned().insert(key.into(), (rec, new));
                }
                Ok(())
            }
        }
    }

    /// Make the session of `rec` (held by another host until its lease expired) resumable
    /// here: its transcript in this host's projects directory, its Claude session in this
    /// host's database, its workspace mapped by `workspace_map`.
    pub(super) async fn restore(&self, rec: &Record) -> Result<(), TurnError> {
        let (Some(nuid), Some(resume)) = (&rec.transcript, &rec.session) else {
            // No turn completed there: nothing to resume.
            return Ok(());
        };
        let mut options = resume.options.clone();
        self.map_options(&mut options);
        let cwd = options.cwd.clone().unwrap_or_default();
        if !std::path::Path::new(&cwd).is_dir() {
            let was = resume.options.cwd.clone().unwrap_or_default();
            return Err(TurnError::new(
                "conflict",
                format!(
                    "session {} ran in {was} on host {}; {cwd} does not exist here (map it with [supervisor] workspace_map)",
                    rec.key, rec.host
                ),
            ));
        }
        let data = self
            .transcripts
            .get(&rec.key, nuid)
            .await
            .map_err(unavailable)?;
        let dir = child::projects_dir()
            .ok_or_else(|| TurnError::new("internal", "no HOME for Claude Code's projects"))?
            .join(child::project_slug(&cwd));
        let file = dir.join(format!("{}.jsonl", resume.session_id));
        let write = async {
            tokio::fs::create_dir_all(&dir).await?;
            let tmp = file.with_extension("jsonl.part");
            tokio::fs::write(&tmp, &data).await?;
            tokio::fs::rename(&tmp, &file).await
        };
        write
            .await
            .map_err(|e| TurnError::new("internal", format!("{}: {e}", file.display())))?;
        // A process of this key left from before would run another copy.
        self.stop_local(&rec.key);
        let default_cwd = cwd.clone();
        let settings = Settings::new(&default_cwd, &options);
        let (key, sid) = (rec.key.clone(), resume.session_id.clone());
        self.pool
            .db
            .call(move |c| records::adopt(c, &key, &sid, &settings))
            .await
            .map_err(|e| TurnError::new("internal", format!("database: {e}")))?
            .map_err(|e| TurnError::new("internal", format!("database: {e}")))?;
        tracing::info!(SESSION_KEY = %rec.key, from = %rec.host, bytes = data.len(), "transcript restored");
        Ok(())
    }
}
