//! GELU (the exact, erf-based one BERT uses) as a candle op that the compiler vectorizes.
//! candle's `gelu_erf` calls libm's scalar `erff` for each of the feed-forward layers'
//! values (1,536 per token per layer): a seventh of a record's embedding time in the
//! profile. Here erf is a rational function (no branch, no table), so eight values go
//! through at once; it agrees with libm's to 4e-7 (f32 rounding near ±1), far below what
//! moves an embedding (the reference test allows 1e-4).

use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape, Tensor};

/// `x · (1 + erf(x / √2)) / 2` of every element of an f32 tensor.
pub fn gelu(t: &Tensor) -> Result<Tensor> {
    t.apply_op1_no_bwd(&Gelu)
}

struct Gelu;

impl CustomOp1 for Gelu {
    fn name(&self) -> &'static str {
        "gelu-erf-rational"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let CpuStorage::F32(v) = s else {
            candle_core::bail!("gelu: f32 tensors only");
        };
        let Some((start, end)) = l.contiguous_offsets() else {
            candle_core::bail!("gelu: contiguous tensors only");
        };
        let src = &v[start..end];
        let mut out = vec![0f32; src.len()];
        apply(src, &mut out);
        Ok((CpuStorage::F32(out), l.shape().clone()))
    }
}

fn apply(src: &[f32], out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (checked just above), all `apply_avx2` requires.
        return unsafe { apply_avx2(src, out) };
    }
    apply_plain(src, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn apply_avx2(src: &[f32], out: &mut [f32]) {
    apply_plain(src, out)
}

#[inline(always)]
fn apply_plain(src: &[f32], out: &mut [f32]) {
    for (o, &x) in out.iter_mut().zip(src) {
        *o = 0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2));
    }
}

/// erf for f32: Eigen's rational approximation (odd numerator of degree 13 over an even
/// denominator of degree 8) on [-4, 4], where erf is ±1 in f32 beyond.
#[inline(always)]
fn erf(x: f32) -> f32 {
    // max/min written as compares so that they vectorize (f32::max has NaN rules that
    // keep it scalar); a NaN input stays NaN through the polynomials.
    let x = if x > 4.0 { 4.0 } else { x };
    let x = if x < -4.0 { -4.0 } else { x };
    let x2 = x * x;
    let mut p = x2 * -2.726_142_3e-10 + 2.770_681_4e-8;
    p = x2 * p + -2.101_024e-6;
    p = x2 * p + -5.692_506_4e-5;
    p = x2 * p + -7.349_906_3e-4;
    p = x2 * p + -2.954_6e-3;
    p = x2 * p + -1.609_603_3e-2;
    let p = x * p;
    let mut q = x2 * -1.456_607_2e-5 + -2.133_740_6e-4;
    q = x2 * q + -1.682_827e-3;
    q = x2 * q + -7.373_329e-3;
    q = x2 * q + -1.426_474e-2;
    p / q
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_libm_erf_and_candles_gelu() {
        // Every 1/1000 over [-10, 10], and the edges.
        let xs: Vec<f32> = (-10_000..=10_000)
            .map(|i| i as f32 / 1000.0)
            .chain([0.0, -0.0, 1e-30, -1e-30, 1e30, -1e30])
            .collect();
        for &x in &xs {
            let want = candle_core::cpu::erf::erf_f32(x);
            assert!(
                (erf(x) - want).abs() < 4e-7,
                "erf({x}) = {} not {want}",
                erf(x)
            );
        }
        let t = Tensor::new(xs.as_slice(), &candle_core::Device::Cpu).unwrap();
        let ours = gelu(&t).unwrap().to_vec1::<f32>().unwrap();
        let theirs = t.gelu_erf().unwrap().to_vec1::<f32>().unwrap();
        for ((x, a), b) in xs.iter().zip(ours).zip(theirs) {
            let tol = 4e-7 * x.abs().max(1.0);
            assert!((a - b).abs() <= tol, "gelu({x}) = {a} not {b}");
        }
        assert!(erf(f32::NAN).is_nan());
        // Not contiguous: a clear error, not a wrong answer.
        let m = Tensor::new(&[[1f32, 2.0], [3.0, 4.0]], &candle_core::Device::Cpu).unwrap();
        assert!(gelu(&m.t().unwrap()).is_err());
    }
}
