//! Tool parameters: what a model sends, with the schema it reads.
//!
//! Doc comments become the descriptions the model sees, so they say what a field is for and
//! give an example. Few fields are required; bounds are in the schema so a client can check
//! them, and the store checks them again (a schema is advice, not a guarantee).

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::graph::PathCost;
use crate::model::{Context, Direction, Filter, MemoryPatch, RelationshipPatch, Traversal};
use crate::store::{
    LinkDirection, NewLink, NewMemory, NewRelationship, PathQuery, SearchMode, defaults, parse_time,
};

/// Where a memory applies. All fields are optional.
// The one open object of the inputs: extra keys are kept as they are, so the schema types
// them instead of schemars' bare `true`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[schemars(extend("additionalProperties" = {
    "type": ["string", "number", "boolean", "array", "object", "null"]
}))]
pub struct ContextParam {
    /// Project name, e.g. "mnemograph". Used by the `project` filter of searches.
    pub project: Option<String>,
    /// Repository, e.g. "github.com/acme/api".
    pub repo: Option<String>,
    /// Files or directories concerned, e.g. ["src/store/mod.rs"].
    #[serde(default)]
    pub paths: Vec<String>,
    /// Programming language, e.g. "rust".
    pub language: Option<String>,
    /// Git branch, e.g. "main".
    pub branch: Option<String>,
    /// Git commit, e.g. "a6c9b10".
    pub commit: Option<String>,
    /// Any other facts worth keeping, as extra keys.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl From<ContextParam> for Context {
    fn from(c: ContextParam) -> Self {
        Context {
            project: c.project,
            repo: c.repo,
            paths: c.paths,
            language: c.language,
            branch: c.branch,
            commit: c.commit,
            extra: c.extra,
        }
    }
}

/// A relationship to create together with a new memory.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkParam {
    /// Id of an existing memory.
    pub target_id: String,
    /// Relationship type in UPPER_SNAKE case: SOLVES, CAUSES, FIXES, DEPENDS_ON, PART_OF,
    /// RELATED_TO, SUPERSEDES, CONTRADICTS, EXAMPLE_OF, USES, or a custom one.
    #[schemars(example = &"SOLVES")]
    pub rel_type: String,
    /// `outgoing` (default): new memory → target. `incoming`: target → new memory.
    #[serde(default)]
    pub direction: LinkDirection,
    /// How strong the relationship is, 0..1 (default 0.5).
    #[schemars(range(min = 0.0, max = 1.0))]
    pub strength: Option<f32>,
    /// Why the two are related, in a sentence.
    pub note: Option<String>,
}

impl From<LinkParam> for NewLink {
    fn from(l: LinkParam) -> Self {
        NewLink {
            id: None,
            target_id: l.target_id,
            direction: l.direction,
            rel_type: l.rel_type,
            strength: l.strength,
            note: l.note,
        }
    }
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StoreMemoryParams {
    /// What sort of knowledge this is. Well-known kinds: solution, problem, error, fix,
    /// decision, pattern, convention, preference, task, technology, file, concept, person,
    /// note. Another lower-case word is accepted.
    #[schemars(example = &"fix")]
    pub kind: String,
    /// One-line summary that will make sense out of context, at most 300 characters.
    #[schemars(example = &"SQLite 'database is locked' under concurrent writers: use BEGIN IMMEDIATE")]
    #[schemars(length(min = 1, max = 300))]
    pub title: String,
    /// The details: what happened, why, what to do. Markdown is fine. At most 64 KiB; split
    /// larger material into linked memories.
    #[schemars(length(min = 1))]
    pub content: String,
    /// Short keywords, e.g. ["sqlite", "concurrency"]. Normalised to lower case.
    #[serde(default)]
    #[schemars(length(max = 32))]
    pub tags: Vec<String>,
    /// How much this matters, 0..1 (default 0.5).
    #[schemars(range(min = 0.0, max = 1.0))]
    pub importance: Option<f32>,
    /// How sure you are it is right, 0..1 (default 1).
    #[schemars(range(min = 0.0, max = 1.0))]
    pub confidence: Option<f32>,
    /// Where it applies: project, repo, paths, language, branch, commit.
    pub context: Option<ContextParam>,
    /// Relationships to existing memories, created in the same call, e.g.
    /// [{"target_id": "<error id>", "rel_type": "SOLVES"}].
    #[serde(default)]
    #[schemars(length(max = 20))]
    pub links: Vec<LinkParam>,
}

impl StoreMemoryParams {
    /// The memory to store and the links to make with it.
    pub fn into_new(self) -> (NewMemory, Vec<NewLink>) {
        let memory = NewMemory {
            kind: self.kind,
            title: self.title,
            content: self.content,
            tags: self.tags,
            context: self.context.map(Into::into).unwrap_or_default(),
            importance: self.importance,
            confidence: self.confidence,
            ..Default::default()
        };
        (memory, self.links.into_iter().map(Into::into).collect())
    }
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetMemoryParams {
    /// One or more memory ids.
    #[schemars(length(min = 1, max = 50))]
    pub ids: Vec<String>,
    /// Also return each memory's relationships (default false).
    #[serde(default)]
    pub with_relationships: bool,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMemoryParams {
    /// Id of the memory to change.
    pub id: String,
    /// The version you read; the update fails if the memory changed since. Omit to
    /// overwrite unconditionally.
    #[schemars(range(min = 1))]
    pub expected_version: Option<i64>,
    /// New kind (see store_memory).
    pub kind: Option<String>,
    /// New one-line title.
    #[schemars(length(min = 1, max = 300))]
    pub title: Option<String>,
    /// New content (replaces the old content entirely).
    #[schemars(length(min = 1))]
    pub content: Option<String>,
    /// New tags (replace the old ones).
    #[schemars(length(max = 32))]
    pub tags: Option<Vec<String>>,
    #[schemars(range(min = 0.0, max = 1.0))]
    pub importance: Option<f32>,
    #[schemars(range(min = 0.0, max = 1.0))]
    pub confidence: Option<f32>,
    /// New context (replaces the old one).
    pub context: Option<ContextParam>,
}

impl UpdateMemoryParams {
    /// The memory's id, the changes (omitted fields stay as they are) and the version read.
    pub fn into_update(self) -> (String, MemoryPatch, Option<i64>) {
        let patch = MemoryPatch {
            kind: self.kind,
            title: self.title,
            content: self.content,
            tags: self.tags,
            context: self.context.map(Into::into),
            importance: self.importance,
            confidence: self.confidence,
        };
        (self.id, patch, self.expected_version)
    }
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IdParam {
    /// The id.
    pub id: String,
}

/// Filters shared by search, recall and listing. Every filter given must hold.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
pub struct FilterParams {
    /// Only these kinds, e.g. ["error", "fix"].
    #[serde(default)]
    pub kinds: Vec<String>,
    /// Only memories carrying all of these tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Only memories of this project (context.project).
    pub project: Option<String>,
    /// Only memories created at or after this time: RFC 3339 ("2025-06-01T00:00:00Z") or a
    /// date ("2025-06-01").
    pub since: Option<String>,
    /// Only memories at least this important.
    #[schemars(range(min = 0.0, max = 1.0))]
    pub min_importance: Option<f32>,
}

impl FilterParams {
    pub fn into_filter(self) -> crate::Result<Filter> {
        Ok(Filter {
            kinds: self.kinds,
            tags: self.tags,
            project: self.project,
            since: self
                .since
                .as_deref()
                .map(|s| parse_time("since", s))
                .transpose()?,
            min_importance: self.min_importance,
        })
    }
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchParams {
    /// What to look for, in plain words, e.g. "sqlite locked concurrent writes".
    #[schemars(length(min = 1, max = 4096))]
    pub query: String,
    /// keyword (full text), semantic (by meaning) or hybrid (both). Default: hybrid when an
    /// embedder is configured, otherwise keyword.
    pub mode: Option<SearchMode>,
    #[serde(flatten)]
    pub filter: FilterParams,
    /// Results per page (default 10).
    #[schemars(range(min = 1, max = 50))]
    pub limit: Option<usize>,
    /// The next_cursor of the previous page, to get the next one.
    pub cursor: Option<String>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecallParams {
    /// The task or problem at hand, e.g. "cargo build fails with E0502 in the parser".
    #[schemars(length(min = 1, max = 4096))]
    pub query: String,
    #[serde(flatten)]
    pub filter: FilterParams,
    /// Most memories in the briefing (default 8).
    #[schemars(range(min = 1, max = 50))]
    pub limit: Option<usize>,
    /// Size budget of the briefing in characters (default 4000; about 4 characters a token).
    #[schemars(range(min = 200, max = 50000))]
    pub max_chars: Option<usize>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRelationshipParams {
    /// Id of the memory the relationship starts from, e.g. the fix.
    pub source_id: String,
    /// Id of the memory it points to, e.g. the error the fix solves.
    pub target_id: String,
    /// Type in UPPER_SNAKE case. Well-known: SOLVES, CAUSES, FIXES, DEPENDS_ON, PART_OF,
    /// RELATED_TO, SUPERSEDES, CONTRADICTS, EXAMPLE_OF, USES. Custom types are accepted.
    #[schemars(example = &"SOLVES")]
    pub rel_type: String,
    /// How strong the relationship is, 0..1 (default 0.5). Recall ranks by it.
    #[schemars(range(min = 0.0, max = 1.0))]
    pub strength: Option<f32>,
    /// How sure you are it holds, 0..1 (default 1).
    #[schemars(range(min = 0.0, max = 1.0))]
    pub confidence: Option<f32>,
    /// Why, in a sentence.
    pub note: Option<String>,
    /// When it started to hold (RFC 3339 or a date).
    pub valid_from: Option<String>,
    /// When it stopped holding (RFC 3339 or a date); an ended relationship is kept as history
    /// but no longer followed.
    pub valid_to: Option<String>,
}

impl TryFrom<CreateRelationshipParams> for NewRelationship {
    type Error = crate::Error;

    fn try_from(p: CreateRelationshipParams) -> crate::Result<Self> {
        Ok(NewRelationship {
            source_id: p.source_id,
            target_id: p.target_id,
            rel_type: p.rel_type,
            strength: p.strength,
            confidence: p.confidence,
            note: p.note,
            valid_from: p
                .valid_from
                .as_deref()
                .map(|t| parse_time("valid_from", t))
                .transpose()?,
            valid_to: p
                .valid_to
                .as_deref()
                .map(|t| parse_time("valid_to", t))
                .transpose()?,
            ..Default::default()
        })
    }
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateRelationshipParams {
    /// Id of the relationship.
    pub id: String,
    /// The version you read; the update fails if it changed since.
    #[schemars(range(min = 1))]
    pub expected_version: Option<i64>,
    #[schemars(range(min = 0.0, max = 1.0))]
    pub strength: Option<f32>,
    #[schemars(range(min = 0.0, max = 1.0))]
    pub confidence: Option<f32>,
    /// New note; "" removes it.
    pub note: Option<String>,
    /// New start of validity (RFC 3339 or a date); "" removes it.
    pub valid_from: Option<String>,
    /// New end of validity (RFC 3339 or a date), e.g. now when a fact stopped being true;
    /// "" removes it.
    pub valid_to: Option<String>,
}

impl UpdateRelationshipParams {
    /// The relationship's id, the changes and the version read. An empty note or time
    /// removes it.
    pub fn into_update(self) -> crate::Result<(String, RelationshipPatch, Option<i64>)> {
        let time = |field: &'static str, value: Option<String>| {
            value
                .map(|t| match t.trim() {
                    "" => Ok(None),
                    t => parse_time(field, t).map(Some),
                })
                .transpose()
        };
        let patch = RelationshipPatch {
            strength: self.strength,
            confidence: self.confidence,
            note: self.note.map(Some),
            properties: None,
            valid_from: time("valid_from", self.valid_from)?,
            valid_to: time("valid_to", self.valid_to)?,
        };
        Ok((self.id, patch, self.expected_version))
    }
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetRelatedParams {
    /// Id of the memory to start from.
    pub id: String,
    /// outgoing (this → others), incoming (others → this) or both (default).
    #[serde(default)]
    pub direction: DirectionParam,
    /// Only follow these relationship types, e.g. ["SOLVES", "CAUSES"]; default all.
    #[serde(default)]
    pub types: Vec<String>,
    /// How many hops to walk (default 1).
    #[schemars(range(min = 1, max = 6))]
    pub depth: Option<u32>,
    /// Most memories to return (default 50).
    #[schemars(range(min = 1, max = 500))]
    pub limit: Option<usize>,
    /// Also follow relationships whose validity has ended (default false).
    #[serde(default)]
    pub include_expired: bool,
}

impl GetRelatedParams {
    /// The memory to start from and the walk asked for.
    pub fn into_walk(self) -> (String, Traversal) {
        let traversal = Traversal {
            direction: self.direction.into(),
            rel_types: self.types,
            depth: self.depth.unwrap_or(defaults::WALK_DEPTH),
            include_expired: self.include_expired,
            filter: Filter::default(),
            // The cap counts the start too.
            max_nodes: self.limit.unwrap_or(defaults::RELATED_LIMIT) + 1,
        };
        (self.id, traversal)
    }
}

/// Direction of a walk.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DirectionParam {
    Outgoing,
    Incoming,
    #[default]
    Both,
}

impl From<DirectionParam> for Direction {
    fn from(d: DirectionParam) -> Self {
        match d {
            DirectionParam::Outgoing => Direction::Outgoing,
            DirectionParam::Incoming => Direction::Incoming,
            DirectionParam::Both => Direction::Both,
        }
    }
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FindPathParams {
    /// Id of the first memory.
    pub from_id: String,
    /// Id of the second memory.
    pub to_id: String,
    /// Longest path considered, in relationships (default 4).
    #[schemars(range(min = 1, max = 6))]
    pub max_hops: Option<u32>,
    /// Only use these relationship types; default all.
    #[serde(default)]
    pub types: Vec<String>,
    /// Prefer the strongest chain (product of strengths) over the fewest hops.
    #[serde(default)]
    pub strongest: bool,
    /// Only follow relationships from source to target.
    #[serde(default)]
    pub directed: bool,
}

impl FindPathParams {
    /// The two ends and what a path between them may be.
    pub fn into_query(self) -> (String, String, PathQuery) {
        let query = PathQuery {
            max_hops: self.max_hops.unwrap_or(defaults::PATH_MAX_HOPS),
            rel_types: self.types,
            cost: if self.strongest {
                PathCost::Strength
            } else {
                PathCost::Hops
            },
            directed: self.directed,
        };
        (self.from_id, self.to_id, query)
    }
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExploreParams {
    /// Memory ids to explore around. Give ids or a query.
    #[serde(default)]
    #[schemars(length(max = 50))]
    pub ids: Vec<String>,
    /// Or: explore around the best matches of this query.
    pub query: Option<String>,
    /// Hops from the starting memories (default 2).
    #[schemars(range(min = 1, max = 4))]
    pub depth: Option<u32>,
    /// Most memories in the subgraph (default 100).
    #[schemars(range(min = 1, max = 500))]
    pub max_nodes: Option<usize>,
    /// Only follow these relationship types; default all.
    #[serde(default)]
    pub types: Vec<String>,
}

impl ExploreParams {
    /// The walk around the starting memories: both ways, currently valid relationships.
    pub fn traversal(&self) -> Traversal {
        Traversal {
            direction: Direction::Both,
            rel_types: self.types.clone(),
            depth: self.depth.unwrap_or(defaults::EXPLORE_DEPTH),
            include_expired: false,
            filter: Filter::default(),
            max_nodes: self.max_nodes.unwrap_or(defaults::EXPLORE_MAX_NODES),
        }
    }
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    #[serde(flatten)]
    pub filter: FilterParams,
    /// Memories per page, newest first (default 20).
    #[schemars(range(min = 1, max = 50))]
    pub limit: Option<usize>,
    /// The next_cursor of the previous page.
    pub cursor: Option<String>,
}
