//! Where an ask runs: on this host when it holds the key (renewing the lease is the check,
//! before every turn, that nobody took it over), on the key's owner while its lease lasts,
//! and for a new key (or one whose owner's lease expired) here if there is room, else on a
//! host with room.

use super::placement::{now_ms, Cas, Record};
use super::wire::{fleet_prefix, host_prefix, PlaceCall, PlaceReply};
use super::{unavailable, Fleet};
use crate::turn::TurnError;
use claude_daemons::config::WhenFull;
use std::time::{Duration, Instant};

/// Where a turn runs.
#[derive(Debug, PartialEq, Eq)]
pub enum Route {
    Local,
    Remote(String),
}

/// What claiming a key here found.
pub(super) enum Claim {
    /// This host holds it (now).
    Mine,
    /// Another host holds it.
    Owner(String),
    /// Nobody (live) holds it, and this host has no room.
    Full,
}

/// How often a `wait`ing placement looks for room again.
const WAIT_STEP: Duration = Duration::from_millis(250);

/// How long the hosts have to say how loaded they are.
const GATHER: Duration = Duration::from_millis(500);

/// How long a host has to answer a placement.
const PLACE_TIMEOUT: Duration = Duration::from_secs(5);

impl Fleet {
    /// Where the next turn of `key` runs; a `wait`ing placement gives up at `deadline`.
    pub async fn route(&self, key: &str, deadline: Instant) -> Result<Route, TurnError> {
        loop {
            if !self.connected() {
                return self.offline(key);
            }
            match self.claim(key).await? {
                Claim::Mine => return Ok(Route::Local),
                Claim::Owner(h) => return Ok(Route::Remote(h)),
                Claim::Full => {}
            }
            if let Some(h) = self.place_elsewhere(key).await? {
                return Ok(if h == self.host {
                    Route::Local
                } else {
                    Route::Remote(h)
                });
            }
            if self.when_full == WhenFull::Refuse || Instant::now() + WAIT_STEP > deadline {
                return Err(TurnError::new(
                    "fleet_full",
                    format!(
                        "no host of fleet {} has a free process slot for {key}",
                        self.name
                    ),
                ));
            }
            tokio::time::sleep(WAIT_STEP).await;
        }
    }

    /// Without the broker: only a key this host holds, while its lease lasts (after it,
    /// another host may have taken the key over).
    fn offline(&self, key: &str) -> Result<Route, TurnError> {
        match self.owned().get(key) {
            Some((r, _)) if r.live(now_ms()) => Ok(Route::Local),
            Some(_) => Err(unavailable(format!(
                "the broker is unreachable and this host's lease on {key} expired, so \
                 another host may hold it now"
            ))),
            None => Err(unavailable(format!(
                "the broker is unreachable, so where {key} lives cannot be known"
            ))),
        }
    }

    /// Take `key` here if this host holds it, or nobody live does and there is room.
    pub(super) async fn claim(&self, key: &str) -> Result<Claim, TurnError> {
        for _ in 0..8 {
            let now = now_ms();
            let current = self.placement.get(key).await.map_err(unavailable)?;
            let mine = Record {
                key: key.into(),
                host: self.host.clone(),
                lease_until_ms: now + self.lease.as_millis() as i64,
                transcript: current.as_ref().and_then(|(r, _)| r.transcript.clone()),
                session: current.as_ref().and_then(|(r, _)| r.session.clone()),
            };
            let (cas, new_here) = match &current {
                None if self.free() == 0 => return Ok(Claim::Full),
                None => (self.placement.create(&mine).await, true),
                Some((r, rev)) if r.host == self.host => {
                    (self.placement.update(&mine, *rev).await, false)
                }
                Some((r, _)) if r.live(now) => return Ok(Claim::Owner(r.host.clone())),
                Some(_) if self.free() == 0 => return Ok(Claim::Full),
                Some((r, rev)) => {
                    tracing::info!(SESSION_KEY = %key, from = %r.host, "taking over a session whose lease expired");
                    // Before the compare-and-set: a host that cannot resume the session
                    // must not take it.
                    self.restore(r).await?;
                    (self.placement.update(&mine, *rev).await, true)
                }
            };
            if let Cas::Done(rev) = cas.map_err(unavailable)? {
                if new_here {
                    self.reserve(key);
                }
                self.owned().insert(key.into(), (mine, rev));
                return Ok(Claim::Mine);
            }
        }
        Err(unavailable(format!(
            "the placement of {key} kept changing under 8 tries"
        )))
    }

    /// Ask the other hosts to take `key`: first whichever the broker picks, then, if that
    /// one was full, each host with free slots, most free first.
    async fn place_elsewhere(&self, key: &str) -> Result<Option<String>, TurnError> {
        let call = PlaceCall { key: key.into() };
        let any = format!("{}.place", fleet_prefix(&self.name));
        if let Some(h) = self.place_on(&any, &call).await {
            return Ok(Some(h));
        }
        let mut hosts = self.hosts(GATHER).await;
        hosts.retain(|h| h.host != self.host && h.free > 0);
        hosts.sort_by(|a, b| b.free.cmp(&a.free).then(a.host.cmp(&b.host)));
        for h in hosts {
            let subject = format!("{}.place", host_prefix(&self.name, &h.host));
            if let Some(h) = self.place_on(&subject, &call).await {
                return Ok(Some(h));
            }
        }
        Ok(None)
    }

    async fn place_on(&self, subject: &str, call: &PlaceCall) -> Option<String> {
        let body = serde_json::to_vec(call).expect("call serializes");
        let r = tokio::time::timeout(
            PLACE_TIMEOUT,
            self.client.request(subject.to_string(), body.into()),
        )
        .await;
        let msg = match r {
            Ok(Ok(m)) => m,
            Ok(Err(e)) => {
                tracing::debug!(%subject, "placement request: {e}");
                return None;
            }
            Err(_) => {
                tracing::debug!(%subject, "placement request timed out");
                return None;
            }
        };
        let reply: PlaceReply = serde_json::from_slice(&msg.payload).ok()?;
        if let Some(why) = reply.declined {
            tracing::debug!(%subject, "placement declined: {why}");
        }
        reply.host
    }

    /// Answer another host's `place`: the host `key` lives on, or why not here.
    pub(super) async fn placed_here(&self, key: &str) -> PlaceReply {
        match self.claim(key).await {
            Ok(Claim::Mine) => PlaceReply {
                host: Some(self.host.clone()),
                declined: None,
            },
            Ok(Claim::Owner(h)) => PlaceReply {
                host: Some(h),
                declined: None,
            },
            Ok(Claim::Full) => PlaceReply {
                host: None,
                declined: Some(format!("{} has no free process slot", self.host)),
            },
            Err(e) => PlaceReply {
                host: None,
                declined: Some(e.message),
            },
        }
    }

    /// The live owner of `key` if it is another host.
    pub async fn owner_elsewhere(&self, key: &str) -> Option<String> {
        if !self.connected() {
            return None;
        }
        match self.placement.get(key).await {
            Ok(Some((r, _))) if r.host != self.host && r.live(now_ms()) => Some(r.host),
            _ => None,
        }
    }
}
