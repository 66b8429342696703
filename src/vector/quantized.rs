//! [`QuantizedIndex`]: an int8 copy of every stored vector, kept in RAM, scanned for each query
//! to propose candidates that the caller re-ranks exactly.
//!
//! Why a full scan rather than a graph index (HNSW and kin): at the sizes a memory store reaches
//! (up to ~100k vectors) a linear pass over one byte per dimension is a few milliseconds on one
//! core, needs no tuning, has no build step, supports updates and deletes trivially, and its
//! recall does not degrade with churn. The vectors themselves stay in libSQL (the source of
//! truth); this copy only has to be good enough to put the true neighbours among the first
//! ~40–100 candidates.
//!
//! Each vector is cut in three sections: a *prefix* (its first ~3/8 of dimensions), a
//! *middle* (up to ~5/8: prefix and middle make its *head*) and a *rest*. A top-k search
//! ([`QuantizedIndex::candidates`]) scores the head of every vector, and the rest of a vector
//! only when its head score plus a bound on what the rest can add (Cauchy–Schwarz: the norm of
//! the query's rest times the norm of the vector's) could still place it among the best so
//! far. A threshold search ([`QuantizedIndex::within`], the duplicate probe of a store) scores
//! the prefix of every vector and the next sections only while the same kind of bound could
//! still reach the threshold. Both give exactly the result of scoring every vector in full;
//! what they save depends on the embedder. Models reduced by PCA, as the built-in one is, hold
//! most of their variance in the first dimensions, so the bound is tight: on the 100k memories
//! of the raw-pipe benchmark with the built-in model, a query asking 20–100 candidates reads
//! the rests of 1.5–6% of the vectors (p50), and the scan takes 15–25% less time than scoring
//! every code (1.35–1.63 ms against 1.80–1.92 ms p50; the heads alone are ~1.0 ms, at the
//! memory bandwidth of one core, and each rest read is a scattered cache miss). On vectors with
//! no such order the bound rarely prunes, pages are scored whole, and the scan costs what a
//! full one does.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::fmt;
use std::ops::Range;

use super::kernel::{dot, dots};
use super::slots::SlotTable;

/// Slots per page of codes. Codes live in fixed-size pages rather than one growing `Vec` so
/// that growth never copies (or transiently doubles) tens of megabytes, and at most one page
/// is allocated but unused. Each page is also the block the scoring kernel is called on: it
/// holds the prefixes of its slots one after the other, then their middles, then their rests,
/// so a scan of any leading sections reads one contiguous run per section and page.
const PAGE_SLOTS: usize = 256;

/// Sections of a vector: prefix, middle, rest.
const SECTIONS: usize = 3;

/// Section boundaries are whole chunks of the kernel.
const ALIGN: usize = 32;

/// Sections a top-k search scores for every vector: the head (prefix and middle).
const HEAD_SECTIONS: usize = 2;

/// Where each section of a `dim`-dimensional vector ends. The head is about 5/8 of the
/// dimensions (in a NumPy replica of the scan on the benchmark corpus, 100 candidates: ~2% of
/// rests read, against 7% for 1/2 and 26% for 3/8), or all of a vector too short to split;
/// the prefix about 3/8 (96 of the built-in model's 256), or the whole head when that is
/// shorter than a chunk. An empty section is skipped by the scans.
///
/// The prefix, what a threshold search reads of every vector, was chosen on the built-in
/// model's vectors (NumPy, float16 model): for a threshold of 0.88, the share of vectors whose
/// bound after the prefix still reaches it, p50 / p95 of 300 LoCoMo turns against the 5,882
/// others, is 81% / 90% after 32 dimensions, 29% / 61% after 64, 2.1% / 25% after 96 and
/// 0.03% / 1.5% after 160; on the raw-pipe corpus, where every memory is close to every other,
/// after 96 about 4% of vectors can still enter a threshold search's best 20.
fn section_ends(dim: usize) -> [usize; SECTIONS] {
    let head = match dim * 5 / 8 / ALIGN * ALIGN {
        0 => dim,
        head => head,
    };
    let prefix = match dim * 3 / 8 / ALIGN * ALIGN {
        0 => head,
        prefix => prefix.min(head),
    };
    [prefix, head, dim]
}

/// The dimensions of section `s`.
fn section(ends: &[usize; SECTIONS], s: usize) -> Range<usize> {
    let start = if s == 0 { 0 } else { ends[s - 1] };
    start..ends[s]
}

/// A section is scored for all of a page's slots in one pass when more than one slot in this
/// many could still enter: reading one slot's section is a scattered cache miss that costs
/// several times its share of a contiguous pass over the page. (Not tuned: on the built-in
/// model's vectors the share left after a prefix is mostly far below or far above it, see
/// [`section_ends`].)
const WHOLE_SECTION_SHARE: usize = 8;

/// Relative margin added to the bound before a section is skipped, far above the rounding of
/// f32 scores (~1e-7), so that skipping never changes a result.
const BOUND_SLACK: f32 = 1e-4;

/// Largest stored code: codes span [-127, 127] (never -128, keeping them symmetric).
const CODE_LEVEL: f64 = 127.0;

/// An approximate, in-memory cosine-similarity index over int8-quantized vectors.
///
/// Each vector is normalised to unit length and stored as `dim` signed bytes plus one `f32`
/// scale (`codes[i] × scale ≈ unit[i]`), about 384 bytes for a 384-d embedding instead of
/// 1536. A query is quantized the same way but to 16-bit integers (the kernel widens the stored
/// bytes to 16 bits anyway, so the finer query costs nothing and removes the query's share of
/// the rounding error). Similarity is `q_scale × v_scale × Σ q_i·v_i`, with the sum in integers.
///
/// Removed slots are recycled by later inserts; ids are looked up through a table that stores
/// only slot numbers (see `slots.rs`).
#[derive(Clone)]
pub struct QuantizedIndex {
    dim: usize,
    /// Where each section of a vector ends (see the module doc).
    ends: [usize; SECTIONS],
    /// Largest query code; chosen per dimension so that `Σ q_i·v_i` cannot overflow an i32.
    query_level: f64,
    /// Slot `s` lives in page `s / PAGE_SLOTS` at `i = s % PAGE_SLOTS`: the codes of its
    /// section of dimensions `a..b` at `PAGE_SLOTS * a + i * (b - a)`.
    pages: Vec<Box<[i8]>>,
    /// One per slot; 0.0 marks a free slot (a live vector's scale is always positive).
    scales: Vec<f32>,
    /// One per slot and section but the last: the norm of the codes after that section times
    /// the scale, what the bound needs.
    reach_norms: [Vec<f32>; SECTIONS - 1],
    /// One per slot; empty for a free slot.
    ids: Vec<Box<str>>,
    /// Bytes of id text held by `ids`, for `heap_bytes`.
    id_bytes: usize,
    /// Free slots, reused before new ones are appended.
    free: Vec<u32>,
    table: SlotTable,
    live: usize,
}

// The index sits behind a `std::sync::RwLock` shared between tasks.
const _: fn() = || {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<QuantizedIndex>();
};

/// Norm and largest magnitude of a vector, or None if it cannot be indexed: wrong length, a
/// NaN or infinite element, or all zeros. Computed in f64 so that neither very small nor very
/// large (but finite) f32 elements underflow or overflow.
fn analyse(v: &[f32], dim: usize) -> Option<(f64, f64)> {
    if v.len() != dim {
        return None;
    }
    let mut squares = 0f64;
    let mut max_abs = 0f64;
    for &x in v {
        if !x.is_finite() {
            return None;
        }
        let x = f64::from(x);
        squares += x * x;
        max_abs = max_abs.max(x.abs());
    }
    (max_abs > 0.0).then(|| (squares.sqrt(), max_abs))
}

/// Euclidean norm of integer codes.
fn code_norm<T: Copy + Into<f64>>(codes: &[T]) -> f64 {
    codes.iter().map(|&c| c.into().powi(2)).sum::<f64>().sqrt()
}

/// A scored slot, ordered so that "greater" means "better": higher score, then lower slot
/// (which makes results deterministic when scores tie).
#[derive(Clone, Copy, Debug)]
struct Scored {
    score: f32,
    slot: u32,
}

impl Ord for Scored {
    fn cmp(&self, other: &Self) -> Ordering {
        self.score
            .total_cmp(&other.score)
            .then_with(|| other.slot.cmp(&self.slot))
    }
}
impl PartialOrd for Scored {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl PartialEq for Scored {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Scored {}

/// The best `n` slots offered so far, scoring above a floor; `threshold` is what a slot must
/// beat to enter: the floor, then the worst kept once `n` are kept.
struct Best {
    heap: BinaryHeap<Reverse<Scored>>,
    n: usize,
    threshold: f32,
}

impl Best {
    fn new(n: usize, floor: f32) -> Self {
        Self {
            heap: BinaryHeap::with_capacity(n + 1),
            n,
            threshold: floor,
        }
    }

    fn offer(&mut self, scored: Scored) {
        if scored.score <= self.threshold {
            return;
        }
        self.heap.push(Reverse(scored));
        if self.heap.len() > self.n {
            self.heap.pop();
        }
        if self.heap.len() == self.n
            && let Some(worst) = self.heap.peek()
        {
            self.threshold = worst.0.score;
        }
    }

    /// Best first (ascending order of `Reverse<Scored>`).
    fn into_sorted(self) -> Vec<Scored> {
        self.heap
            .into_sorted_vec()
            .into_iter()
            .map(|Reverse(s)| s)
            .collect()
    }
}

/// The most a slot's full score can be once its first sections score `partial`: what the rest
/// adds is at most `q_reach × reach_norm` (Cauchy–Schwarz), plus a margin over rounding.
#[inline(always)]
fn upper_bound(partial: i32, scale: f32, q_reach: f32, reach_norm: f32) -> f32 {
    let reach = q_reach * reach_norm;
    let bound = partial as f32 * scale + reach;
    bound + BOUND_SLACK * (bound.abs() + reach)
}

impl QuantizedIndex {
    /// An empty index for vectors of `dim` dimensions (the embedder's output size).
    pub fn new(dim: usize) -> Self {
        // |Σ q_i·v_i| ≤ dim × query_level × 127 must fit in an i32. For 384 dims that allows the
        // full i16 range; for 1536 dims ~11000 levels, still far finer than the stored codes.
        let query_level = (i32::MAX as usize / (127 * dim.max(1))).clamp(1, i16::MAX as usize);
        Self {
            dim,
            ends: section_ends(dim),
            query_level: query_level as f64,
            pages: Vec::new(),
            scales: Vec::new(),
            reach_norms: Default::default(),
            ids: Vec::new(),
            id_bytes: 0,
            free: Vec::new(),
            table: SlotTable::default(),
            live: 0,
        }
    }

    /// Number of dimensions every vector must have.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Number of live vectors.
    pub fn len(&self) -> usize {
        self.live
    }

    /// Whether the index holds no live vector.
    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// Inserts or replaces the vector of `id`. Returns false (and leaves the index unchanged) if
    /// the vector has the wrong dimension, is all zeros, or holds NaN/inf.
    ///
    /// The vector need not be normalised; only its direction is kept.
    pub fn upsert(&mut self, id: &str, vector: &[f32]) -> bool {
        let Some((norm, max_abs)) = analyse(vector, self.dim) else {
            return false;
        };
        let slot = match self.table.get(id, &self.ids) {
            Some(slot) => slot as usize,
            None => {
                let slot = match self.free.pop() {
                    Some(slot) => slot as usize,
                    None => {
                        // Slot numbers are u32 and the table stores `slot + 1`.
                        if self.ids.len() >= u32::MAX as usize {
                            return false;
                        }
                        if self.ids.len().is_multiple_of(PAGE_SLOTS) {
                            self.pages
                                .push(vec![0i8; PAGE_SLOTS * self.dim].into_boxed_slice());
                        }
                        self.scales.push(0.0);
                        for norms in &mut self.reach_norms {
                            norms.push(0.0);
                        }
                        self.ids.push(Box::default());
                        self.ids.len() - 1
                    }
                };
                self.ids[slot] = id.into();
                self.id_bytes += id.len();
                self.table.insert(slot as u32, &self.ids);
                self.live += 1;
                slot
            }
        };

        let to_code = CODE_LEVEL / max_abs;
        let code = |x: f32| {
            (f64::from(x) * to_code)
                .round()
                .clamp(-CODE_LEVEL, CODE_LEVEL) as i8
        };
        let mut squares = [0f64; SECTIONS];
        for (s, squares) in squares.iter_mut().enumerate() {
            let dims = section(&self.ends, s);
            let codes = self.slot_section_mut(slot, s);
            for (c, &x) in codes.iter_mut().zip(&vector[dims]) {
                *c = code(x);
                *squares += f64::from(*c).powi(2);
            }
        }
        // One code step in unit-vector units. Positive: max_abs > 0 and the norm is finite.
        let scale = max_abs / (norm * CODE_LEVEL);
        self.scales[slot] = scale as f32;
        for (s, norms) in self.reach_norms.iter_mut().enumerate() {
            norms[slot] = (squares[s + 1..].iter().sum::<f64>().sqrt() * scale) as f32;
        }
        true
    }

    /// Removes the vector of `id`; false if there was none. Its slot is reused by a later insert.
    pub fn remove(&mut self, id: &str) -> bool {
        let Some(slot) = self.table.remove(id, &self.ids) else {
            return false;
        };
        let slot = slot as usize;
        self.scales[slot] = 0.0;
        for norms in &mut self.reach_norms {
            norms[slot] = 0.0;
        }
        self.id_bytes -= self.ids[slot].len();
        self.ids[slot] = Box::default();
        self.free.push(slot as u32);
        self.live -= 1;
        true
    }

    /// Whether `id` has a vector in the index.
    pub fn contains(&self, id: &str) -> bool {
        self.table.get(id, &self.ids).is_some()
    }

    /// The `n` ids with the highest approximate cosine similarity to `query`, best first, with
    /// that approximate similarity.
    ///
    /// The similarity is within about ±0.01 of the exact cosine (for typical embeddings) and
    /// may slightly exceed 1.0; re-rank the candidates with exact vectors ([`super::cosine`])
    /// and ask for several times more candidates than results (e.g. 40–100 for a top 10).
    /// Returns nothing if `query` could not be indexed itself (wrong dimension, zero, NaN/inf).
    pub fn candidates(&self, query: &[f32], n: usize) -> Vec<(String, f32)> {
        self.search(query, n, None)
    }

    /// Like [`Self::candidates`], but only ids whose approximate similarity is above
    /// `min_similarity`: the `n` best of those, best first. Scores only what could reach the
    /// threshold (see the module doc), so a high threshold that few vectors approach costs a
    /// fraction of a top-k search. The approximation is that of `candidates`: to find every
    /// vector whose exact similarity reaches a threshold, ask for a little below it.
    pub fn within(&self, query: &[f32], min_similarity: f32, n: usize) -> Vec<(String, f32)> {
        self.search(query, n, Some(min_similarity))
    }

    /// The `n` best ids for `query`, above `min_similarity` if given.
    fn search(&self, query: &[f32], n: usize, min_similarity: Option<f32>) -> Vec<(String, f32)> {
        if n == 0 || self.live == 0 {
            return Vec::new();
        }
        let Some((q, q_scale)) = self.quantize(query) else {
            return Vec::new();
        };
        let (best, _) = match min_similarity {
            None => self.best(&q, n, f32::NEG_INFINITY, HEAD_SECTIONS),
            Some(min) => self.best(&q, n, min / q_scale, 1),
        };
        best.into_iter()
            .map(|s| (self.ids[s.slot as usize].to_string(), s.score * q_scale))
            .collect()
    }

    /// The query's codes and the scale that turns a slot's score into a similarity, or None if
    /// it cannot be indexed.
    fn quantize(&self, query: &[f32]) -> Option<(Vec<i16>, f32)> {
        let (norm, max_abs) = analyse(query, self.dim)?;
        let to_code = self.query_level / max_abs;
        let q = query
            .iter()
            .map(|&x| (f64::from(x) * to_code).round() as i16)
            .collect();
        Some((q, (max_abs / (norm * self.query_level)) as f32))
    }

    /// The `n` best slots scoring above `floor` for the quantized query `q`, best first, and
    /// how many rests were read. The first `scored` sections of every slot are scored; each
    /// next section of a page's slots is scored in one pass while many of them could still
    /// enter (see [`WHOLE_SECTION_SHARE`]: the first pages of a top-k search, or vectors with
    /// no order along their dimensions, as fast as a full scan), after which the page's slots whose bound still
    /// reaches the threshold are finished one by one, each dropped as soon as its bound fails.
    fn best(&self, q: &[i16], n: usize, floor: f32, scored: usize) -> (Vec<Scored>, usize) {
        // Norm of the query's codes after each section but the last.
        let q_reach: [f32; SECTIONS - 1] =
            std::array::from_fn(|s| code_norm(&q[self.ends[s]..]) as f32);
        let mut best = Best::new(n.min(self.live), floor);
        let mut rests_read = 0;
        let mut partial = [0i32; PAGE_SLOTS];
        let mut section_dots = [0i32; PAGE_SLOTS];
        // Per slot of a page, the most its full score can be (-inf for a free slot).
        let mut uppers = [0f32; PAGE_SLOTS];
        let mut entrants = [0u16; PAGE_SLOTS];
        for (page_no, page) in self.pages.iter().enumerate() {
            let first = page_no * PAGE_SLOTS;
            let count = (self.scales.len() - first).min(PAGE_SLOTS);
            let scales = &self.scales[first..first + count];
            let partial = &mut partial[..count];
            partial.fill(0);
            let mut level = 0;
            // The slots left to finish one by one; None once every section is scored.
            let entering = loop {
                if level == SECTIONS {
                    break None;
                }
                if level >= scored {
                    let reach_norms = &self.reach_norms[level - 1][first..first + count];
                    // One branch-free pass the compiler vectorises: comparing each slot's
                    // bound as it was reached cost 0.1–0.25 ms of a 1.4–1.9 ms scan of 100k.
                    for (((upper, &partial), &scale), &reach_norm) in uppers
                        .iter_mut()
                        .zip(partial.iter())
                        .zip(scales)
                        .zip(reach_norms)
                    {
                        let bound = upper_bound(partial, scale, q_reach[level - 1], reach_norm);
                        *upper = if scale == 0.0 {
                            f32::NEG_INFINITY
                        } else {
                            bound
                        };
                    }
                    let mut entering = 0;
                    for (i, &upper) in uppers[..count].iter().enumerate() {
                        if upper > best.threshold {
                            entrants[entering] = i as u16;
                            entering += 1;
                        }
                    }
                    if entering * WHOLE_SECTION_SHARE <= count {
                        break Some(entering);
                    }
                }
                let dims = section(&self.ends, level);
                if !dims.is_empty() {
                    let codes = &page[PAGE_SLOTS * dims.start..][..count * dims.len()];
                    dots(&q[dims], codes, &mut section_dots[..count]);
                    for (p, &d) in partial.iter_mut().zip(&section_dots[..count]) {
                        *p = p.wrapping_add(d);
                    }
                    if level == SECTIONS - 1 {
                        rests_read += count;
                    }
                }
                level += 1;
            };
            let Some(entering) = entering else {
                for (i, (&dot, &scale)) in partial.iter().zip(scales).enumerate() {
                    if scale != 0.0 {
                        best.offer(Scored {
                            score: dot as f32 * scale,
                            slot: (first + i) as u32,
                        });
                    }
                }
                continue;
            };
            'slots: for &i in &entrants[..entering] {
                let (i, slot) = (usize::from(i), first + usize::from(i));
                let scale = self.scales[slot];
                // The threshold may have risen since the page's bounds were taken.
                if uppers[i] <= best.threshold {
                    continue;
                }
                let mut sum = partial[i];
                for s in level..SECTIONS {
                    if s > level {
                        let bound =
                            upper_bound(sum, scale, q_reach[s - 1], self.reach_norms[s - 1][slot]);
                        if bound <= best.threshold {
                            continue 'slots;
                        }
                    }
                    let dims = section(&self.ends, s);
                    let len = dims.len();
                    if len > 0 {
                        let codes = &page[PAGE_SLOTS * dims.start + i * len..][..len];
                        // The same value a full dot product gives: the parts add in exact
                        // integers.
                        sum = sum.wrapping_add(dot(&q[dims], codes));
                        if s == SECTIONS - 1 {
                            rests_read += 1;
                        }
                    }
                }
                best.offer(Scored {
                    score: sum as f32 * scale,
                    slot: slot as u32,
                });
            }
        }
        (best.into_sorted(), rests_read)
    }

    /// The codes of section `s` of `slot`, to write.
    fn slot_section_mut(&mut self, slot: usize, s: usize) -> &mut [i8] {
        let dims = section(&self.ends, s);
        let (i, len) = (slot % PAGE_SLOTS, dims.len());
        &mut self.pages[slot / PAGE_SLOTS][PAGE_SLOTS * dims.start + i * len..][..len]
    }

    /// Bytes of heap held (codes, scales, ids), for stats and the benchmark.
    ///
    /// Counts capacities, not lengths, and the id table and free list too; excludes only the
    /// allocator's per-allocation overhead (roughly 8–16 bytes per id).
    pub fn heap_bytes(&self) -> usize {
        let codes: usize = self.pages.iter().map(|p| p.len()).sum();
        codes
            + self.pages.capacity() * size_of::<Box<[i8]>>()
            + (self.scales.capacity() + self.reach_norms.iter().map(Vec::capacity).sum::<usize>())
                * size_of::<f32>()
            + self.ids.capacity() * size_of::<Box<str>>()
            + self.id_bytes
            + self.free.capacity() * size_of::<u32>()
            + self.table.heap_bytes()
    }
}

impl fmt::Debug for QuantizedIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QuantizedIndex")
            .field("dim", &self.dim)
            .field("len", &self.live)
            .field("slots", &self.scales.len())
            .field("heap_bytes", &self.heap_bytes())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::super::cosine;
    use super::super::test_rng::Rng;
    use super::*;

    fn exact_top(vectors: &[(String, Vec<f32>)], q: &[f32], k: usize) -> Vec<(String, f32)> {
        let mut all: Vec<(String, f32)> = vectors
            .iter()
            .map(|(id, v)| (id.clone(), cosine(q, v)))
            .collect();
        all.sort_by(|a, b| b.1.total_cmp(&a.1));
        all.truncate(k);
        all
    }

    /// Every live slot scored in full, the best `n` scoring above `floor` first: what `best`
    /// must equal.
    fn full_scan(index: &QuantizedIndex, q: &[i16], n: usize, floor: f32) -> Vec<(u32, f32)> {
        let mut all: Vec<Scored> = (0..index.scales.len())
            .filter(|&slot| index.scales[slot] != 0.0)
            .map(|slot| {
                let (page, i) = (&index.pages[slot / PAGE_SLOTS], slot % PAGE_SLOTS);
                let codes: Vec<i8> = (0..SECTIONS)
                    .flat_map(|s| {
                        let dims = section(&index.ends, s);
                        let len = dims.len();
                        page[PAGE_SLOTS * dims.start + i * len..][..len]
                            .iter()
                            .copied()
                    })
                    .collect();
                let dot: i32 = q
                    .iter()
                    .zip(&codes)
                    .map(|(&a, &b)| i32::from(a) * i32::from(b))
                    .sum();
                Scored {
                    score: dot as f32 * index.scales[slot],
                    slot: slot as u32,
                }
            })
            .filter(|s| s.score > floor)
            .collect();
        all.sort_by(|a, b| b.cmp(a));
        all.truncate(n);
        all.into_iter().map(|s| (s.slot, s.score)).collect()
    }

    /// Vectors whose variance falls off along the dimensions, as a PCA-reduced embedder's do.
    fn ordered_vector(rng: &mut Rng, dim: usize) -> Vec<f32> {
        (0..dim)
            .map(|i| rng.gauss() * (-(i as f32) / (dim as f32 / 6.0)).exp())
            .collect()
    }

    fn quantized_query(index: &QuantizedIndex, v: &[f32]) -> Vec<i16> {
        let max_abs = v.iter().fold(0f32, |m, x| m.max(x.abs()));
        v.iter()
            .map(|&x| (f64::from(x) * index.query_level / f64::from(max_abs)).round() as i16)
            .collect()
    }

    /// Indexes over which the scans are checked against a full scan, with their queries:
    /// several dimensions, data ordered like a PCA-reduced embedder's or not, holes left by
    /// removals. Half the queries are near a stored vector; the others each have four vectors
    /// planted that point the query's way where the bound is tight: two faint in the head
    /// (scoring by their rest alone) and two faint in the prefix (scoring by middle and rest).
    fn scan_fixtures() -> Vec<(usize, bool, QuantizedIndex, Vec<Vec<i16>>)> {
        let mut rng = Rng(77);
        let mut fixtures = Vec::new();
        for (dim, ordered) in [
            (3, false),
            (24, false),
            (64, true),
            (256, true),
            (256, false),
            (384, true),
        ] {
            let mut index = QuantizedIndex::new(dim);
            let count = 3000;
            let draw = |rng: &mut Rng| match ordered {
                true => ordered_vector(rng, dim),
                false => rng.vector(dim),
            };
            let vectors: Vec<Vec<f32>> = (0..count).map(|_| draw(&mut rng)).collect();
            for (i, v) in vectors.iter().enumerate() {
                assert!(index.upsert(&format!("v{i}"), v));
            }
            for i in (0..count).step_by(7) {
                assert!(index.remove(&format!("v{i}")));
            }
            let [prefix, head, _] = index.ends;
            let queries: Vec<Vec<f32>> = (0..40)
                .map(|qi| {
                    if qi % 2 == 0 {
                        let base = &vectors[(rng.next_u64() % count as u64) as usize];
                        base.iter()
                            .map(|x| x + 0.3 * x.abs() * rng.gauss())
                            .collect()
                    } else {
                        let q = draw(&mut rng);
                        for k in 0..4 {
                            let faint = if k < 2 { head } else { prefix };
                            let planted: Vec<f32> = q
                                .iter()
                                .enumerate()
                                .map(|(i, x)| {
                                    if i < faint {
                                        0.05 * x
                                    } else {
                                        (3 + k % 2) as f32 * x
                                    }
                                })
                                .collect();
                            assert!(index.upsert(&format!("p{qi}-{k}"), &planted));
                        }
                        q
                    }
                })
                .collect();
            let queries = queries.iter().map(|q| quantized_query(&index, q)).collect();
            fixtures.push((dim, ordered, index, queries));
        }
        fixtures
    }

    /// Skipping rests by the bound never changes a top-k result: whatever the dimension, the
    /// data, the number asked for and the holes left by removals, the best slots and their
    /// scores are those of a full scan, including the planted vectors (the bound is tight for
    /// them). On data ordered like a PCA-reduced embedder's, most rests are skipped.
    #[test]
    fn skipping_rests_gives_the_full_scan_result() {
        for (dim, ordered, index, queries) in scan_fixtures() {
            let mut rests = 0;
            for (qi, q) in queries.iter().enumerate() {
                for n in [1, 10, 100, 5000] {
                    let (got, read) = index.best(q, n, f32::NEG_INFINITY, HEAD_SECTIONS);
                    let got: Vec<(u32, f32)> = got.iter().map(|s| (s.slot, s.score)).collect();
                    let want = full_scan(&index, q, n, f32::NEG_INFINITY);
                    assert_eq!(got, want, "dim {dim} query {qi} n {n}");
                    if n == 100 {
                        rests += read;
                    }
                }
            }
            let share = rests as f64 / (queries.len() * index.len()) as f64;
            if ordered && dim >= 256 {
                assert!(share < 0.25, "dim {dim}: {share:.3} of rests read");
            }
        }
    }

    /// A threshold search returns exactly what a full scan filtered at the threshold returns:
    /// at floors set to the exact scores of the 1st, 4th, 40th and 400th best slot (so slots
    /// sit right at the floor, which they must not pass), above every score and below all,
    /// for any number asked for, starting from the prefix or from the head. On ordered data a
    /// floor that few slots reach reads few rests.
    #[test]
    fn threshold_search_gives_the_filtered_full_scan_result() {
        for (dim, ordered, index, queries) in scan_fixtures() {
            let (mut rests, mut searches) = (0, 0);
            for (qi, q) in queries.iter().enumerate() {
                let ranked = full_scan(&index, q, usize::MAX, f32::NEG_INFINITY);
                let mut floors: Vec<f32> =
                    [0, 3, 39, 399].iter().map(|&rank| ranked[rank].1).collect();
                floors.extend([ranked[0].1 + 1.0, f32::NEG_INFINITY]);
                for floor in floors {
                    let want_all = full_scan(&index, q, usize::MAX, floor);
                    for n in [1, 5, 5000] {
                        let want = &want_all[..n.min(want_all.len())];
                        for scored in [1, HEAD_SECTIONS] {
                            let (got, read) = index.best(q, n, floor, scored);
                            let got: Vec<(u32, f32)> =
                                got.iter().map(|s| (s.slot, s.score)).collect();
                            assert_eq!(got, want, "dim {dim} query {qi} floor {floor} n {n}");
                            if scored == 1 && floor == ranked[3].1 {
                                rests += read;
                                searches += 1;
                            }
                        }
                    }
                }
            }
            let share = rests as f64 / (searches * index.len()) as f64;
            eprintln!("dim {dim} ordered {ordered}: {share:.4} of rests read");
            if ordered && dim >= 256 {
                assert!(share < 0.05, "dim {dim}: {share:.3} of rests read");
            }
        }
    }

    #[test]
    fn upsert_replace_remove_contains_len() {
        let mut index = QuantizedIndex::new(3);
        assert_eq!(index.dim(), 3);
        assert!(index.is_empty());
        assert!(index.upsert("a", &[1.0, 0.0, 0.0]));
        assert!(index.upsert("b", &[0.0, 1.0, 0.0]));
        assert_eq!(index.len(), 2);
        assert!(index.contains("a") && index.contains("b") && !index.contains("c"));

        // Replacing keeps the count and changes what is found.
        assert_eq!(index.candidates(&[1.0, 0.0, 0.0], 1)[0].0, "a");
        assert!(index.upsert("a", &[0.0, 0.0, 5.0]));
        assert_eq!(index.len(), 2);
        let hits = index.candidates(&[0.0, 0.0, 1.0], 2);
        assert_eq!(hits[0].0, "a");
        assert!((hits[0].1 - 1.0).abs() < 1e-3, "{hits:?}");
        assert!(hits[1].1.abs() < 1e-3, "{hits:?}");

        assert!(index.remove("a"));
        assert!(!index.remove("a"));
        assert!(!index.contains("a"));
        assert_eq!(index.len(), 1);
        // A removed vector is never returned, even when asking for more than exist.
        let hits = index.candidates(&[0.0, 0.0, 1.0], 10);
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].0, "b");
        assert!(index.remove("b"));
        assert!(index.is_empty());
        assert!(index.candidates(&[0.0, 0.0, 1.0], 10).is_empty());
    }

    #[test]
    fn removed_slots_are_reused() {
        let mut rng = Rng(1);
        let mut index = QuantizedIndex::new(16);
        for i in 0..600 {
            assert!(index.upsert(&format!("v{i}"), &rng.vector(16)));
        }
        let (slots, pages, bytes) = (index.scales.len(), index.pages.len(), index.heap_bytes());
        for i in (0..600).step_by(3) {
            assert!(index.remove(&format!("v{i}")));
        }
        assert_eq!(index.len(), 400);
        for i in 0..200 {
            assert!(index.upsert(&format!("w{i}"), &rng.vector(16)));
        }
        assert_eq!(index.len(), 600);
        assert_eq!(
            index.scales.len(),
            slots,
            "new vectors should fill freed slots"
        );
        assert_eq!(index.pages.len(), pages);
        assert!(index.free.is_empty());
        // Only the (now empty) free list kept its capacity; the new ids are no longer.
        assert!(index.heap_bytes() <= bytes + index.free.capacity() * 4);
        // Every live id is findable by its own vector; no removed id comes back.
        for i in 0..600usize {
            assert_eq!(index.contains(&format!("v{i}")), !i.is_multiple_of(3));
        }
        let mut ids: Vec<String> = index
            .candidates(&rng.vector(16), 1000)
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        assert_eq!(ids.len(), 600);
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 600);
        assert!(
            ids.iter()
                .all(|id| !id.starts_with('v') || index.contains(id))
        );
    }

    #[test]
    fn rejects_bad_vectors_and_leaves_the_index_unchanged() {
        let mut index = QuantizedIndex::new(4);
        assert!(index.upsert("a", &[1.0, 2.0, 3.0, 4.0]));
        let before = index.candidates(&[1.0, 2.0, 3.0, 4.0], 1);
        for bad in [
            &[0.0, 0.0, 0.0, 0.0][..],
            &[-0.0, 0.0, -0.0, 0.0],
            &[1.0, f32::NAN, 0.0, 0.0],
            &[1.0, f32::INFINITY, 0.0, 0.0],
            &[f32::NEG_INFINITY, 1.0, 0.0, 0.0],
            &[1.0, 2.0, 3.0],
            &[1.0, 2.0, 3.0, 4.0, 5.0],
            &[],
        ] {
            assert!(!index.upsert("a", bad), "{bad:?}");
            assert!(!index.upsert("new", bad), "{bad:?}");
            assert!(index.candidates(bad, 5).is_empty(), "{bad:?}");
        }
        assert_eq!(index.len(), 1);
        assert!(!index.contains("new"));
        assert_eq!(index.candidates(&[1.0, 2.0, 3.0, 4.0], 1), before);
        assert!(index.candidates(&[1.0, 2.0, 3.0, 4.0], 0).is_empty());

        // Extreme but finite magnitudes are fine: only the direction matters.
        assert!(index.upsert("tiny", &[1e-40, 0.0, 0.0, 0.0]));
        assert!(index.upsert("huge", &[0.0, f32::MAX, f32::MAX, 0.0]));
        let hits = index.candidates(&[0.0, 1.0, 1.0, 0.0], 1);
        assert_eq!(hits[0].0, "huge");
        assert!((hits[0].1 - 1.0).abs() < 1e-3);
        let hits = index.candidates(&[3.0, 0.0, 0.0, 0.0], 1);
        assert_eq!(hits[0].0, "tiny");

        // A zero-dimensional index accepts nothing and finds nothing, without panicking.
        let mut empty = QuantizedIndex::new(0);
        assert!(!empty.upsert("x", &[]));
        assert!(empty.candidates(&[], 3).is_empty());
    }

    /// The exact top 10 is always among the first 40 candidates, and the approximate
    /// similarities are close to the exact ones.
    #[test]
    fn candidates_contain_the_exact_top_ten() {
        let mut rng = Rng(2024);
        for dim in [64, 384] {
            let mut index = QuantizedIndex::new(dim);
            let vectors: Vec<(String, Vec<f32>)> = (0..400)
                .map(|i| (format!("m{i}"), rng.vector(dim)))
                .collect();
            for (id, v) in &vectors {
                assert!(index.upsert(id, v));
            }
            for qi in 0..50usize {
                // Half the queries are near a stored vector, half anywhere.
                let q: Vec<f32> = if qi.is_multiple_of(2) {
                    let base = &vectors[(rng.next_u64() % 400) as usize].1;
                    base.iter().map(|x| x + 0.7 * rng.gauss()).collect()
                } else {
                    rng.vector(dim)
                };
                let exact = exact_top(&vectors, &q, 10);
                let approx = index.candidates(&q, 40);
                assert_eq!(approx.len(), 40);
                assert!(
                    approx.windows(2).all(|w| w[0].1 >= w[1].1),
                    "not best first"
                );
                for (id, _) in &exact {
                    assert!(
                        approx.iter().any(|(a, _)| a == id),
                        "dim {dim} query {qi}: {id} missing"
                    );
                }
                for (id, sim) in &approx {
                    let v = &vectors[id[1..].parse::<usize>().unwrap()].1;
                    let err = (sim - cosine(&q, v)).abs();
                    assert!(err < 0.01, "dim {dim} query {qi}: {id} off by {err}");
                }
            }
        }
    }

    /// When exact similarities are well apart, the approximate order is the exact order.
    #[test]
    fn well_separated_results_keep_the_exact_order() {
        let mut rng = Rng(99);
        let dim = 384;
        let mut index = QuantizedIndex::new(dim);
        // Planted vectors at known angles to the query, amid random ones.
        let q = rng.vector(dim);
        let qn = q.iter().map(|x| x * x).sum::<f32>().sqrt();
        let mut vectors = Vec::new();
        for k in 0..10 {
            let want = 0.95 - 0.05 * k as f32;
            // Noise orthogonal to q, scaled so the cosine is exactly `want`.
            let mut r = rng.vector(dim);
            let along = r.iter().zip(&q).map(|(a, b)| a * b).sum::<f32>() / (qn * qn);
            r.iter_mut().zip(&q).for_each(|(a, b)| *a -= along * b);
            let rn = r.iter().map(|x| x * x).sum::<f32>().sqrt();
            let side = (1.0 - want * want).sqrt();
            let v: Vec<f32> = q
                .iter()
                .zip(&r)
                .map(|(a, b)| want * a / qn + side * b / rn)
                .collect();
            assert!((cosine(&q, &v) - want).abs() < 1e-4);
            vectors.push((format!("p{k}"), v));
        }
        for i in 0..300 {
            vectors.push((format!("r{i}"), rng.vector(dim)));
        }
        // Insert in a scrambled order so slot order says nothing about rank.
        for (id, v) in vectors.iter().rev() {
            assert!(index.upsert(id, v));
        }
        let hits = index.candidates(&q, 10);
        let ids: Vec<&str> = hits.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(
            ids,
            ["p0", "p1", "p2", "p3", "p4", "p5", "p6", "p7", "p8", "p9"]
        );
        for (k, (_, sim)) in hits.iter().enumerate() {
            assert!((sim - (0.95 - 0.05 * k as f32)).abs() < 0.01, "{hits:?}");
        }
        // And generally: within the exact top 10, any two results more than 0.02 apart keep
        // their relative order.
        for _ in 0..20 {
            let q = rng.vector(dim);
            let exact = exact_top(&vectors, &q, 10);
            let approx = index.candidates(&q, 40);
            let rank = |id: &str| approx.iter().position(|(a, _)| a == id).unwrap();
            for (i, a) in exact.iter().enumerate() {
                for b in &exact[i + 1..] {
                    if a.1 - b.1 > 0.02 {
                        assert!(rank(&a.0) < rank(&b.0), "{a:?} vs {b:?}");
                    }
                }
            }
        }
    }

    /// A long random sequence of upserts and removes, checked against a plain map.
    #[test]
    fn random_operations_match_a_model() {
        use std::collections::HashMap;
        let mut rng = Rng(5);
        let dim = 24;
        let mut index = QuantizedIndex::new(dim);
        let mut model: HashMap<String, Vec<f32>> = HashMap::new();
        for step in 0..5000usize {
            let id = format!("id-{}", rng.next_u64() % 700);
            if rng.next_u64().is_multiple_of(3) {
                assert_eq!(
                    index.remove(&id),
                    model.remove(&id).is_some(),
                    "step {step}"
                );
            } else {
                let v = rng.vector(dim);
                assert!(index.upsert(&id, &v));
                model.insert(id, v);
            }
            assert_eq!(index.len(), model.len());
            if step.is_multiple_of(250) {
                for (id, v) in &model {
                    assert!(index.contains(id));
                    // Each vector's nearest neighbour is itself.
                    let hit = &index.candidates(v, 1)[0];
                    assert_eq!(&hit.0, id, "step {step}");
                }
            }
        }
        assert!(index.scales.len() <= 700, "slots were not reused");
    }

    #[test]
    fn heap_bytes_grows_with_content() {
        let mut index = QuantizedIndex::new(384);
        assert_eq!(index.heap_bytes(), 0);
        let mut rng = Rng(3);
        for i in 0..1000 {
            index.upsert(&format!("{i:036}"), &rng.vector(384));
        }
        let bytes = index.heap_bytes();
        // 1000 × 384 codes (in 4 pages of 256) + scales + ids; well below an f32 copy.
        assert!(bytes >= 1024 * 384 + 1000 * (4 + 36), "{bytes}");
        assert!(bytes < 1000 * 384 * 2, "{bytes}");
    }
}
