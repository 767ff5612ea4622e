//! Semantic candidates for the UserPromptSubmit context ([`crate::recall::prompt_with`]):
//! the project's observations nearest a prompt's meaning. The hook must answer within its
//! deadline, so nothing here waits for the model: when it is not in memory yet the prompt
//! gets the lexical context and the worker loads the model for the next one; the prompt's
//! embedding runs while its event is being stored, and is given up (lexical context) when
//! it takes longer than a third of the hook's deadline.

use super::index::Filter;
use super::vectors::{quantize, Kind};
use super::Semantic;
use std::sync::Arc;
use std::time::Duration;

/// Tokens of a prompt that are embedded (about 25 words: what a prompt is about is said
/// first). Cost grows with them: on this project's 2-core test machine at load 36, one
/// thread embedded 16 tokens in 55 ms (p50), 32 in 80, 64 in 228 and 256 in 812 (the
/// `embed::bench` figures); an idle core is several times faster.
pub const PROMPT_TOKENS: usize = 32;

/// The least cosine for a record to be brought by meaning alone. all-MiniLM-L6-v2 puts the
/// checked-in corpus's notes at 0.04–0.23 from prompts about nothing in it (a haiku, a
/// recipe, a capital city), its paraphrased questions at 0.12–0.46 from their answers (most
/// above 0.25), and generic requests ("explain this code") at about 0.2: below this a
/// record would be noise in every prompt's context.
pub const MIN_COSINE: f32 = 0.25;

/// Vector candidates offered to the fusion (a prompt shows three records by default).
const CANDIDATES: usize = 20;

/// A prompt's embedding under way.
pub struct Pending(tokio::task::JoinHandle<Option<Vec<i8>>>);

/// Start embedding `prompt` when the model and its vectors are in memory; `None` (and the
/// model is loaded in the background) when they are not, or no model is installed.
pub fn start(sem: &Arc<Semantic>, prompt: &str) -> Option<Pending> {
    let model = sem.ready()?;
    let (sem, prompt) = (sem.clone(), prompt.to_owned());
    Some(Pending(tokio::task::spawn_blocking(move || {
        let v = sem.on_query_thread(|| model.embed_prefix(&prompt, PROMPT_TOKENS));
        match v {
            Ok(v) => Some(quantize(&v)),
            Err(e) => {
                tracing::warn!(error = %e, "embedding a prompt failed; its context is lexical");
                None
            }
        }
    })))
}

impl Pending {
    /// The embedding, if it is ready within `wait`.
    pub async fn finish(self, wait: Duration) -> Option<Vec<i8>> {
        match tokio::time::timeout(wait, self.0).await {
            Ok(Ok(v)) => v,
            Ok(Err(_)) => None,
            Err(_) => {
                tracing::debug!("a prompt's embedding took too long; its context is lexical");
                None
            }
        }
    }
}

/// The project's observations nearest `qv` (ids, closest first) that are near enough.
pub fn nearest(sem: &Semantic, qv: &[i8], project: &str) -> Vec<i64> {
    let filter = Filter {
        kinds: &[Kind::Observation],
        project: Some(project),
    };
    sem.index()
        .nearest(qv, filter, CANDIDATES)
        .into_iter()
        .take_while(|(_, cos)| *cos >= MIN_COSINE)
        .map(|((_, id), _)| id)
        .collect()
}
