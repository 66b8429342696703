//! Timing and recall benchmark for [`QuantizedIndex`] at the size the design targets. Not run by
//! `cargo test`; run it in release mode, alone, on a quiet machine:
//!
//! ```text
//! cargo test --release --lib vector::bench -- --ignored --nocapture
//! ```
//!
//! Data: 100,000 vectors of 384 dimensions around 500 random centres (centre + gaussian noise,
//! at four noise levels, from tight clusters to almost uniform), and 200 queries drawn the same
//! way but not stored. For each query it times `candidates(q, 40)` and `candidates(q, 100)`, re-ranks
//! the candidates exactly as the backend does, and reports recall@10 against an exact
//! brute-force top 10. `MNEMO_BENCH_N` overrides the number of vectors.
//!
//! Targets (design): p50 ≤ 5 ms on one core, recall@10 ≥ 0.95, index well under 60 MB.
//! Between queries the exact ground-truth scan (150 MB of f32) evicts the CPU caches, so every
//! timed `candidates` call reads the codes from memory, as a search in a busy process would.

use std::time::Instant;

use super::test_rng::Rng;
use super::{QuantizedIndex, cosine};

const DIM: usize = 384;
const CENTRES: usize = 500;
const QUERIES: usize = 200;

/// Resident set size of this process, in bytes (Linux only; 0 elsewhere).
fn rss_bytes() -> usize {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<usize>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// Clustered data: vector `i` is a centre plus gaussian noise whose expected norm is
/// `spread` × the centre's (unit) norm, generated from `i` alone so it can be produced twice
/// without being kept.
struct Data {
    centres: Vec<Vec<f32>>,
    sigma: f32,
}

impl Data {
    fn new(spread: f32) -> Self {
        let mut rng = Rng(0xC0FFEE);
        let centres = (0..CENTRES)
            .map(|_| {
                let v = rng.vector(DIM);
                let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
                v.into_iter().map(|x| x / n).collect()
            })
            .collect();
        Self {
            centres,
            sigma: spread / (DIM as f32).sqrt(),
        }
    }

    fn vector(&self, seed: u64) -> Vec<f32> {
        let mut rng = Rng(seed.wrapping_mul(0x2545_F491_4F6C_DD1D) ^ 0xABCD);
        let centre = &self.centres[(rng.next_u64() % CENTRES as u64) as usize];
        let v: Vec<f32> = centre
            .iter()
            .map(|c| c + self.sigma * rng.gauss())
            .collect();
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.into_iter().map(|x| x / n).collect()
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Exact top `k` by re-ranking `ids` (indices into `all`) with [`cosine`].
fn rerank(all: &[Vec<f32>], q: &[f32], ids: impl Iterator<Item = usize>, k: usize) -> Vec<usize> {
    let mut scored: Vec<(usize, f32)> = ids.map(|i| (i, cosine(q, &all[i]))).collect();
    scored.sort_by(|a, b| b.1.total_cmp(&a.1));
    scored.into_iter().take(k).map(|(i, _)| i).collect()
}

#[test]
#[ignore = "benchmark: run with --release -- --ignored --nocapture"]
fn bench_100k_384() {
    let n: usize = std::env::var("MNEMO_BENCH_N")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    println!("quantized index benchmark: {n} vectors × {DIM} dims, {QUERIES} queries");
    for (round, spread) in [1.0f32, 0.6, 1.6, 4.0].into_iter().enumerate() {
        let data = Data::new(spread);
        let ids: Vec<String> = (0..n)
            .map(|i| format!("0190a1b2-c3d4-7e5f-8a9b-{i:012x}"))
            .collect();

        // Build the index from vectors generated on the fly, so the RSS delta is the index.
        let rss_before = rss_bytes();
        let started = Instant::now();
        let mut index = QuantizedIndex::new(DIM);
        for (i, id) in ids.iter().enumerate() {
            assert!(index.upsert(id, &data.vector(i as u64)));
        }
        let build = started.elapsed();
        let rss_after = rss_bytes();

        // Ground truth needs the f32 vectors; only now are they all kept.
        let all: Vec<Vec<f32>> = (0..n).map(|i| data.vector(i as u64)).collect();
        let slot_of = |id: &str| usize::from_str_radix(&id[24..], 16).unwrap();

        let mut t40 = Vec::new();
        let mut t100 = Vec::new();
        let mut t_rerank = Vec::new();
        let (mut hit10, mut hit40, mut hit100) = (0usize, 0usize, 0usize);
        let mut mean_nn = 0f64;
        for qi in 0..QUERIES {
            let q = data.vector(u64::MAX - qi as u64);
            let exact = rerank(&all, &q, 0..n, 10);
            mean_nn += f64::from(cosine(&q, &all[exact[0]]));

            let started = Instant::now();
            let c40 = index.candidates(&q, 40);
            t40.push(started.elapsed().as_secs_f64() * 1e3);
            let started = Instant::now();
            let c100 = index.candidates(&q, 100);
            t100.push(started.elapsed().as_secs_f64() * 1e3);

            let started = Instant::now();
            let top40 = rerank(&all, &q, c40.iter().map(|(id, _)| slot_of(id)), 10);
            t_rerank.push(started.elapsed().as_secs_f64() * 1e3);
            let top100 = rerank(&all, &q, c100.iter().map(|(id, _)| slot_of(id)), 10);
            hit10 += c40[..10]
                .iter()
                .filter(|(id, _)| exact.contains(&slot_of(id)))
                .count();
            hit40 += top40.iter().filter(|i| exact.contains(i)).count();
            hit100 += top100.iter().filter(|i| exact.contains(i)).count();
        }
        for t in [&mut t40, &mut t100, &mut t_rerank] {
            t.sort_by(f64::total_cmp);
        }
        let total = (QUERIES * 10) as f64;
        println!(
            "\nnoise/centre norm {spread}: mean exact top-1 cosine {:.3}",
            mean_nn / QUERIES as f64
        );
        println!(
            "  candidates(q, 40):  min {:.2} ms  p50 {:.2} ms  p95 {:.2} ms  recall@10 after exact re-rank {:.4}",
            t40[0],
            percentile(&t40, 0.5),
            percentile(&t40, 0.95),
            hit40 as f64 / total
        );
        println!(
            "  candidates(q, 100): min {:.2} ms  p50 {:.2} ms  p95 {:.2} ms  recall@10 after exact re-rank {:.4}",
            t100[0],
            percentile(&t100, 0.5),
            percentile(&t100, 0.95),
            hit100 as f64 / total
        );
        println!(
            "  recall@10 of the approximate top 10 alone (no re-rank): {:.4}",
            hit10 as f64 / total
        );
        println!(
            "  exact re-rank of 40 (in RAM): p50 {:.3} ms",
            percentile(&t_rerank, 0.5)
        );
        if round == 0 {
            println!(
                "  build {:.2} s; heap_bytes {:.1} MB; RSS growth while building {:.1} MB",
                build.as_secs_f64(),
                index.heap_bytes() as f64 / 1e6,
                rss_after.saturating_sub(rss_before) as f64 / 1e6
            );
        }
    }
}
