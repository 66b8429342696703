//! The synthetic corpus the tests' workload and the benchmarks share (they include this file
//! with `#[path]`, so it stands alone): deterministic memories of ~200 characters.
//!
//! Words are 8,000 distinct pseudo-words drawn with P(k) ∝ 1/(k + 20): the most common one is
//! about 0.8% of all words (in about a fifth of the memories), like a frequent content word of
//! English once stopwords are gone, and most words are rare. Memory `i` is the same whenever
//! it is generated, so a benchmark can draw queries from stored text without reading it back.

use std::collections::BTreeSet;

use mnemograph::model::Context;
use mnemograph::store::NewMemory;

pub const REL_TYPES: &[&str] = &[
    "RELATED_TO",
    "SOLVES",
    "CAUSES",
    "DEPENDS_ON",
    "USES",
    "PART_OF",
];
const KINDS: &[&str] = &[
    "solution", "problem", "error", "fix", "decision", "pattern", "note",
];

/// splitmix64: small, fast, deterministic.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    pub fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A standard normal sample (Box–Muller).
    #[allow(dead_code)] // used by store_bench only; each benchmark compiles this module alone
    pub fn gauss(&mut self) -> f32 {
        let (u, v) = (self.unit().max(1e-12), self.unit());
        ((-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()) as f32
    }

    /// An index below `n` with P(k) ∝ 1/(k + 20), by inverting the continuous distribution.
    fn zipf(&mut self, n: usize) -> usize {
        const Q: f64 = 20.0;
        let k = (Q + 1.0) * ((n as f64 + Q) / (Q + 1.0)).powf(self.unit()) - Q;
        (k as usize).saturating_sub(1).min(n - 1)
    }
}

pub struct Corpus {
    words: Vec<String>,
}

impl Corpus {
    pub fn new() -> Self {
        let mut rng = Rng(7);
        const SYL: &[&str] = &[
            "ka", "ro", "mi", "tex", "lun", "pra", "zo", "quin", "del", "far", "sto", "vy", "bel",
            "nor", "gri", "pol", "tu", "sha", "wen", "dax",
        ];
        let mut words = BTreeSet::new();
        while words.len() < 8000 {
            let word: String = (0..2 + rng.below(3))
                .map(|_| SYL[rng.below(SYL.len())])
                .collect();
            words.insert(word);
        }
        let mut words: Vec<String> = words.into_iter().collect();
        // Shuffle so frequency rank is unrelated to spelling.
        for i in (1..words.len()).rev() {
            words.swap(i, rng.below(i + 1));
        }
        Corpus { words }
    }

    /// A corpus of the given words, the first the most frequent (real words, in the order
    /// of their frequency in some text).
    #[allow(dead_code)] // the raw-pipe benchmark's store with vectors; others use `new`
    pub fn from_words(words: Vec<String>) -> Self {
        assert!(!words.is_empty(), "a corpus needs words");
        Corpus { words }
    }

    pub fn sentence(&self, rng: &mut Rng, words: usize) -> String {
        (0..words)
            .map(|_| self.words[rng.zipf(self.words.len())].as_str())
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Memory `i` without a vector: a five-word title and 26 words of content, and the
    /// generator positioned after them (for a vector or anything else derived from `i`).
    pub fn memory(&self, i: usize) -> (NewMemory, Rng) {
        let mut rng = Rng(i as u64 * 31 + 1);
        let memory = NewMemory {
            kind: KINDS[rng.below(KINDS.len())].into(),
            title: self.sentence(&mut rng, 5),
            content: self.sentence(&mut rng, 26),
            tags: (0..2).map(|_| format!("tag{}", rng.below(50))).collect(),
            context: Context {
                project: Some(format!("project{}", rng.below(20))),
                ..Context::default()
            },
            importance: Some(rng.unit() as f32),
            ..NewMemory::default()
        };
        (memory, rng)
    }

    /// `words` words of a random one of the first `n` memories' content, as a user would
    /// quote them.
    #[allow(dead_code)] // the known-item benchmark quotes a memory it chose
    pub fn query(&self, rng: &mut Rng, n: usize, words: usize) -> String {
        let i = rng.below(n);
        self.quote(rng, i, words)
    }

    /// `words` words drawn from memory `i`'s content (now and then the same one twice).
    pub fn quote(&self, rng: &mut Rng, i: usize, words: usize) -> String {
        let content = self.memory(i).0.content;
        let all: Vec<&str> = content.split(' ').collect();
        (0..words)
            .map(|_| all[rng.below(all.len())])
            .collect::<Vec<_>>()
            .join(" ")
    }
}
