//! The memory tools. Each one translates its parameters into store calls and the store's
//! answer into a [`Reply`]; every rule about memories stays in [`crate::store`].
//!
//! Output schemas are named explicitly (`output_schema = …`): the tools return [`Reply`], not
//! rmcp's `Json`, so that the text beside the structured content is compact rather than a
//! second copy of the JSON.

use rmcp::handler::server::tool::schema_for_output;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::{tool, tool_router};

use super::MnemographServer;
use super::format;
use super::params::{
    CreateRelationshipParams, ExploreParams, FindPathParams, GetMemoryParams, GetRelatedParams,
    IdParam, ListParams, RecallParams, SearchParams, StoreMemoryParams, UpdateMemoryParams,
    UpdateRelationshipParams,
};
use super::results::{
    CentralOut, DeletedOut, ExploreOut, GetMemoryOut, ListOut, MemoryBrief, MemoryOut,
    NeighbourOut, PathOut, RecallItemOut, RecallOut, RelatedOut, RelationshipOut,
    RelationshipResultOut, Reply, SearchHitOut, SearchOut, SimilarOut, StatsOut, StoreMemoryOut,
    SyncOut, ToolError, ToolResult,
};
use crate::graph::PathCost;
use crate::model::{Direction, Filter, LinkedMemory, MemoryPatch, RelationshipPatch, Traversal};
use crate::store::{
    BriefingHints, NewMemory, NewRelationship, PathQuery, RecallQuery, RecallReason, defaults,
    parse_time,
};

/// How a model stores what it learns and reads what a briefing left out, with these tools.
const BRIEFING_HINTS: BriefingHints = BriefingHints {
    nothing_found: "Store what you learn with store_memory.",
    more: "raise max_chars or get_memory them by id",
};

#[tool_router(router = memory_tools, vis = "pub(super)")]
impl MnemographServer {
    #[tool(
        name = "store_memory",
        title = "Store a memory",
        description = "Store something worth remembering: a fix, a decision, a pattern, an error and its cause, a preference. Search first (search_memories) so you update or link instead of duplicating. Returns the new id and up to 3 similar existing memories; `links` creates relationships to existing memories in the same call.",
        output_schema = schema_for_output::<StoreMemoryOut>(),
        annotations(title = "Store a memory", read_only_hint = false, destructive_hint = false, idempotent_hint = false, open_world_hint = false)
    )]
    async fn store_memory(
        &self,
        Parameters(p): Parameters<StoreMemoryParams>,
    ) -> ToolResult<StoreMemoryOut> {
        let store = &self.store;
        let new = NewMemory {
            kind: p.kind,
            title: p.title,
            content: p.content,
            tags: p.tags,
            context: p.context.map(Into::into).unwrap_or_default(),
            importance: p.importance,
            confidence: p.confidence,
            ..Default::default()
        };
        let links = p.links.into_iter().map(Into::into).collect();
        let LinkedMemory {
            memory,
            created,
            relationships,
        } = store.create_with_links(new, links).await?;
        let similar = match store.similar(&memory, defaults::SIMILAR_SHOWN).await {
            Ok(hits) => hits,
            Err(err) => {
                // The memory is stored; hints are a nicety.
                tracing::warn!(%err, "could not look for similar memories");
                Vec::new()
            }
        };
        let data = StoreMemoryOut {
            id: memory.id,
            version: memory.version,
            created: created.into(),
            links: relationships
                .into_iter()
                .map(|(rel, _)| RelationshipOut::from(rel))
                .collect(),
            similar: similar
                .into_iter()
                .map(|h| SimilarOut {
                    id: h.memory.id,
                    kind: h.memory.kind,
                    title: h.memory.title,
                    score: h.score,
                    snippet: h.snippet,
                })
                .collect(),
        };
        self.written(format::stored(&data), data)
    }

    #[tool(
        name = "get_memory",
        title = "Get memories",
        description = "Read one or more memories in full by id, optionally with their relationships.",
        output_schema = schema_for_output::<GetMemoryOut>(),
        annotations(title = "Get memories", read_only_hint = true, destructive_hint = false, idempotent_hint = true, open_world_hint = false)
    )]
    async fn get_memory(
        &self,
        Parameters(p): Parameters<GetMemoryParams>,
    ) -> ToolResult<GetMemoryOut> {
        let fetched = self.store.get_many(&p.ids).await?;
        if fetched.memories.is_empty()
            && let Some(err) = fetched.missing_error()
        {
            return Err(err.into());
        }
        let mut memories = Vec::with_capacity(fetched.memories.len());
        for memory in fetched.memories {
            let relationships = if p.with_relationships {
                let rels = self.store.relationships(&memory.id).await?;
                Some(rels.into_iter().map(Into::into).collect())
            } else {
                None
            };
            memories.push(MemoryOut {
                relationships,
                ..memory.into()
            });
        }
        let data = GetMemoryOut {
            memories,
            missing: fetched.missing,
        };
        Ok(Reply {
            text: format::got(&data),
            data,
        })
    }

    #[tool(
        name = "update_memory",
        title = "Update a memory",
        description = "Change some fields of a memory; omitted fields stay as they are. Pass expected_version (from get_memory) to fail instead of overwriting someone else's change.",
        output_schema = schema_for_output::<MemoryOut>(),
        annotations(title = "Update a memory", read_only_hint = false, destructive_hint = true, idempotent_hint = true, open_world_hint = false)
    )]
    async fn update_memory(
        &self,
        Parameters(p): Parameters<UpdateMemoryParams>,
    ) -> ToolResult<MemoryOut> {
        let patch = MemoryPatch {
            kind: p.kind,
            title: p.title,
            content: p.content,
            tags: p.tags,
            context: p.context.map(Into::into),
            importance: p.importance,
            confidence: p.confidence,
        };
        let memory = self
            .store
            .update(&p.id, patch, None, p.expected_version)
            .await?;
        let data = MemoryOut::from(memory);
        self.written(format!("updated {} to v{}", data.id, data.version), data)
    }

    #[tool(
        name = "delete_memory",
        title = "Delete a memory",
        description = "Delete a memory for good, with all its relationships. Prefer update_memory, or a SUPERSEDES relationship from a newer memory, when knowledge changed rather than was wrong.",
        output_schema = schema_for_output::<DeletedOut>(),
        annotations(title = "Delete a memory", read_only_hint = false, destructive_hint = true, idempotent_hint = true, open_world_hint = false)
    )]
    async fn delete_memory(&self, Parameters(p): Parameters<IdParam>) -> ToolResult<DeletedOut> {
        let deleted = self.store.delete(&p.id).await?;
        let data = DeletedOut {
            deleted: deleted.id,
            relationships_removed: deleted.relationships.len(),
        };
        self.written(format::deleted(&data), data)
    }

    #[tool(
        name = "search_memories",
        title = "Search memories",
        description = "Find memories by words (keyword), by meaning (semantic) or both (hybrid), with optional filters. Returns ranked hits with a snippet and why each matched; page with cursor. Use recall instead for a ready-to-read briefing.",
        output_schema = schema_for_output::<SearchOut>(),
        annotations(title = "Search memories", read_only_hint = true, destructive_hint = false, idempotent_hint = true, open_world_hint = false)
    )]
    async fn search_memories(
        &self,
        Parameters(p): Parameters<SearchParams>,
    ) -> ToolResult<SearchOut> {
        let filter = p.filter.into_filter()?;
        let page = self
            .store
            .search(
                &p.query,
                p.mode,
                &filter,
                self.store.limits().page(p.limit, defaults::SEARCH_LIMIT)?,
                p.cursor.as_deref(),
            )
            .await?;
        let data = SearchOut {
            mode: page.mode.as_str().to_owned(),
            next_cursor: page.next_cursor,
            hits: page
                .hits
                .into_iter()
                .map(|h| SearchHitOut {
                    matched_by: match (h.parts.keyword_rank, h.parts.semantic_rank) {
                        (Some(_), Some(_)) => "both",
                        (None, Some(_)) => "semantic",
                        _ => "keyword",
                    }
                    .to_owned(),
                    keyword_score: h.parts.keyword,
                    semantic_score: h.parts.semantic,
                    id: h.memory.id,
                    kind: h.memory.kind,
                    title: h.memory.title,
                    tags: h.memory.tags,
                    importance: h.memory.importance,
                    created_at: h.memory.created_at,
                    snippet: h.snippet,
                    score: h.score,
                    matched_terms: h.matched_terms,
                    matched_fields: h.matched_fields,
                })
                .collect(),
        };
        Ok(Reply {
            text: format::search(&data),
            data,
        })
    }

    #[tool(
        name = "recall",
        title = "Recall what helps",
        description = "Ask \"what do I know that helps with X\" before starting a task or when stuck. Matches are expanded through relationships (a matched error brings the fix that SOLVES it), ranked, and returned as a short briefing within max_chars.",
        output_schema = schema_for_output::<RecallOut>(),
        annotations(title = "Recall what helps", read_only_hint = true, destructive_hint = false, idempotent_hint = true, open_world_hint = false)
    )]
    async fn recall(&self, Parameters(p): Parameters<RecallParams>) -> ToolResult<RecallOut> {
        let query = RecallQuery {
            query: p.query,
            filter: p.filter.into_filter()?,
            limit: self.store.limits().page(p.limit, defaults::RECALL_LIMIT)?,
            max_chars: p.max_chars,
            hints: BRIEFING_HINTS,
        };
        let recall = self.store.recall(&query).await?;
        let items = recall
            .items
            .into_iter()
            .map(|r| {
                let (reason, terms, rel_type, direction, via_id) = match r.reason {
                    RecallReason::Matched { terms } => ("matched", terms, None, None, None),
                    RecallReason::Linked {
                        rel_type,
                        direction,
                        via_id,
                        ..
                    } => {
                        let direction = match direction {
                            Direction::Incoming => "incoming",
                            _ => "outgoing",
                        };
                        (
                            "linked",
                            Vec::new(),
                            Some(rel_type),
                            Some(direction.to_owned()),
                            Some(via_id),
                        )
                    }
                };
                RecallItemOut {
                    id: r.memory.id,
                    kind: r.memory.kind,
                    title: r.memory.title,
                    score: r.score,
                    reason: reason.to_owned(),
                    terms,
                    rel_type,
                    direction,
                    via_id,
                }
            })
            .collect();
        let data = RecallOut {
            briefing: recall.briefing,
            items,
            omitted: recall.omitted,
        };
        Ok(Reply {
            text: data.briefing.clone(),
            data,
        })
    }

    #[tool(
        name = "create_relationship",
        title = "Link two memories",
        description = "Create a typed, directed relationship source -> target, e.g. fix SOLVES error, error CAUSES problem, decision SUPERSEDES decision. One per (source, target, type).",
        output_schema = schema_for_output::<RelationshipResultOut>(),
        annotations(title = "Link two memories", read_only_hint = false, destructive_hint = false, idempotent_hint = true, open_world_hint = false)
    )]
    async fn create_relationship(
        &self,
        Parameters(p): Parameters<CreateRelationshipParams>,
    ) -> ToolResult<RelationshipResultOut> {
        let new = NewRelationship {
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
        };
        let (rel, created) = self.store.link(new).await?;
        let data = RelationshipResultOut {
            relationship: rel.into(),
            created: Some(created.into()),
        };
        self.written(format::relationship_result(&data), data)
    }

    #[tool(
        name = "update_relationship",
        title = "Update a relationship",
        description = "Change a relationship's strength, confidence, note or validity. To record that a fact stopped being true, set valid_to rather than deleting it.",
        output_schema = schema_for_output::<RelationshipResultOut>(),
        annotations(title = "Update a relationship", read_only_hint = false, destructive_hint = true, idempotent_hint = true, open_world_hint = false)
    )]
    async fn update_relationship(
        &self,
        Parameters(p): Parameters<UpdateRelationshipParams>,
    ) -> ToolResult<RelationshipResultOut> {
        let time = |field: &'static str, value: Option<String>| {
            value
                .map(|t| match t.trim() {
                    "" => Ok(None),
                    t => parse_time(field, t).map(Some),
                })
                .transpose()
        };
        let patch = RelationshipPatch {
            strength: p.strength,
            confidence: p.confidence,
            note: p.note.map(Some),
            properties: None,
            valid_from: time("valid_from", p.valid_from)?,
            valid_to: time("valid_to", p.valid_to)?,
        };
        let rel = self
            .store
            .update_relationship(&p.id, patch, p.expected_version)
            .await?;
        let data = RelationshipResultOut {
            relationship: rel.into(),
            created: None,
        };
        self.written(format::relationship_result(&data), data)
    }

    #[tool(
        name = "delete_relationship",
        title = "Delete a relationship",
        description = "Delete a relationship by id (the memories stay). To keep history instead, set valid_to with update_relationship.",
        output_schema = schema_for_output::<DeletedOut>(),
        annotations(title = "Delete a relationship", read_only_hint = false, destructive_hint = true, idempotent_hint = true, open_world_hint = false)
    )]
    async fn delete_relationship(
        &self,
        Parameters(p): Parameters<IdParam>,
    ) -> ToolResult<DeletedOut> {
        let rel = self.store.get_relationship(&p.id).await?;
        self.store.unlink(&rel.id).await?;
        let data = DeletedOut {
            deleted: rel.id,
            relationships_removed: 1,
        };
        let text = format!(
            "deleted relationship {} ({} -{}-> {})",
            data.deleted, rel.source_id, rel.rel_type, rel.target_id
        );
        self.written(text, data)
    }

    #[tool(
        name = "get_related",
        title = "Get related memories",
        description = "Memories linked to one memory, up to `depth` hops away, nearest first; filter by direction and relationship types.",
        output_schema = schema_for_output::<RelatedOut>(),
        annotations(title = "Get related memories", read_only_hint = true, destructive_hint = false, idempotent_hint = true, open_world_hint = false)
    )]
    async fn get_related(
        &self,
        Parameters(p): Parameters<GetRelatedParams>,
    ) -> ToolResult<RelatedOut> {
        let traversal = Traversal {
            direction: p.direction.into(),
            rel_types: p.types,
            depth: p.depth.unwrap_or(defaults::WALK_DEPTH),
            include_expired: p.include_expired,
            filter: Filter::default(),
            // The cap counts the start too.
            max_nodes: p.limit.unwrap_or(defaults::RELATED_LIMIT) + 1,
        };
        let neighbours = self.store.neighbours(&p.id, &traversal).await?;
        let data = RelatedOut {
            id: p.id,
            neighbours: neighbours
                .into_iter()
                .map(|n| NeighbourOut {
                    memory: n.memory.into(),
                    depth: n.depth,
                    via: n.via.into(),
                })
                .collect(),
        };
        Ok(Reply {
            text: format::related(&data),
            data,
        })
    }

    #[tool(
        name = "find_path",
        title = "Find a path between memories",
        description = "The shortest chain of relationships connecting two memories (or the strongest one), with the memories and relationships along it.",
        output_schema = schema_for_output::<PathOut>(),
        annotations(title = "Find a path between memories", read_only_hint = true, destructive_hint = false, idempotent_hint = true, open_world_hint = false)
    )]
    async fn find_path(&self, Parameters(p): Parameters<FindPathParams>) -> ToolResult<PathOut> {
        let query = PathQuery {
            max_hops: p.max_hops.unwrap_or(defaults::PATH_MAX_HOPS),
            rel_types: p.types,
            cost: if p.strongest {
                PathCost::Strength
            } else {
                PathCost::Hops
            },
            directed: p.directed,
        };
        let data = match self.store.find_path(&p.from_id, &p.to_id, &query).await? {
            Some(path) => PathOut {
                found: true,
                hops: path.hops,
                memories: path.memories.into_iter().map(Into::into).collect(),
                relationships: path.relationships.into_iter().map(Into::into).collect(),
            },
            None => PathOut {
                found: false,
                hops: 0,
                memories: Vec::new(),
                relationships: Vec::new(),
            },
        };
        Ok(Reply {
            text: format::path(&data),
            data,
        })
    }

    #[tool(
        name = "explore",
        title = "Explore the graph",
        description = "The subgraph around some memories (ids) or around the best matches of a query: its memories, relationships, most central memories and clusters. Use it to get the lay of the land on a topic.",
        output_schema = schema_for_output::<ExploreOut>(),
        annotations(title = "Explore the graph", read_only_hint = true, destructive_hint = false, idempotent_hint = true, open_world_hint = false)
    )]
    async fn explore(&self, Parameters(p): Parameters<ExploreParams>) -> ToolResult<ExploreOut> {
        let traversal = Traversal {
            direction: Direction::Both,
            rel_types: p.types,
            depth: p.depth.unwrap_or(defaults::EXPLORE_DEPTH),
            include_expired: false,
            filter: Filter::default(),
            max_nodes: p.max_nodes.unwrap_or(defaults::EXPLORE_MAX_NODES),
        };
        let exploration = match (p.ids.is_empty(), p.query.as_deref().map(str::trim)) {
            (false, _) => {
                self.store
                    .explore(&p.ids, &traversal, defaults::CENTRAL_SHOWN)
                    .await?
            }
            (true, Some(query)) if !query.is_empty() => {
                self.store
                    .explore_query(
                        query,
                        &Filter::default(),
                        defaults::EXPLORE_SEEDS,
                        &traversal,
                        defaults::CENTRAL_SHOWN,
                    )
                    .await?
            }
            _ => {
                return Err(ToolError(
                    "give memory ids to explore around, or a query whose matches to explore around"
                        .to_owned(),
                ));
            }
        };
        let data = ExploreOut {
            nodes: exploration
                .subgraph
                .nodes
                .into_iter()
                .map(Into::into)
                .collect(),
            edges: exploration
                .subgraph
                .edges
                .into_iter()
                .map(Into::into)
                .collect(),
            central: exploration
                .central
                .into_iter()
                .map(|(id, score)| CentralOut { id, score })
                .collect(),
            clusters: exploration.clusters,
            truncated: exploration.subgraph.truncated,
        };
        Ok(Reply {
            text: format::explore(&data),
            data,
        })
    }

    #[tool(
        name = "list_memories",
        title = "List memories",
        description = "Recent memories, newest first, optionally filtered by kind, tags, project, date or importance; page with cursor.",
        output_schema = schema_for_output::<ListOut>(),
        annotations(title = "List memories", read_only_hint = true, destructive_hint = false, idempotent_hint = true, open_world_hint = false)
    )]
    async fn list_memories(&self, Parameters(p): Parameters<ListParams>) -> ToolResult<ListOut> {
        let filter = p.filter.into_filter()?;
        let page = self
            .store
            .list(
                &filter,
                p.cursor.as_deref(),
                self.store.limits().page(p.limit, defaults::LIST_LIMIT)?,
            )
            .await?;
        let data = ListOut {
            memories: page.memories.iter().map(MemoryBrief::from).collect(),
            next_cursor: page.next_cursor,
        };
        Ok(Reply {
            text: format::list(&data),
            data,
        })
    }

    #[tool(
        name = "memory_stats",
        title = "Memory statistics",
        description = "How many memories and relationships the store holds (by kind and type), its size and location, the embedder and the sync mode.",
        output_schema = schema_for_output::<StatsOut>(),
        annotations(title = "Memory statistics", read_only_hint = true, destructive_hint = false, idempotent_hint = true, open_world_hint = false)
    )]
    async fn memory_stats(&self) -> ToolResult<StatsOut> {
        let stats = self.store.stats().await?;
        let meta = self.store.meta().await?;
        let embedding = self.store.embedding_report().await?;
        let embedder = embedding.embedder;
        let data = StatsOut {
            memories: stats.memories,
            relationships: stats.relationships,
            embedded: stats.embedded,
            by_kind: stats.by_kind.into_iter().collect(),
            by_rel_type: stats.by_rel_type.into_iter().collect(),
            size_bytes: stats.size_bytes,
            store_path: self.app.path().display().to_string(),
            namespace: self.app.location().namespace.clone(),
            store_id: meta.store_id,
            schema_version: meta.schema_version,
            embedder: embedder.model.unwrap_or(embedder.provider),
            embedder_state: embedder.state.to_owned(),
            embedder_detail: embedder.detail,
            embedding_dim: embedder.dimension,
            pending_embeddings: embedding.pending,
            sync: SyncOut::from(&self.app.sync_status()),
        };
        Ok(Reply {
            text: format::stats(&data),
            data,
        })
    }

    #[tool(
        name = "sync",
        title = "Sync with the primary",
        description = "Sync this device's memory with the shared primary now (replica mode: pull other devices' changes and send writes queued while offline) and report the sync state. Normally not needed: syncing runs on a timer. A local store has nothing to sync.",
        output_schema = schema_for_output::<SyncOut>(),
        annotations(title = "Sync with the primary", read_only_hint = false, destructive_hint = false, idempotent_hint = true, open_world_hint = true)
    )]
    async fn sync(&self) -> ToolResult<SyncOut> {
        // A failed sync is an answer, not a tool error: the status says what failed.
        if let Err(err) = self.app.sync_now().await {
            tracing::debug!(%err, "sync requested over MCP failed");
        }
        let status = self.app.sync_status();
        Ok(Reply {
            text: status.to_string(),
            data: SyncOut::from(&status),
        })
    }

    /// The reply to a write, telling the model when the write waits for the primary.
    fn written<T>(&self, text: String, data: T) -> ToolResult<T> {
        let status = self.app.sync_status();
        let text = match status.pending_writes {
            0 => text,
            n => format!(
                "{text}\nqueued on this device: the primary is unreachable, so this write waits \
                 with {n} in all and is sent when the primary is back (memory_stats shows the \
                 sync state)"
            ),
        };
        Ok(Reply { text, data })
    }
}
