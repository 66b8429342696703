//! The memory tools. Each one is parameters → store call → result: the parameters become
//! store input in `params.rs`, the store's answer becomes the result in `results/mapping.rs`,
//! and every rule about memories stays in [`crate::store`].
//!
//! Output schemas are named explicitly (`output_schema = …`): the tools return [`Reply`], not
//! rmcp's `Json`, so that the text beside the structured content is compact rather than a
//! second copy of the JSON.

use rmcp::handler::server::tool::schema_for_output;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::service::RequestContext;
use rmcp::{RoleServer, tool, tool_router};

use super::MnemographServer;
use super::format;
use super::params::{
    CreateRelationshipParams, ExploreParams, FindPathParams, GetMemoryParams, GetRelatedParams,
    IdParam, ListParams, RecallParams, SearchParams, StoreMemoryParams, UpdateMemoryParams,
    UpdateRelationshipParams,
};
use super::results::{
    DeletedOut, ExploreOut, GetMemoryOut, ListOut, MemoryOut, PathOut, RecallOut, RelatedOut,
    RelationshipResultOut, Reply, SearchOut, StatsOut, StoreMemoryOut, SyncOut, ToolError,
    ToolResult,
};
use super::schema::no_arguments;
use crate::model::Filter;
use crate::store::{BriefingHints, RecallQuery, default_project, defaults};

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
        context: RequestContext<RoleServer>,
    ) -> ToolResult<StoreMemoryOut> {
        let (mut new, links) = p.into_new();
        if new.context.project.is_none() {
            let project = self.project.get(&context.peer).await;
            new.context.project = default_project(&new.kind, project.as_deref());
        }
        let (linked, similar) = self
            .store
            .create_with_hints(new, links, defaults::SIMILAR_SHOWN)
            .await?;
        let data = StoreMemoryOut::new(linked, similar);
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
            let relationships = match p.with_relationships {
                true => Some(self.store.relationships(&memory.id).await?),
                false => None,
            };
            memories.push(MemoryOut::with_relationships(memory, relationships));
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
        let (id, patch, expected_version) = p.into_update();
        let written = self
            .store
            .update(&id, patch, None, expected_version)
            .await?;
        let data = MemoryOut::from(written.record);
        let text = format!("updated {} to v{}", data.id, data.version);
        self.written(text + &format::redacted(written.redacted), data)
    }

    #[tool(
        name = "delete_memory",
        title = "Delete a memory",
        description = "Delete a memory for good, with all its relationships. Prefer update_memory, or a SUPERSEDES relationship from a newer memory, when knowledge changed rather than was wrong.",
        output_schema = schema_for_output::<DeletedOut>(),
        annotations(title = "Delete a memory", read_only_hint = false, destructive_hint = true, idempotent_hint = true, open_world_hint = false)
    )]
    async fn delete_memory(&self, Parameters(p): Parameters<IdParam>) -> ToolResult<DeletedOut> {
        let data = DeletedOut::from(self.store.delete(&p.id).await?);
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
        let limit = self.store.limits().page(p.limit, defaults::SEARCH_LIMIT)?;
        let page = self
            .store
            .search(&p.query, p.mode, &filter, limit, p.cursor.as_deref())
            .await?;
        Ok(Reply {
            text: format::search(&page),
            data: SearchOut::from(page),
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
        let data = RecallOut::from(self.store.recall(&query).await?);
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
        let (rel, created) = self.store.link(p.try_into()?).await?;
        let data = RelationshipResultOut::created(rel, created);
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
        let (id, patch, expected_version) = p.into_update()?;
        let rel = self
            .store
            .update_relationship(&id, patch, expected_version)
            .await?;
        let data = RelationshipResultOut::updated(rel);
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
        let (id, traversal) = p.into_walk();
        let neighbours = self.store.neighbours(&id, &traversal).await?;
        let data = RelatedOut {
            id,
            neighbours: neighbours.into_iter().map(Into::into).collect(),
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
        let (from, to, query) = p.into_query();
        let data = PathOut::from(self.store.find_path(&from, &to, &query).await?);
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
        let traversal = p.traversal();
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
        let data = ExploreOut::from(exploration);
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
        let limit = self.store.limits().page(p.limit, defaults::LIST_LIMIT)?;
        let page = self
            .store
            .list_summaries(&filter, p.cursor.as_deref(), limit)
            .await?;
        let data = ListOut::from(page);
        Ok(Reply {
            text: format::list(&data),
            data,
        })
    }

    #[tool(
        name = "memory_stats",
        title = "Memory statistics",
        description = "How many memories and relationships the store holds (by kind and type), its size and location, the embedder and the sync mode.",
        input_schema = no_arguments(),
        output_schema = schema_for_output::<StatsOut>(),
        annotations(title = "Memory statistics", read_only_hint = true, destructive_hint = false, idempotent_hint = true, open_world_hint = false)
    )]
    async fn memory_stats(&self) -> ToolResult<StatsOut> {
        let data = StatsOut::new(
            self.store.stats().await?,
            self.store.meta().await?,
            self.store.embedding_report().await?,
            self.app.path().display().to_string(),
            self.app.location().namespace.clone(),
            &self.app.sync_status(),
        );
        Ok(Reply {
            text: format::stats(&data),
            data,
        })
    }

    #[tool(
        name = "sync",
        title = "Sync with the primary",
        description = "Sync this device's memory with the shared primary now (replica mode: pull other devices' changes and send writes queued while offline) and report the sync state. Normally not needed: syncing runs on a timer. A local store has nothing to sync.",
        input_schema = no_arguments(),
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
