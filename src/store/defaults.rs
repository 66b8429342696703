//! What a request gets for what it leaves out, in one place for both front ends: the MCP tools
//! and `memctl` give a model and a person the same answer to the same question.
//!
//! The MCP tool schemas state several of these in their descriptions, which are doc comments
//! and cannot name a constant; a test in `tests/integration/mcp/` checks that they agree.

/// Importance of a memory when the writer gives none: the middle, so that ranking goes by
/// relevance until someone says a memory matters more or less.
pub const IMPORTANCE: f32 = 0.5;

/// Confidence of a memory or relationship when the writer gives none: what is written down is
/// taken as true until said otherwise.
pub const CONFIDENCE: f32 = 1.0;

/// Strength of a relationship when the writer gives none: the middle, so an unqualified link
/// counts in recall, but less than one said to be strong.
pub const STRENGTH: f32 = 0.5;

/// Hits on a page of search results: a screenful, and what a model reads at a glance.
pub const SEARCH_LIMIT: usize = 10;

/// Memories in a recall, matched and linked together: enough to cover a task, few enough that
/// each gets a fair share of the briefing.
pub const RECALL_LIMIT: usize = 8;

/// Characters of a recall briefing (about 1,000 tokens), or the store's `max_briefing_chars`
/// limit when that is lower.
pub const BRIEFING_CHARS: usize = 4000;

/// Memories on a page of a listing, newest first.
pub const LIST_LIMIT: usize = 20;

/// Hops a walk from one memory takes (related memories): its direct neighbours.
pub const WALK_DEPTH: u32 = 1;

/// Related memories shown from one memory.
pub const RELATED_LIMIT: usize = 50;

/// Longest path looked for between two memories, in relationships.
pub const PATH_MAX_HOPS: u32 = 4;

/// Hops an MCP `explore` walks from its starting memories: far enough to show a topic's
/// shape. `memctl explore` and `memctl graph` walk [`WALK_DEPTH`] unless told (`--depth`).
pub const EXPLORE_DEPTH: u32 = 2;

/// Most memories in an explored subgraph.
pub const EXPLORE_MAX_NODES: usize = 100;

/// Best matches of a query that exploring by query starts from.
pub const EXPLORE_SEEDS: usize = 5;

/// Most central memories an exploration names.
pub const CENTRAL_SHOWN: usize = 5;

/// Near-duplicates named when a memory is stored: enough to spot a copy without burying the
/// answer.
pub const SIMILAR_SHOWN: usize = 3;
