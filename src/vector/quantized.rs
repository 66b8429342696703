//! [`QuantizedIndex`]: an int8 copy of every stored vector, kept in RAM, scanned for each query
//! to propose candidates that the caller re-ranks exactly, or to score them itself where its
//! error does not matter ([`QuantizedIndex::approximation`]; hybrid search).
//!
//! Why a full scan rather than a graph index (HNSW and kin): at the sizes a memory store reaches
//! (up to ~100k vectors) a linear pass over one byte per dimension is a few milliseconds on one
//! core, needs no tuning, has no build step, supports updates and deletes trivially, and its
//! recall does not degrade with churn. The vectors themselves stay in libSQL (the source of
//! truth); this copy only has to be good enough to put the true neighbours among the first
//! ~40–100 candidates. Memories are alike, and the top of a short query's ranking is flat
//! (on the raw-pipe benchmark's 100k English vectors, the 1st at 0.42, the 50th at 0.35, the
//! 2,000th at 0.27): there hnswlib's graph found 33–79% of the exact top 50 of two-word
//! queries at ef 100–400 (M 16 and 32), and 90–93% only at ef 1,600, 9.5 ms a query, past
//! the quick scan's cost below (`benches/support/graph_index.py`, BENCHMARKS.md).
//!
//! The scan reads the *head* of every vector (its first ~7/8 of dimensions) and the rest of a
//! vector only when its head score plus a bound on what the rest can add (Cauchy–Schwarz: the
//! norm of the query's rest times the norm of the vector's) could still place it among the best
//! so far. The result is exactly that of scoring every vector in full; what it saves depends
//! on the embedder. Models reduced by PCA, as the built-in one is, hold most of their variance
//! in the first dimensions (with the built-in model on English text, 85% in the first 5/8, 96%
//! in the first 7/8), so the bound is tight when the rest is short. The head is long because a
//! rest read is dear: it is a scattered cache miss and a kernel call of its own, against a
//! contiguous stream for the heads. On the raw-pipe benchmark's 100k English memories with
//! the built-in model (200 queries of two words, 50 candidates), a head of 5/8 left the rests
//! of 28% of the vectors to read (p50; 75% p95) and the scan took 2.3–2.7 ms (p25, one core,
//! load 5–6); a head of 7/8 reads 0.3% of the rests (1% p95) and takes 1.5–1.9 ms, the same as
//! scoring every code whole. On vectors with no order along their dimensions the bound rarely
//! prunes, blocks are scored whole, and the scan costs what a full one does.
//!
//! A threshold search ([`QuantizedIndex::within`], the near-duplicate probe) has one more
//! level: it reads the first ~3/8 of every vector (the head's *prefix*) and the rest of a head
//! only where the prefix score plus the same kind of bound could reach the threshold. With a
//! threshold as high as the probe's, text rarely comes near it: on 100k memories of English
//! words the prefix bound lets 0.01% of the store through (p50; 1% p95), so the probe reads
//! 3/7 of the bytes of the heads. A top-k search keeps reading whole heads (its bar is the
//! k-th best, which the prefix bound reaches for most vectors).
//!
//! A quick top-k search ([`QuantizedIndex::candidates_quick`], hybrid search's vector side)
//! gives up exactness for bytes: it scores every prefix, keeps the best [`shortlist`] by that
//! partial score plus an estimate of what the rest adds (2,000 for 50 results; see
//! [`REST_ESTIMATE`]) and scores only those in full. It reads 3/7 of what
//! the head scan reads: on the benchmarks' 2-vCPU machine the head scan of 100k vectors is
//! bound by memory bandwidth (~7.5 GB/s a core, 4.5–4.8 ms for 22 MB of heads), and hybrid
//! search's keyword side runs on the other core meanwhile. What it misses is a
//! vector whose prefix ranks below the shortlist: with the built-in model's 100k English
//! vectors and 200 queries of two words (a NumPy replica), the quick top 50 held 99.6% of
//! the full scan's (86% at worst); 98.8% with a shortlist half as long, 99.9% with one twice
//! as long. The similarities it returns are the full scan's, to the bit. A second replica,
//! its queries drawn differently, put the prefix score alone at 97.1% and 97.4% on its two
//! halves of 100 queries, and the estimate at 97.8% and 98.2%.
//!
//! A large index is scanned by up to four threads at once, each taking runs of blocks as it
//! goes and keeping a best-so-far of its own (see `threads.rs`); the union of their bests
//! holds the overall best, so the result is a single scan's. On the 2-vCPU machine of the
//! benchmarks the two threads share one memory bus and save 5–10% of a `store_memory` with
//! vectors. A quick scan shares its prefixes the same way, then the completion of its
//! shortlist: by then a hybrid search's keyword side has mostly left the other core (inside
//! the server, the prefixes of 100k vectors took 1.9 ms and the shortlist 0.7 on one
//! thread; shared, hybrid search took 2–4% less, paired). Cores with bandwidth of their own
//! save more.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::fmt;

use super::kernel::{dot, dots, prefetch};
use super::slots::SlotTable;
use super::threads::{scan_threads, shared};

/// Slots per page of codes. Codes live in pages rather than one growing `Vec` so that growth
/// never copies (or transiently doubles) tens of megabytes. A page holds the prefixes of its
/// slots one after the other, then the rest of their heads, then their rests, so a scan of
/// prefixes reads one contiguous run per page: with pages of 4,096 slots rather than 256, the
/// prefix scan of 100k vectors took 1.06–1.10 ms rather than 1.18–1.30 alone, and 1.39 rather
/// than 1.83 beside a busy core (medians of 15 cold scans, 96 of 256 dimensions). The first
/// page starts at [`BLOCK_SLOTS`] slots and doubles as it fills (copying its codes, at most
/// half a page's), so a small index holds little; later pages are allocated whole, and at
/// most one page is allocated but unused (1 MB at 256 dimensions).
const PAGE_SLOTS: usize = 4096;

/// Slots per block: what the scoring kernel is called on, and the unit in which a scan
/// decides whether to read rests one by one or a block's at once. A page holds whole blocks.
const BLOCK_SLOTS: usize = 256;

/// Dimensions of a vector's head: about 7/8 of them, in whole chunks of the kernel, or all of a
/// vector too short to split. With the built-in model on 100k English memories, 50 candidates,
/// the bound leaves the rests of 0.3% of the vectors to read (p50; 1% p95) after 7/8, 3.8%
/// (16%) after 6/8 and 28% (75%) after 5/8 (a NumPy replica of the bound, and the scan timed
/// on those vectors: see the module doc).
fn head_dims(dim: usize) -> usize {
    share_dims(dim, 7)
}

/// Dimensions of a head's prefix, which a threshold search scores first: about 3/8 of them
/// (96 of the built-in model's 256). On 100k memories of English words with the built-in
/// model, a new memory's prefix bound reaches the near-duplicate probe's 0.88 for 0.01% of
/// the store (p50; 1% p95), against 3.4% (21%) after 64 dimensions; the top-k bound is too
/// loose there (74% pass against the 20th best), so top-k searches read whole heads.
fn prefix_dims(dim: usize) -> usize {
    share_dims(dim, 3)
}

/// `eighths`/8 of `dim`, in whole chunks of the kernel, or all of a vector too short to split.
fn share_dims(dim: usize, eighths: usize) -> usize {
    const ALIGN: usize = 32;
    match dim * eighths / 8 / ALIGN * ALIGN {
        0 => dim,
        dims => dims,
    }
}

/// Slots a quick top-`n` scan scores in full ([`QuantizedIndex::candidates_quick`]): the best
/// by their prefix's score, [`SHORTLIST_PER_RESULT`] per result and at least
/// [`MIN_SHORTLIST`].
fn shortlist(n: usize) -> usize {
    n.saturating_mul(SHORTLIST_PER_RESULT).max(MIN_SHORTLIST)
}

/// Shortlisted slots ahead of the one scored whose codes are already asked for: each slot's
/// rest of head and rest lie in two places of its page, which a scan in slot order reaches as
/// cache misses one after the other. On the raw-pipe benchmark's 100k vectors, scoring the
/// 2,000 of a quick search in full took 1.0–1.3 ms without, 0.8–0.9 with the codes of the
/// fourth slot ahead asked for (the eighth to the 32nd did no better; means of 200 cold
/// searches).
const PREFETCH_AHEAD: usize = 4;

/// The share of the most the rest of a vector can add to its prefix's score (Cauchy–Schwarz,
/// as in [`upper_bound`]) that a quick scan adds to rank its shortlist by. The prefix score
/// alone ranks a vector whose rest holds much of its length below one whose prefix does; the
/// estimate puts them nearer their full scores. On the raw-pipe benchmark's 100k English
/// vectors, the quick top 50 held, of the full scan's: for 200 queries of two words (a NumPy
/// replica, tuned on its first 100, reported on both halves) 97.1% and 97.4% by the prefix
/// alone, 97.8% and 98.2% with 0.5, 97.2% and 97.7% with 0.7; for 200 stored memories' own
/// vectors (the index itself, the shortlist as long) 92.9% alone, 98.3% with 0.5, 98.9%
/// with 0.7. Short queries gain least: their rest is short.
const REST_ESTIMATE: f32 = 0.5;

/// Shortlisted slots a scan thread completes at a time (see [`QuantizedIndex::shortlisted`]):
/// a quick search's 2,000 make 32 runs, handed out as the prefixes' blocks are.
const COMPLETION_RUN: usize = 64;

/// See [`shortlist`] and the module doc for the recall these give.
const SHORTLIST_PER_RESULT: usize = 40;
const MIN_SHORTLIST: usize = 1000;

/// Cuts `pool` down to its best `keep` (in no particular order) and returns the score of the
/// worst it keeps, or -inf when it holds fewer.
fn best_of(pool: &mut Vec<(Scored, i32)>, keep: usize) -> f32 {
    if pool.len() <= keep {
        return f32::NEG_INFINITY;
    }
    pool.select_nth_unstable_by(keep - 1, |a, b| b.0.cmp(&a.0));
    pool.truncate(keep);
    pool[keep - 1].0.score
}

/// Euclidean norm of a quantized query's part.
fn norm(q: &[i16]) -> f32 {
    q.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>().sqrt() as f32
}

/// Per slot of a block, the most its full score can be (see [`upper_bound`]). One branch-free
/// pass the compiler vectorises: comparing each slot's bound as it was reached cost
/// 0.1–0.25 ms of a 1.4–1.9 ms scan of 100k vectors.
fn upper_bounds(uppers: &mut [f32], partial: &[i32], scales: &[f32], norms: &[f32], q_norm: f32) {
    for (((upper, &dot), &scale), &norm) in uppers.iter_mut().zip(partial).zip(scales).zip(norms) {
        *upper = upper_bound(dot, scale, norm, q_norm);
    }
}

/// The most a slot's full score can be: the score of the codes read so far (`partial`) plus
/// the most the others can add, `q_norm` (the query's norm over them) times the slot's `norm`
/// (Cauchy–Schwarz), with a margin ([`BOUND_SLACK`]); -inf for a free slot (`scale` 0).
#[inline(always)]
fn upper_bound(partial: i32, scale: f32, norm: f32, q_norm: f32) -> f32 {
    let reach = q_norm * norm;
    let bound = partial as f32 * scale + reach;
    let bound = bound + BOUND_SLACK * (bound.abs() + reach);
    if scale == 0.0 {
        f32::NEG_INFINITY
    } else {
        bound
    }
}

/// Appends to `slots[..*len]` the slots whose bound in `uppers` is above `threshold`.
fn push_above(uppers: &[f32], threshold: f32, slots: &mut [u16; BLOCK_SLOTS], len: &mut usize) {
    for (i, &upper) in uppers.iter().enumerate() {
        if upper > threshold {
            slots[*len] = i as u16;
            *len += 1;
        }
    }
}

/// Relative margin added to the bound before a rest is skipped, far above the rounding of
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
    /// Dimensions of each vector's head (see the module doc).
    head: usize,
    /// Dimensions of each head's prefix, at most `head` (see [`prefix_dims`]).
    prefix: usize,
    /// Largest query code; chosen per dimension so that `Σ q_i·v_i` cannot overflow an i32.
    query_level: f64,
    /// Slot `s` lives in page `s / PAGE_SLOTS` at `i = s % PAGE_SLOTS`. A page of `capacity`
    /// slots (its length over `dim`: [`PAGE_SLOTS`], or fewer for a first page still growing)
    /// holds three sections one after the other, each with its slots' codes in slot order:
    /// the heads' prefixes (`prefix` codes each), the rest of the heads (`head - prefix`), the
    /// rests (`dim - head`). A top-k scan reads the first two sections whole.
    pages: Vec<Box<[i8]>>,
    /// One per slot; 0.0 marks a free slot (a live vector's scale is always positive).
    scales: Vec<f32>,
    /// One per slot: the norm of the rest's codes times the scale, what the bound needs.
    rest_norms: Vec<f32>,
    /// One per slot: the same for every code after the prefix, what the prefix bound needs.
    after_prefix_norms: Vec<f32>,
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

/// The codes of one block's slots (see [`BLOCK_SLOTS`]), each section holding `count` slots'
/// codes one after the other.
struct Block<'a> {
    /// The block's first slot.
    first: usize,
    count: usize,
    prefixes: &'a [i8],
    mids: &'a [i8],
    rests: &'a [i8],
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

impl QuantizedIndex {
    /// An empty index for vectors of `dim` dimensions (the embedder's output size).
    pub fn new(dim: usize) -> Self {
        // |Σ q_i·v_i| ≤ dim × query_level × 127 must fit in an i32. For 384 dims that allows the
        // full i16 range; for 1536 dims ~11000 levels, still far finer than the stored codes.
        let query_level = (i32::MAX as usize / (127 * dim.max(1))).clamp(1, i16::MAX as usize);
        Self {
            dim,
            head: head_dims(dim),
            prefix: prefix_dims(dim).min(head_dims(dim)),
            query_level: query_level as f64,
            pages: Vec::new(),
            scales: Vec::new(),
            rest_norms: Vec::new(),
            after_prefix_norms: Vec::new(),
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
                        self.make_room(self.ids.len());
                        self.scales.push(0.0);
                        self.rest_norms.push(0.0);
                        self.after_prefix_norms.push(0.0);
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
        // Squares of the codes of each part: prefix, rest of the head, rest.
        let mut squares = [0f64; 3];
        let mut values = vector.iter();
        for (part, squares) in self.slot_codes_mut(slot).into_iter().zip(&mut squares) {
            for (c, &x) in part.iter_mut().zip(values.by_ref()) {
                *c = code(x);
                *squares += f64::from(*c).powi(2);
            }
        }
        // One code step in unit-vector units. Positive: max_abs > 0 and the norm is finite.
        let scale = max_abs / (norm * CODE_LEVEL);
        self.scales[slot] = scale as f32;
        self.rest_norms[slot] = (squares[2].sqrt() * scale) as f32;
        self.after_prefix_norms[slot] = ((squares[1] + squares[2]).sqrt() * scale) as f32;
        true
    }

    /// Makes sure a page holds `slot`, the next new one: a new page when the last is full, or
    /// the first page doubled while it is smaller than [`PAGE_SLOTS`].
    fn make_room(&mut self, slot: usize) {
        let page = slot / PAGE_SLOTS;
        if page == self.pages.len() {
            let capacity = if page == 0 { BLOCK_SLOTS } else { PAGE_SLOTS };
            self.pages
                .push(vec![0i8; capacity * self.dim].into_boxed_slice());
            return;
        }
        let capacity = self.pages[page].len() / self.dim;
        if slot % PAGE_SLOTS < capacity {
            return;
        }
        let grown = (2 * capacity).min(PAGE_SLOTS);
        let mut codes = vec![0i8; grown * self.dim].into_boxed_slice();
        let (mut from, mut to): (&[i8], &mut [i8]) = (&self.pages[page], &mut codes);
        for len in self.part_dims() {
            let (section, after) = from.split_at(capacity * len);
            let (into, rest) = std::mem::take(&mut to).split_at_mut(grown * len);
            into[..section.len()].copy_from_slice(section);
            (from, to) = (after, rest);
        }
        self.pages[page] = codes;
    }

    /// Removes the vector of `id`; false if there was none. Its slot is reused by a later insert.
    pub fn remove(&mut self, id: &str) -> bool {
        let Some(slot) = self.table.remove(id, &self.ids) else {
            return false;
        };
        let slot = slot as usize;
        self.scales[slot] = 0.0;
        self.rest_norms[slot] = 0.0;
        self.after_prefix_norms[slot] = 0.0;
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

    /// The `n` ids [`Self::candidates`] would most likely return, with the same similarities,
    /// from a scan that reads under half the bytes: for a caller that uses the index's
    /// similarities as they are (hybrid search). Every vector's prefix is scored
    /// and only the [`shortlist`] best by that partial score are scored in full, so a vector
    /// whose prefix ranks below the shortlist is missed however high its full score (see the
    /// module doc for how often). An index no larger than the shortlist gives exactly
    /// `candidates`'s result.
    pub fn candidates_quick(&self, query: &[f32], n: usize) -> Vec<(String, f32)> {
        self.answer(query, n, |q, _| {
            self.shortlisted(q, n, scan_threads(self.blocks()))
        })
    }

    /// Like [`Self::candidates`], but only ids whose approximate similarity is above
    /// `min_similarity`: the `n` best of those, best first. The bounds skip the rest of every
    /// vector whose head cannot reach the threshold, and the rest of every head whose prefix
    /// cannot, from the first slot on (a top-k search only does the first once it holds `n`),
    /// and when few vectors come near the threshold it returns few candidates, so few are
    /// re-ranked. The approximation is that of `candidates`: to
    /// find every vector whose exact similarity reaches a threshold, ask for a little below.
    pub fn within(&self, query: &[f32], min_similarity: f32, n: usize) -> Vec<(String, f32)> {
        self.search(query, n, Some(min_similarity))
    }

    /// The vector of `id` as the index holds it, decoded: of unit length up to the rounding of
    /// its codes (each element within half a code step, 1/254 of the largest), so its cosine
    /// with any query is within the index's error of the exact one. `None` when `id` has no
    /// vector here. A caller that needs similarities to a query the index was not searched
    /// with (hybrid search's feedback query, the neighbours in time) scores these instead of
    /// reading the stored vectors back.
    pub fn approximation(&self, id: &str) -> Option<Vec<f32>> {
        let slot = self.table.get(id, &self.ids)? as usize;
        let scale = self.scales[slot];
        // Part by part: a loop over one slice vectorises, one over the three chained did not
        // (6% of a hybrid search at 100k, which decodes a hundred).
        let mut vector = Vec::with_capacity(self.dim);
        for part in self.slot_codes(slot) {
            vector.extend(part.iter().map(|&c| f32::from(c) * scale));
        }
        Some(vector)
    }

    /// The `n` best ids for `query`, above `min_similarity` if given.
    fn search(&self, query: &[f32], n: usize, min_similarity: Option<f32>) -> Vec<(String, f32)> {
        self.answer(query, n, |q, q_scale| {
            let floor = min_similarity.map_or(f32::NEG_INFINITY, |min| min / q_scale);
            self.best(q, n, floor).0
        })
    }

    /// The slots `scan` finds for `query` quantized (given its codes and the scale that turns
    /// a slot's score into a cosine) as ids with their similarity, in its order; nothing when
    /// `n` is 0, the index is empty or the query cannot be indexed.
    fn answer(
        &self,
        query: &[f32],
        n: usize,
        scan: impl FnOnce(&[i16], f32) -> Vec<Scored>,
    ) -> Vec<(String, f32)> {
        if n == 0 || self.live == 0 {
            return Vec::new();
        }
        let Some((q, q_scale)) = self.quantize(query) else {
            return Vec::new();
        };
        scan(&q, q_scale)
            .into_iter()
            .map(|s| (self.ids[s.slot as usize].to_string(), s.score * q_scale))
            .collect()
    }

    /// `query` as 16-bit codes, and the scale that turns their dot product with a slot's
    /// (times its own scale) into a cosine; `None` for a query that cannot be indexed.
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
    /// how many rests were read. A large index is scanned by several threads at once (see
    /// [`scan_threads`]).
    fn best(&self, q: &[i16], n: usize, floor: f32) -> (Vec<Scored>, usize) {
        self.best_split(q, n, floor, scan_threads(self.blocks()))
    }

    /// [`Self::best`] on `threads` threads (see [`shared`]). Each thread's best `n` hold
    /// every slot of the overall best `n` among the blocks it scanned, so the best `n` of
    /// their union is exactly a single scan's.
    fn best_split(&self, q: &[i16], n: usize, floor: f32, threads: usize) -> (Vec<Scored>, usize) {
        let found = shared(self.blocks(), threads, |blocks| {
            self.best_in(q, n, floor, blocks)
        });
        let rests_read = found.iter().map(|(_, read)| read).sum();
        let mut best: Vec<Scored> = found.into_iter().flat_map(|(best, _)| best).collect();
        best.sort_unstable_by(|a, b| b.cmp(a));
        best.truncate(n);
        (best, rests_read)
    }

    /// [`Self::best`] over `blocks` alone (in increasing order): every slot's head is scored,
    /// its rest only when the bound says it could enter.
    fn best_in(
        &self,
        q: &[i16],
        n: usize,
        floor: f32,
        blocks: impl Iterator<Item = usize>,
    ) -> (Vec<Scored>, usize) {
        let [prefix_dims, mid_dims, rest_dims] = self.part_dims();
        let (q_prefix, q_after) = q.split_at(prefix_dims);
        let (q_mid, q_rest) = q_after.split_at(mid_dims);
        let (q_after_norm, q_rest_norm) = (norm(q_after), norm(q_rest));
        // A threshold search scores the heads' prefixes first (see `prefix_dims`).
        let by_prefix = floor > f32::NEG_INFINITY && mid_dims > 0;
        // Bounded min-heap of the best `n` so far; once it is full almost every slot fails the
        // bound and its rest is never read.
        let n = n.min(self.live);
        let mut best: BinaryHeap<Reverse<Scored>> = BinaryHeap::with_capacity(n + 1);
        let mut threshold = floor;
        let mut rests_read = 0;
        let mut head_dots = [0i32; BLOCK_SLOTS];
        let mut mid_dots = [0i32; BLOCK_SLOTS];
        let mut rest_dots = [0i32; BLOCK_SLOTS];
        // Per slot of a block, the most its full score can be (-inf for a free slot).
        let mut uppers = [0f32; BLOCK_SLOTS];
        for block in blocks {
            let Block {
                first,
                count,
                prefixes,
                mids,
                rests,
            } = self.block(block);
            let head_dots = &mut head_dots[..count];
            let uppers = &mut uppers[..count];
            let scales = &self.scales[first..first + count];
            dots(q_prefix, prefixes, head_dots);
            let rest_norms = &self.rest_norms[first..first + count];
            // The slots that may enter as the block starts, in slot order.
            let mut entrants = [0u16; BLOCK_SLOTS];
            let mut entering = 0;
            // A threshold search first bounds each slot by its prefix. When that lets through
            // at most half of the block (with a high threshold, usually none of it), only the
            // rest of the heads it lets through are read, one by one, and the block's other
            // slots cost nothing more; otherwise every head is read whole.
            let sparse = by_prefix && {
                let after_norms = &self.after_prefix_norms[first..first + count];
                upper_bounds(uppers, head_dots, scales, after_norms, q_after_norm);
                push_above(uppers, threshold, &mut entrants, &mut entering);
                2 * entering <= count
            };
            if sparse {
                let passing = entering;
                entering = 0;
                for k in 0..passing {
                    let i = usize::from(entrants[k]);
                    let mid = dot(q_mid, &mids[i * mid_dims..(i + 1) * mid_dims]);
                    head_dots[i] = head_dots[i].wrapping_add(mid);
                    uppers[i] = upper_bound(head_dots[i], scales[i], rest_norms[i], q_rest_norm);
                    if uppers[i] > threshold {
                        entrants[entering] = i as u16;
                        entering += 1;
                    }
                }
            } else {
                entering = 0;
                if mid_dims > 0 {
                    let mid_dots = &mut mid_dots[..count];
                    dots(q_mid, mids, mid_dots);
                    for (head_dot, &mid_dot) in head_dots.iter_mut().zip(mid_dots.iter()) {
                        *head_dot = head_dot.wrapping_add(mid_dot);
                    }
                }
                upper_bounds(uppers, head_dots, scales, rest_norms, q_rest_norm);
                push_above(uppers, threshold, &mut entrants, &mut entering);
            }
            // When the slots that may enter are most of the block (the first blocks, or vectors
            // with no order along their dimensions), the block's rests are scored in one pass,
            // as fast as a full scan.
            let whole_block = rest_dims > 0 && 2 * entering > count;
            if whole_block {
                dots(q_rest, rests, &mut rest_dots[..count]);
                rests_read += count;
            }
            for &i in &entrants[..entering] {
                let (i, slot) = (usize::from(i), first + usize::from(i));
                let head_dot = head_dots[i];
                // The threshold may have risen since the block started.
                if uppers[i] <= threshold {
                    continue;
                }
                let rest_dot = if whole_block {
                    rest_dots[i]
                } else if rest_dims == 0 {
                    0
                } else {
                    rests_read += 1;
                    dot(q_rest, &rests[i * rest_dims..(i + 1) * rest_dims])
                };
                // The same value a full dot product gives: the two parts add in exact integers.
                let score = head_dot.wrapping_add(rest_dot) as f32 * self.scales[slot];
                if score > threshold {
                    best.push(Reverse(Scored {
                        score,
                        slot: slot as u32,
                    }));
                    if best.len() > n {
                        best.pop();
                    }
                    if best.len() == n {
                        threshold = best.peek().map_or(threshold, |w| w.0.score);
                    }
                }
            }
        }
        // Ascending order of `Reverse<Scored>` is best first.
        let best = best
            .into_sorted_vec()
            .into_iter()
            .map(|Reverse(s)| s)
            .collect();
        (best, rests_read)
    }

    /// The best `n` slots for `q` among the [`shortlist`] best by their prefix's score (plus
    /// the [`REST_ESTIMATE`]), each scored in full (the score [`Self::best`] gives it), best
    /// first. The prefixes, then the shortlist, are scored on `threads` threads (see
    /// [`shared`]).
    fn shortlisted(&self, q: &[i16], n: usize, threads: usize) -> Vec<Scored> {
        let [prefix_dims, mid_dims, _] = self.part_dims();
        let (q_prefix, q_after) = q.split_at(prefix_dims);
        let (q_mid, q_rest) = q_after.split_at(mid_dims);
        let keep = shortlist(n);
        let reach = REST_ESTIMATE * norm(q_after);
        let mut pool: Vec<(Scored, i32)> = shared(self.blocks(), threads, |blocks| {
            self.prefix_best(q_prefix, reach, keep, blocks)
        })
        .concat();
        best_of(&mut pool, keep);
        // In slot order, the codes read are in page order. The shortlist is completed in runs
        // shared among the scan threads like the prefixes' blocks: by the time the prefixes
        // are scored, a hybrid search's keyword side has mostly left the other core.
        pool.sort_unstable_by_key(|(s, _)| s.slot);
        let runs = pool.chunks(COMPLETION_RUN).collect::<Vec<_>>();
        let mut best: Vec<Scored> = shared(runs.len(), threads, |mine| {
            mine.flat_map(|run| self.completed(runs[run], q_mid, q_rest))
                .collect::<Vec<_>>()
        })
        .concat();
        // The best `n` of the shortlist, then only those in order, not all 2,000.
        if best.len() > n {
            best.select_nth_unstable_by(n - 1, |a, b| b.cmp(a));
            best.truncate(n);
        }
        best.sort_unstable_by(|a, b| b.cmp(a));
        best
    }

    /// The full scores of the slots of `run` (in slot order, each with its prefix's partial
    /// dot product), given the query's rest of head and rest.
    fn completed<'a>(
        &'a self,
        run: &'a [(Scored, i32)],
        q_mid: &'a [i16],
        q_rest: &'a [i16],
    ) -> impl Iterator<Item = Scored> + 'a {
        run.iter()
            .enumerate()
            .map(move |(k, &(Scored { slot, .. }, prefix_dot))| {
                if let Some((ahead, _)) = run.get(k + PREFETCH_AHEAD) {
                    let [_, mid, rest] = self.slot_codes(ahead.slot as usize);
                    prefetch(mid);
                    prefetch(rest);
                }
                let [_, mid, rest] = self.slot_codes(slot as usize);
                let mut dot_product = prefix_dot;
                if !q_mid.is_empty() {
                    dot_product = dot_product.wrapping_add(dot(q_mid, mid));
                }
                if !q_rest.is_empty() {
                    dot_product = dot_product.wrapping_add(dot(q_rest, rest));
                }
                let score = dot_product as f32 * self.scales[slot as usize];
                Scored { score, slot }
            })
    }

    /// The best `keep` slots of `blocks` by their prefix's score plus `reach` times the norm
    /// of the rest of their codes, each with its prefix's partial dot product, in no order.
    fn prefix_best(
        &self,
        q_prefix: &[i16],
        reach: f32,
        keep: usize,
        blocks: impl Iterator<Item = usize>,
    ) -> Vec<(Scored, i32)> {
        // Cut back to the best `keep` whenever it holds twice as many, after which a slot
        // must beat the cut's last.
        let mut pool: Vec<(Scored, i32)> = Vec::with_capacity(2 * keep + BLOCK_SLOTS);
        let mut bar = f32::NEG_INFINITY;
        let mut prefix_dots = [0i32; BLOCK_SLOTS];
        for block in blocks {
            let Block {
                first,
                count,
                prefixes,
                ..
            } = self.block(block);
            let prefix_dots = &mut prefix_dots[..count];
            dots(q_prefix, prefixes, prefix_dots);
            let scales = &self.scales[first..first + count];
            let afters = &self.after_prefix_norms[first..first + count];
            for (i, ((&dot, &scale), &after)) in
                prefix_dots.iter().zip(scales).zip(afters).enumerate()
            {
                let score = dot as f32 * scale + reach * after;
                // A free slot's scale is 0. A later slot tied with the bar ranks below it.
                if scale != 0.0 && score > bar {
                    let slot = (first + i) as u32;
                    pool.push((Scored { score, slot }, dot));
                }
            }
            if pool.len() >= 2 * keep {
                bar = best_of(&mut pool, keep);
            }
        }
        best_of(&mut pool, keep);
        pool
    }

    /// Lengths of a slot's three parts: the prefix, the rest of the head, the rest.
    fn part_dims(&self) -> [usize; 3] {
        [self.prefix, self.head - self.prefix, self.dim - self.head]
    }

    /// Blocks of slots, the last one possibly partial.
    fn blocks(&self) -> usize {
        self.scales.len().div_ceil(BLOCK_SLOTS)
    }

    /// The codes of block `block`'s slots, section by section.
    fn block(&self, block: usize) -> Block<'_> {
        let first = block * BLOCK_SLOTS;
        let count = (self.scales.len() - first).min(BLOCK_SLOTS);
        let [prefixes, mids, rests] = self.span(first, count);
        Block {
            first,
            count,
            prefixes,
            mids,
            rests,
        }
    }

    /// The prefix, rest-of-head and rest codes of the `count` slots from `first` on, which
    /// lie in one page, section by section.
    fn span(&self, first: usize, count: usize) -> [&[i8]; 3] {
        let at = first % PAGE_SLOTS;
        let mut codes: &[i8] = &self.pages[first / PAGE_SLOTS];
        let capacity = codes.len() / self.dim;
        self.part_dims().map(|len| {
            let (section, after) = codes.split_at(capacity * len);
            codes = after;
            &section[at * len..(at + count) * len]
        })
    }

    /// The prefix, rest-of-head and rest codes of `slot`.
    fn slot_codes(&self, slot: usize) -> [&[i8]; 3] {
        self.span(slot, 1)
    }

    /// The prefix, rest-of-head and rest codes of `slot`, to write.
    fn slot_codes_mut(&mut self, slot: usize) -> [&mut [i8]; 3] {
        let i = slot % PAGE_SLOTS;
        let lens = self.part_dims();
        let mut codes: &mut [i8] = &mut self.pages[slot / PAGE_SLOTS];
        let capacity = codes.len() / self.dim;
        lens.map(|len| {
            let (section, after) = std::mem::take(&mut codes).split_at_mut(capacity * len);
            codes = after;
            &mut section[i * len..(i + 1) * len]
        })
    }

    /// Bytes of heap held (codes, scales, ids), for stats and the benchmark.
    ///
    /// Counts capacities, not lengths, and the id table and free list too; excludes only the
    /// allocator's per-allocation overhead (roughly 8–16 bytes per id).
    pub fn heap_bytes(&self) -> usize {
        let codes: usize = self.pages.iter().map(|p| p.len()).sum();
        codes
            + self.pages.capacity() * size_of::<Box<[i8]>>()
            + (self.scales.capacity()
                + self.rest_norms.capacity()
                + self.after_prefix_norms.capacity())
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
    use std::collections::{HashMap, HashSet};

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
                let codes: Vec<i8> = index.slot_codes(slot).concat();
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

    /// A vector of 256 dimensions with the spectrum of the built-in model on English text: the
    /// variance of dimension `i` falls off as `(i + 1)^-0.63` (see
    /// `text_like_vectors_leave_few_rests_to_read`).
    fn text_like(rng: &mut Rng) -> Vec<f32> {
        (0..256)
            .map(|i| rng.gauss() * ((i + 1) as f32).powf(-0.315))
            .collect()
    }

    /// An index of `count` [`text_like`] vectors.
    fn text_like_index(rng: &mut Rng, count: usize) -> QuantizedIndex {
        let mut index = QuantizedIndex::new(256);
        for i in 0..count {
            assert!(index.upsert(&format!("v{i}"), &text_like(rng)));
        }
        index
    }

    /// Vectors whose variance falls off along the dimensions, as a PCA-reduced embedder's do.
    fn ordered_vector(rng: &mut Rng, dim: usize) -> Vec<f32> {
        (0..dim)
            .map(|i| rng.gauss() * (-(i as f32) / (dim as f32 / 6.0)).exp())
            .collect()
    }

    /// Indexes over which the scans are checked against a full scan, with their quantized
    /// queries: several dimensions, data ordered like a PCA-reduced embedder's or not, holes
    /// left by removals. Half the queries are near a stored vector; the others each have three
    /// vectors planted whose rest points the query's way and whose head is faint, and one
    /// whose head after the prefix does and the rest is faint (the bounds are tight for them).
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
            let (prefix, head) = (index.prefix, index.head);
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
                            let planted: Vec<f32> = q
                                .iter()
                                .enumerate()
                                .map(|(i, x)| match (k, i < prefix, i < head) {
                                    (3, false, true) => 6.0 * x,
                                    (3, ..) | (_, _, true) => 0.05 * x,
                                    _ => (3 + k) as f32 * x,
                                })
                                .collect();
                            assert!(index.upsert(&format!("p{qi}-{k}"), &planted));
                        }
                        q
                    }
                })
                .collect();
            let queries = queries
                .iter()
                .map(|q| index.quantize(q).expect("an indexable query").0)
                .collect();
            fixtures.push((dim, ordered, index, queries));
        }
        fixtures
    }

    /// Skipping rests by the bound never changes a top-k result: whatever the dimension, the
    /// data, the number asked for and the holes left by removals, the best slots and their
    /// scores are those of a full scan, including the planted vectors. On data ordered like a
    /// PCA-reduced embedder's, most rests are skipped.
    #[test]
    fn skipping_rests_gives_the_full_scan_result() {
        for (dim, ordered, index, queries) in scan_fixtures() {
            let mut rests = 0;
            for (qi, q) in queries.iter().enumerate() {
                for n in [1, 10, 100, 5000] {
                    let (got, read) = index.best(q, n, f32::NEG_INFINITY);
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

    /// On vectors with the spectrum of the built-in model on English text (the variance of
    /// dimension `i` falls off as `(i + 1)^-0.63`, fitted on the raw-pipe benchmark's 100k
    /// memories: 85% of it in the first 5/8 of the dimensions, 96% in the first 7/8), a top-10
    /// scan reads few rests: 7.9% of them here (the first blocks, before the bar settles, read
    /// all), where heads of 6/8 left 16% and heads of 5/8 36%, each a scattered read
    /// (BENCHMARKS.md, "Hybrid search (helper `hybrid`, session 8)").
    #[test]
    fn text_like_vectors_leave_few_rests_to_read() {
        let mut rng = Rng(5);
        let index = text_like_index(&mut rng, 5000);
        let (mut rests, queries) = (0, 20);
        for _ in 0..queries {
            let (q, _) = index.quantize(&text_like(&mut rng)).expect("a query");
            let (found, read) = index.best(&q, 10, f32::NEG_INFINITY);
            assert_eq!(found.len(), 10);
            rests += read;
        }
        let share = rests as f64 / (queries * index.len()) as f64;
        assert!(share < 0.12, "{share:.3} of the rests read");
    }

    /// A scan shared among threads gives exactly what one thread's gives, whatever the number
    /// of threads (up to twice as many as blocks) and the floor.
    #[test]
    fn split_scans_give_the_single_scan_result() {
        for (dim, _, index, queries) in scan_fixtures() {
            for (qi, q) in queries.iter().enumerate().step_by(5) {
                let ranked = full_scan(&index, q, usize::MAX, f32::NEG_INFINITY);
                for floor in [f32::NEG_INFINITY, ranked[39].1] {
                    for n in [1, 10, 100] {
                        let want = full_scan(&index, q, n, floor);
                        for threads in [2, 3, 4, index.blocks(), 2 * index.blocks()] {
                            let (got, _) = index.best_split(q, n, floor, threads);
                            let got: Vec<(u32, f32)> =
                                got.iter().map(|s| (s.slot, s.score)).collect();
                            assert_eq!(got, want, "dim {dim} query {qi} n {n} threads {threads}");
                        }
                    }
                }
            }
        }
    }

    /// A threshold search returns exactly what a full scan filtered at the threshold returns:
    /// at floors set to the exact scores of the 1st, 4th, 40th and 400th best slot (so slots
    /// sit right at the floor, which they must not pass), above every score and below all,
    /// for any number asked for. (It fails when the bound is halved.)
    #[test]
    fn threshold_search_gives_the_filtered_full_scan_result() {
        for (dim, _, index, queries) in scan_fixtures() {
            for (qi, q) in queries.iter().enumerate() {
                let ranked = full_scan(&index, q, usize::MAX, f32::NEG_INFINITY);
                let mut floors: Vec<f32> =
                    [0, 3, 39, 399].iter().map(|&rank| ranked[rank].1).collect();
                floors.extend([ranked[0].1 + 1.0, f32::NEG_INFINITY]);
                for floor in floors {
                    let want_all = full_scan(&index, q, usize::MAX, floor);
                    for n in [1, 5, 5000] {
                        let want = &want_all[..n.min(want_all.len())];
                        let (got, _) = index.best(q, n, floor);
                        let got: Vec<(u32, f32)> = got.iter().map(|s| (s.slot, s.score)).collect();
                        assert_eq!(got, want, "dim {dim} query {qi} floor {floor} n {n}");
                    }
                }
            }
        }
    }

    /// A quick scan returns slots with the scores a full scan gives them, best first, as many
    /// as asked for; over an index no larger than its shortlist, exactly the full scan's best.
    #[test]
    fn quick_scans_score_as_the_full_scan() {
        for (dim, _, index, queries) in scan_fixtures() {
            assert!(
                index.len() > MIN_SHORTLIST,
                "the fixtures must need a shortlist"
            );
            for (qi, q) in queries.iter().enumerate() {
                let all: HashMap<u32, f32> = full_scan(&index, q, usize::MAX, f32::NEG_INFINITY)
                    .into_iter()
                    .collect();
                for n in [1, 10, 100] {
                    let got = index.shortlisted(q, n, 1);
                    assert_eq!(got.len(), n, "dim {dim} query {qi} n {n}");
                    // Shared among threads, the prefixes shortlist the same slots.
                    for threads in [2, 3, index.blocks()] {
                        let shared = index.shortlisted(q, n, threads);
                        assert_eq!(shared, got, "dim {dim} query {qi} n {n} threads {threads}");
                    }
                    assert!(got.is_sorted_by(|a, b| a > b), "dim {dim} query {qi} n {n}");
                    for s in &got {
                        assert_eq!(Some(&s.score), all.get(&s.slot), "dim {dim} query {qi}");
                    }
                }
            }
        }
        let mut rng = Rng(12);
        let mut index = QuantizedIndex::new(256);
        for i in 0..MIN_SHORTLIST {
            assert!(index.upsert(&format!("v{i}"), &ordered_vector(&mut rng, 256)));
        }
        for _ in 0..5 {
            let q = ordered_vector(&mut rng, 256);
            for n in [1, 50, MIN_SHORTLIST] {
                assert_eq!(index.candidates_quick(&q, n), index.candidates(&q, n));
            }
        }
    }

    /// On vectors with the spectrum of the built-in model on English text (see
    /// `text_like_vectors_leave_few_rests_to_read`), a quick top-50 scan of 50,000 vectors
    /// finds nearly all of the full scan's best 50: all of them here, where a shortlist a
    /// tenth as long finds 92% and fails.
    #[test]
    fn quick_scans_find_nearly_all_of_the_best_on_text_like_vectors() {
        let mut rng = Rng(6);
        let index = text_like_index(&mut rng, 50_000);
        let (queries, n) = (20, 50);
        let mut found = 0;
        for _ in 0..queries {
            let q = text_like(&mut rng);
            let want: HashSet<String> = index.candidates(&q, n).into_iter().map(|c| c.0).collect();
            found += index
                .candidates_quick(&q, n)
                .iter()
                .filter(|(id, _)| want.contains(id))
                .count();
        }
        let recall = found as f64 / (queries * n) as f64;
        assert!(recall >= 0.99, "{recall:.4} of the best 50 found");
    }

    /// A vector whose prefix scores low but whose rest is long and points the query's way is
    /// shortlisted by the estimate of its rest: here it is the best, and 1,500 vectors whose
    /// prefixes score higher (and nothing after) would push it out of a shortlist of 1,000
    /// ranked by prefixes alone.
    #[test]
    fn quick_scans_shortlist_by_an_estimate_of_the_rest() {
        let dim = 256;
        // A vector of these (dimension, value) pairs, zero elsewhere.
        let vector = |parts: &[(usize, f32)]| {
            let mut v = vec![0.0; dim];
            for &(d, value) in parts {
                v[d] = value;
            }
            v
        };
        let mut index = QuantizedIndex::new(dim);
        for i in 0..1500 {
            let v = vector(&[(0, 0.2), (1 + i % 95, 0.98)]);
            assert!(index.upsert(&format!("prefix{i}"), &v));
        }
        assert!(index.upsert("target", &vector(&[(0, 0.1), (100, 0.995)])));
        let q = vector(&[(0, 0.6), (100, 0.8)]);
        assert!(shortlist(1) < 1500);
        assert_eq!(index.candidates(&q, 1)[0].0, "target");
        assert_eq!(index.candidates_quick(&q, 1)[0].0, "target");
    }

    /// `within` keeps what `candidates` finds above the threshold, with the same similarities.
    #[test]
    fn within_is_candidates_above_the_threshold() {
        let mut rng = Rng(8);
        let mut index = QuantizedIndex::new(64);
        for i in 0..500 {
            assert!(index.upsert(&format!("v{i}"), &ordered_vector(&mut rng, 64)));
        }
        for _ in 0..20 {
            let q = ordered_vector(&mut rng, 64);
            let all = index.candidates(&q, 500);
            for min in [all[0].1 + 0.01, all[2].1 - 1e-3, all[30].1 - 1e-3, -2.0] {
                for n in [1, 10, 500] {
                    let want: Vec<(String, f32)> = all
                        .iter()
                        .filter(|(_, sim)| *sim > min)
                        .take(n)
                        .cloned()
                        .collect();
                    assert_eq!(index.within(&q, min, n), want, "min {min} n {n}");
                }
            }
            assert!(index.within(&q, 0.5, 0).is_empty());
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

    /// A decoded vector is the stored one's direction within the index's error: its cosine
    /// with a query is close to what the scan reports for it (which divides by the stored
    /// vector's exact norm, not the decoded one's, and rounds the query) and within 0.01 of
    /// the exact cosine; removed or unknown ids have none.
    #[test]
    fn approximations_score_like_the_scan() {
        let mut rng = Rng(31);
        for dim in [3, 64, 256] {
            let mut index = QuantizedIndex::new(dim);
            let vectors: Vec<Vec<f32>> = (0..300).map(|_| ordered_vector(&mut rng, dim)).collect();
            for (i, v) in vectors.iter().enumerate() {
                assert!(index.upsert(&format!("v{i}"), v));
            }
            assert!(index.remove("v7"));
            assert_eq!(index.approximation("v7"), None);
            assert_eq!(index.approximation("nowhere"), None);
            for _ in 0..10 {
                let q = ordered_vector(&mut rng, dim);
                for (id, sim) in index.candidates(&q, 50) {
                    let approx = index.approximation(&id).expect("a live id");
                    assert_eq!(approx.len(), dim);
                    let norm = approx.iter().map(|x| x * x).sum::<f32>().sqrt();
                    assert!((norm - 1.0).abs() < 0.01, "{id}: norm {norm}");
                    let exact = cosine(&q, &vectors[id[1..].parse::<usize>().unwrap()]);
                    let decoded = cosine(&q, &approx);
                    assert!(
                        (decoded - sim).abs() < 5e-3,
                        "{id}: {decoded} vs scan {sim}"
                    );
                    assert!((decoded - exact).abs() < 0.01, "{id}: {decoded} vs {exact}");
                }
            }
        }
    }

    /// Every vector keeps its codes as the first page doubles (256 slots up to 4,096, its
    /// sections moved apart) and as whole pages follow it: each decodes to its own direction,
    /// and finds itself first.
    #[test]
    fn codes_survive_the_growth_of_pages() {
        let mut rng = Rng(41);
        let dim = 64;
        let mut index = QuantizedIndex::new(dim);
        let vectors: Vec<Vec<f32>> = (0..2 * PAGE_SLOTS + 100).map(|_| rng.vector(dim)).collect();
        for (i, v) in vectors.iter().enumerate() {
            assert!(index.upsert(&format!("v{i}"), v));
            if [BLOCK_SLOTS, PAGE_SLOTS, PAGE_SLOTS + 1].contains(&(i + 1)) {
                let capacity = index.pages[0].len() / dim;
                assert_eq!(capacity, (i + 1).min(PAGE_SLOTS), "after {} vectors", i + 1);
            }
        }
        assert_eq!(index.pages.len(), 3);
        for (i, v) in vectors.iter().enumerate() {
            let approx = index.approximation(&format!("v{i}")).expect("a live id");
            assert!(cosine(v, &approx) > 0.999, "v{i}");
        }
        for i in (0..vectors.len()).step_by(97) {
            assert_eq!(index.candidates(&vectors[i], 1)[0].0, format!("v{i}"));
            assert_eq!(index.candidates_quick(&vectors[i], 1)[0].0, format!("v{i}"));
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
        // 1000 × 384 codes (in a first page grown to 1024 slots) + scales + ids; well below an
        // f32 copy.
        assert!(bytes >= 1024 * 384 + 1000 * (4 + 36), "{bytes}");
        assert!(bytes < 1000 * 384 * 2, "{bytes}");
    }
}
