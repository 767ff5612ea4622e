//! How events become observations and summaries. The processor hands each claimed event to a
//! [`Provider`]; the local builder ([`crate::local`]) is the default, and the Claude observer
//! (a later issue) implements the same trait. A provider only computes: storing, retries and
//! states belong to the processor, so every provider gets the same durability.

pub use claude_daemons::claude::observer_answer::{NewObservation, NewSummary};
use claude_daemons::claude::{HookEvent, HookInput};

/// One claimed event, as the processor read it back.
#[derive(Clone, Debug)]
pub struct EventRow {
    /// Row id.
    pub id: i64,
    /// Which hook.
    pub event: HookEvent,
    /// Claude's session id.
    pub session_id: String,
    /// Project identity (git root path).
    pub project: String,
    /// Display name.
    pub project_name: String,
    /// The prompt it belongs to.
    pub prompt_number: Option<i64>,
    /// The sanitized payload.
    pub input: HookInput,
    /// How many times it was claimed, this time included.
    pub attempts: u32,
}

/// What a provider made of one tool event.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Observed {
    /// Observations to store (none is a fine answer).
    pub observations: Vec<NewObservation>,
    /// The Claude observer was unavailable: the observations are the local builder's, and
    /// the event is to be observed again later (its local observations then replaced).
    pub retry_later: Option<String>,
    /// The observer's answers stayed invalid: the event is marked failed with this reason,
    /// the observations being the local builder's.
    pub failed: Option<String>,
}

impl From<Vec<NewObservation>> for Observed {
    fn from(observations: Vec<NewObservation>) -> Observed {
        Observed {
            observations,
            ..Observed::default()
        }
    }
}

/// What a provider made of a Stop event.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Summarized {
    /// The summary, if there is something to say.
    pub summary: Option<NewSummary>,
    /// As in [`Observed::retry_later`].
    pub retry_later: Option<String>,
    /// As in [`Observed::failed`].
    pub failed: Option<String>,
}

/// What is known of a session's turn when it stops.
#[derive(Clone, Debug, Default)]
pub struct TurnFacts {
    /// The prompt(s) of the turn, private parts removed.
    pub prompts: Vec<String>,
    /// Titles of the turn's observations, oldest first.
    pub titles: Vec<String>,
    /// Files read in the turn.
    pub files_read: Vec<String>,
    /// Files changed in the turn.
    pub files_modified: Vec<String>,
    /// Commands that failed.
    pub failures: Vec<String>,
}

/// Why a provider could not handle an event (the processor retries, then marks it failed).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ProviderError(pub String);

/// Turns events into observations and turns into summaries.
pub trait Provider: Send {
    /// Name for logs and health output.
    fn name(&self) -> &'static str;

    /// Observations for one tool event (none is a fine answer).
    fn observe(&mut self, event: &EventRow) -> Result<Vec<NewObservation>, ProviderError>;

    /// A summary of the turn that `stop` ended, or `None` when there is nothing to say.
    fn summarize(
        &mut self,
        stop: &EventRow,
        turn: &TurnFacts,
    ) -> Result<Option<NewSummary>, ProviderError>;

    /// Observations for consecutive tool events (in arrival order, possibly of several
    /// sessions), one result per event. Providers that can batch (the Claude observer sends
    /// a session's queued events as one message) override this.
    fn observe_batch(&mut self, events: &[EventRow]) -> Vec<Result<Observed, ProviderError>> {
        events
            .iter()
            .map(|e| self.observe(e).map(Observed::from))
            .collect()
    }

    /// A Stop event's summary, with fallback and retry information.
    fn summarize_full(
        &mut self,
        stop: &EventRow,
        turn: &TurnFacts,
    ) -> Result<Summarized, ProviderError> {
        self.summarize(stop, turn).map(|summary| Summarized {
            summary,
            ..Summarized::default()
        })
    }

    /// Whether events observed by a stand-in earlier should be tried again now.
    fn ready_for_retries(&mut self) -> bool {
        false
    }

    /// Housekeeping between passes (e.g. stopping idle observer sessions).
    fn tick(&mut self) {}
}
