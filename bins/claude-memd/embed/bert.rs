//! The BERT encoder of sentence-transformer models (all-MiniLM-L6-v2 and its kin), on candle:
//! embeddings, self-attention layers, mean pooling over real tokens, L2 normalisation — what
//! sentence-transformers computes for such a model. tests/data/semantic/reference.py is the
//! same computation in numpy; the unit test compares the two.

use candle_core::{DType, Device, Module, Result, Tensor, D};
use candle_nn::{embedding, layer_norm, Embedding, LayerNorm, VarBuilder};
use serde::Deserialize;

/// The fields of the model's `config.json` the encoder needs.
#[derive(Clone, Debug, Deserialize)]
pub struct Config {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    pub max_position_embeddings: usize,
    pub type_vocab_size: usize,
    pub layer_norm_eps: f64,
    #[serde(default = "gelu")]
    pub hidden_act: String,
}

fn gelu() -> String {
    "gelu".into()
}

/// A dense layer with its weight matrix stored transposed, `(in, out)`, contiguous.
/// Stored as the file has it, `(out, in)`, the matrix code repacked the whole matrix for
/// every product: for a query of a few tokens that copy cost as much as the arithmetic
/// (most of a query's embedding time went to packing). Laid out this way it is read as it
/// is, and batches lose nothing.
struct Linear {
    weight_t: Tensor,
    bias: Tensor,
}

fn linear(inputs: usize, outputs: usize, vb: VarBuilder) -> Result<Linear> {
    let weight = vb.get((outputs, inputs), "weight")?;
    Ok(Linear {
        weight_t: weight.t()?.contiguous()?,
        bias: vb.get(outputs, "bias")?,
    })
}

impl Linear {
    /// `x · Wᵀ + b` of a `(batch, len, in)` tensor.
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (b, n, k) = x.dims3()?;
        x.reshape((b * n, k))?
            .matmul(&self.weight_t)?
            .broadcast_add(&self.bias)?
            .reshape((b, n, ()))
    }
}

struct Layer {
    query: Linear,
    key: Linear,
    value: Linear,
    attention_out: Linear,
    attention_norm: LayerNorm,
    intermediate: Linear,
    output: Linear,
    output_norm: LayerNorm,
}

/// A loaded encoder.
pub struct Bert {
    words: Embedding,
    positions: Embedding,
    token_types: Embedding,
    norm: LayerNorm,
    layers: Vec<Layer>,
    heads: usize,
    head_size: usize,
}

impl Bert {
    /// The weights under `vb` (`embeddings.*`, `encoder.layer.N.*`; a `bert.` prefix is
    /// accepted too, as some exports have it).
    pub fn load(vb: VarBuilder, c: &Config) -> Result<Bert> {
        let vb = if vb.contains_tensor("bert.embeddings.word_embeddings.weight") {
            vb.pp("bert")
        } else {
            vb
        };
        if c.hidden_act != "gelu" {
            candle_core::bail!("hidden_act {:?} is not supported (gelu only)", c.hidden_act);
        }
        if c.num_attention_heads == 0 || c.hidden_size % c.num_attention_heads != 0 {
            candle_core::bail!("hidden_size is not a multiple of num_attention_heads");
        }
        let h = c.hidden_size;
        let e = vb.pp("embeddings");
        let mut layers = Vec::with_capacity(c.num_hidden_layers);
        for i in 0..c.num_hidden_layers {
            let l = vb.pp(format!("encoder.layer.{i}"));
            let a = l.pp("attention");
            layers.push(Layer {
                query: linear(h, h, a.pp("self.query"))?,
                key: linear(h, h, a.pp("self.key"))?,
                value: linear(h, h, a.pp("self.value"))?,
                attention_out: linear(h, h, a.pp("output.dense"))?,
                attention_norm: layer_norm(h, c.layer_norm_eps, a.pp("output.LayerNorm"))?,
                intermediate: linear(h, c.intermediate_size, l.pp("intermediate.dense"))?,
                output: linear(c.intermediate_size, h, l.pp("output.dense"))?,
                output_norm: layer_norm(h, c.layer_norm_eps, l.pp("output.LayerNorm"))?,
            });
        }
        Ok(Bert {
            words: embedding(c.vocab_size, h, e.pp("word_embeddings"))?,
            positions: embedding(c.max_position_embeddings, h, e.pp("position_embeddings"))?,
            token_types: embedding(c.type_vocab_size, h, e.pp("token_type_embeddings"))?,
            norm: layer_norm(h, c.layer_norm_eps, e.pp("LayerNorm"))?,
            layers,
            heads: c.num_attention_heads,
            head_size: h / c.num_attention_heads,
        })
    }

    /// Sentence embeddings of a padded batch: `ids` and `mask` are `(batch, len)` u32
    /// tensors (mask 1 for real tokens); the answer is `(batch, hidden)`, each row of
    /// length 1.
    pub fn embed(&self, ids: &Tensor, mask: &Tensor) -> Result<Tensor> {
        let (b, n) = ids.dims2()?;
        let dev = ids.device();
        let pos = Tensor::arange(0u32, n as u32, dev)?;
        let types = ids.zeros_like()?;
        let mut h = self
            .words
            .forward(ids)?
            .broadcast_add(&self.positions.forward(&pos)?)?
            .add(&self.token_types.forward(&types)?)?;
        h = self.norm.forward(&h)?;
        let maskf = mask.to_dtype(DType::F32)?;
        // Padding gets a large negative score, so softmax gives it no weight.
        let bias = ((maskf.clone() - 1.0)? * 10_000.0)?.reshape((b, 1, 1, n))?;
        for l in &self.layers {
            h = self.layer(l, &h, &bias)?;
        }
        let m = maskf.unsqueeze(2)?;
        let sum = h.broadcast_mul(&m)?.sum(1)?;
        let count = m.sum(1)?.clamp(1e-9, f64::MAX)?;
        let mean = sum.broadcast_div(&count)?;
        let norm = mean
            .sqr()?
            .sum_keepdim(D::Minus1)?
            .sqrt()?
            .clamp(1e-12, f64::MAX)?;
        mean.broadcast_div(&norm)
    }

    fn layer(&self, l: &Layer, h: &Tensor, bias: &Tensor) -> Result<Tensor> {
        let (b, n, _) = h.dims3()?;
        let split = |t: Tensor| -> Result<Tensor> {
            t.reshape((b, n, self.heads, self.head_size))?
                .transpose(1, 2)?
                .contiguous()
        };
        let q = split(l.query.forward(h)?)?;
        let k = split(l.key.forward(h)?)?;
        let v = split(l.value.forward(h)?)?;
        let scale = (self.head_size as f64).sqrt();
        let scores = (q.matmul(&k.t()?.contiguous()?)? / scale)?.broadcast_add(bias)?;
        let probs = candle_nn::ops::softmax_last_dim(&scores)?;
        let ctx =
            probs
                .matmul(&v)?
                .transpose(1, 2)?
                .reshape((b, n, self.heads * self.head_size))?;
        let a = l
            .attention_norm
            .forward(&(l.attention_out.forward(&ctx)? + h)?)?;
        let m = super::gelu::gelu(&l.intermediate.forward(&a)?)?;
        l.output_norm.forward(&(l.output.forward(&m)? + a)?)
    }
}

/// The CPU: the model is small enough that a GPU would not pay for its setup.
pub fn device() -> Device {
    Device::Cpu
}
