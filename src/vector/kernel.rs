//! The scoring kernel: integer dot products of one quantized query against a block of quantized
//! vectors.
//!
//! This is the hot loop of every semantic search (100k vectors × 384 dims is ~38 MB of codes per
//! query), so it is written in a shape LLVM turns into `vpmovsxbw` + `vpmaddwd` (16 products per
//! instruction with AVX2, 8 with the SSE2 baseline). The code is plain safe Rust; the AVX2 build
//! is the same code compiled a second time inside a `#[target_feature(enable = "avx2")]`
//! function and chosen at run time, so one binary runs everywhere and is fast where it can be.

/// Width of the fixed-size chunks the dot product works on. With a compile-time length LLVM
/// fully unrolls the chunk and keeps the multiply-adds in 256-bit registers; 32 measured best
/// (16 and 64 are a little slower, the plain zip loop only uses 128-bit `vpmaddwd`).
const CHUNK: usize = 32;

/// `Σ q[i]·v[i]` in wrapping i32 arithmetic. The caller picks the query's range so that the true
/// sum always fits in an i32 (see `QuantizedIndex::query_level`); wrapping then gives the exact
/// result whatever order the additions happen in, and never panics in debug builds.
#[inline(always)]
fn dot_body(q: &[i16], v: &[i8]) -> i32 {
    debug_assert_eq!(q.len(), v.len());
    let qc = q.chunks_exact(CHUNK);
    let vc = v.chunks_exact(CHUNK);
    let (q_rest, v_rest) = (qc.remainder(), vc.remainder());
    let mut sum = 0i32;
    for (a, b) in qc.zip(vc) {
        // Fixed-size views: the bounds are known, so the inner loop is fully unrolled.
        let (Ok(a), Ok(b)) = (<&[i16; CHUNK]>::try_from(a), <&[i8; CHUNK]>::try_from(b)) else {
            unreachable!("chunks_exact yields CHUNK-long slices")
        };
        let mut s = 0i32;
        for j in 0..CHUNK {
            s = s.wrapping_add(i32::from(a[j]).wrapping_mul(i32::from(b[j])));
        }
        sum = sum.wrapping_add(s);
    }
    for (a, b) in q_rest.iter().zip(v_rest) {
        sum = sum.wrapping_add(i32::from(*a).wrapping_mul(i32::from(*b)));
    }
    sum
}

/// Dot products of `q` with consecutive vectors of `q.len()` codes each:
/// `out[i] = dot(q, codes_i)`, for `out.len()` vectors.
#[inline(always)]
fn dots_body(q: &[i16], codes: &[i8], out: &mut [i32]) {
    let dim = q.len();
    debug_assert!(dim > 0 && codes.len() == out.len() * dim);
    for (c, o) in codes.chunks_exact(dim).zip(out.iter_mut()) {
        *o = dot_body(q, c);
    }
}

fn dots_portable(q: &[i16], codes: &[i8], out: &mut [i32]) {
    dots_body(q, codes, out);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn dots_avx2(q: &[i16], codes: &[i8], out: &mut [i32]) {
    dots_body(q, codes, out);
}

/// Whether this CPU has AVX2, detected once and cached for the life of the process.
#[cfg(target_arch = "x86_64")]
fn has_avx2() -> bool {
    static HAS_AVX2: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *HAS_AVX2.get_or_init(|| std::arch::is_x86_feature_detected!("avx2"))
}

/// Dot products of a block of vectors with the fastest kernel this CPU supports (see
/// [`dots_body`]). Called once per block of slots, so the dispatch costs nothing measurable.
pub(super) fn dots(q: &[i16], codes: &[i8], out: &mut [i32]) {
    #[cfg(target_arch = "x86_64")]
    if has_avx2() {
        // SAFETY: `dots_avx2` only requires the AVX2 target feature, and `has_avx2()` returned
        // true, i.e. `is_x86_feature_detected!("avx2")` confirmed the CPU supports it.
        unsafe { dots_avx2(q, codes, out) };
        return;
    }
    dots_portable(q, codes, out);
}

/// One dot product (see [`dot_body`]), with the fastest kernel this CPU supports.
pub(super) fn dot(q: &[i16], v: &[i8]) -> i32 {
    let mut out = [0i32];
    dots(q, v, &mut out);
    out[0]
}

/// Asks the CPU to start loading `codes` into its caches, without waiting for them: for
/// codes read one vector at a time in scattered places, whose cache misses otherwise come one
/// after the other. A hint only; it changes no result.
pub(super) fn prefetch(codes: &[i8]) {
    #[cfg(target_arch = "x86_64")]
    for line in codes.chunks(64) {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        // SAFETY: a prefetch never faults and writes nothing, whatever the address; this one
        // is of a slice's own bytes.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(line.as_ptr()) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = codes;
}

/// The portable dot product, for tests comparing it with the AVX2 build.
#[cfg(test)]
pub(super) fn dot_portable(q: &[i16], v: &[i8]) -> i32 {
    dot_body(q, v)
}

/// The AVX2 dot product, or None when the CPU lacks AVX2 (or is not x86-64).
#[cfg(test)]
pub(super) fn dot_avx2(q: &[i16], v: &[i8]) -> Option<i32> {
    #[cfg(target_arch = "x86_64")]
    if has_avx2() {
        let mut out = [0i32];
        // SAFETY: `dots_avx2` only requires AVX2, which `has_avx2()` just confirmed.
        unsafe { dots_avx2(q, v, &mut out) };
        return Some(out[0]);
    }
    let _ = (q, v);
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    use super::super::test_rng::Rng;

    impl Rng {
        fn i8(&mut self) -> i8 {
            // The index never stores -128 (codes are clamped to ±127), but the kernel must be
            // exact for any input, so test the full range.
            self.next_u64() as i8
        }
        fn i16(&mut self, level: i16) -> i16 {
            let level = i64::from(level);
            ((self.next_u64() % (2 * level as u64 + 1)) as i64 - level) as i16
        }
    }

    fn naive(q: &[i16], v: &[i8]) -> i64 {
        q.iter()
            .zip(v)
            .map(|(a, b)| i64::from(*a) * i64::from(*b))
            .sum()
    }

    #[test]
    fn dot_is_exact_for_all_lengths_and_extremes() {
        let mut rng = Rng(7);
        for len in (0..100).chain([383, 384, 385, 768, 1536]) {
            for _ in 0..20 {
                let q: Vec<i16> = (0..len).map(|_| rng.i16(32767)).collect();
                let v: Vec<i8> = (0..len).map(|_| rng.i8()).collect();
                // Wrapping arithmetic is exact modulo 2^32 even where the true sum would not
                // fit (the index never lets it get that large).
                assert_eq!(dot_portable(&q, &v), naive(&q, &v) as i32, "len {len}");
            }
        }
        // Largest magnitudes: every product at its extreme, same sign and alternating.
        let q = vec![32767i16; 384];
        let v = vec![127i8; 384];
        assert_eq!(i64::from(dot_portable(&q, &v)), naive(&q, &v));
        let v: Vec<i8> = (0..384usize)
            .map(|i| if i.is_multiple_of(2) { 127 } else { -127 })
            .collect();
        assert_eq!(dot_portable(&q, &v), 0);
    }

    #[test]
    fn avx2_and_portable_kernels_agree() {
        let mut rng = Rng(42);
        let mut checked = 0;
        for len in (1..80).chain([383, 384, 385, 1024, 1536]) {
            for _ in 0..25 {
                let q: Vec<i16> = (0..len).map(|_| rng.i16(32767)).collect();
                let v: Vec<i8> = (0..len).map(|_| rng.i8()).collect();
                if let Some(fast) = dot_avx2(&q, &v) {
                    assert_eq!(fast, dot_portable(&q, &v), "len {len}");
                    checked += 1;
                }
            }
        }
        // Also the block path and the single dot, through the dispatcher.
        let dim = 384;
        let n: usize = 300;
        let q: Vec<i16> = (0..dim).map(|_| rng.i16(32767)).collect();
        let codes: Vec<i8> = (0..n * dim).map(|_| rng.i8()).collect();
        let mut fast = vec![0i32; n];
        let mut slow = vec![0i32; n];
        dots(&q, &codes, &mut fast);
        dots_portable(&q, &codes, &mut slow);
        assert_eq!(fast, slow);
        for (i, d) in slow.iter().enumerate() {
            let v = &codes[i * dim..(i + 1) * dim];
            assert_eq!(i64::from(*d), naive(&q, v));
            assert_eq!(dot(&q, v), *d);
        }
        // Where the CPU has AVX2 the comparison must really have happened.
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            assert!(checked > 0);
        }
        let _ = checked;
    }
}
