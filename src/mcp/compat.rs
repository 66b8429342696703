//! `--profile knowledge-graph`: the nine tools of the reference MCP memory server
//! (`@modelcontextprotocol/server-memory`), same names, same argument shapes and the same
//! JSON text answers, backed by this store, so a user can swap servers without touching
//! prompts.
//!
//! This file only translates: parameters to calls of the store's knowledge-graph view and its
//! answers to the reference server's results. The mapping (an entity is a memory, a relation
//! a relationship) and the rules of each operation live in
//! [`crate::store::transfer::knowledge_graph`], shared with `memctl import`.

use rmcp::handler::server::tool::schema_for_output;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::{tool, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::MnemographServer;
use super::results::{Reply, ToolResult};
use super::schema::no_arguments;
use crate::store::transfer::knowledge_graph::{Entity, EntityGraph, Observations, Relation};

/// What the server teaches a model in this profile.
pub const INSTRUCTIONS: &str = "A knowledge graph memory: entities (name, entityType, observations) joined by \
directed relations in active voice (from, to, relationType). Read what you know with read_graph, \
search_nodes or open_nodes; record new facts with create_entities, add_observations and \
create_relations; remove outdated ones with the delete tools.";

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateEntitiesParams {
    pub entities: Vec<Entity>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RelationsParams {
    pub relations: Vec<Relation>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[serde(rename_all = "camelCase")]
pub struct ObservationAddition {
    /// The name of the entity to add the observations to.
    pub entity_name: String,
    /// The contents of the observations to add.
    pub contents: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AddObservationsParams {
    pub observations: Vec<ObservationAddition>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[serde(rename_all = "camelCase")]
pub struct DeleteEntitiesParams {
    /// The names of the entities to delete.
    pub entity_names: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[serde(rename_all = "camelCase")]
pub struct ObservationDeletion {
    /// The name of the entity containing the observations.
    pub entity_name: String,
    /// The observations to delete.
    pub observations: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteObservationsParams {
    pub deletions: Vec<ObservationDeletion>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchNodesParams {
    /// The search query to match against entity names, types, and observation content.
    pub query: String,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenNodesParams {
    /// The names of the entities to retrieve.
    pub names: Vec<String>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct EntitiesOut {
    pub entities: Vec<Entity>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct RelationsOut {
    pub relations: Vec<Relation>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AddedObservations {
    pub entity_name: String,
    pub added_observations: Vec<String>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct AddObservationsOut {
    pub results: Vec<AddedObservations>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct DoneOut {
    pub success: bool,
    pub message: String,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct GraphOut {
    pub entities: Vec<Entity>,
    pub relations: Vec<Relation>,
}

impl From<EntityGraph> for GraphOut {
    fn from(g: EntityGraph) -> Self {
        GraphOut {
            entities: g.entities,
            relations: g.relations,
        }
    }
}

impl From<ObservationAddition> for Observations {
    fn from(a: ObservationAddition) -> Self {
        Observations {
            entity_name: a.entity_name,
            observations: a.contents,
        }
    }
}

impl From<ObservationDeletion> for Observations {
    fn from(d: ObservationDeletion) -> Self {
        Observations {
            entity_name: d.entity_name,
            observations: d.observations,
        }
    }
}

impl From<Observations> for AddedObservations {
    fn from(o: Observations) -> Self {
        AddedObservations {
            entity_name: o.entity_name,
            added_observations: o.observations,
        }
    }
}

fn json_text<T: Serialize>(value: &T) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

fn graph(g: EntityGraph) -> ToolResult<GraphOut> {
    let data = GraphOut::from(g);
    Ok(Reply {
        text: json_text(&data),
        data,
    })
}

fn done(message: &str) -> ToolResult<DoneOut> {
    Ok(Reply {
        text: message.to_owned(),
        data: DoneOut {
            success: true,
            message: message.to_owned(),
        },
    })
}

#[tool_router(router = knowledge_graph_tools, vis = "pub(super)")]
impl MnemographServer {
    #[tool(
        name = "create_entities",
        title = "Create entities",
        description = "Create multiple new entities in the knowledge graph",
        output_schema = schema_for_output::<EntitiesOut>(),
        annotations(title = "Create entities", read_only_hint = false, destructive_hint = false, idempotent_hint = true, open_world_hint = false)
    )]
    async fn create_entities(
        &self,
        Parameters(p): Parameters<CreateEntitiesParams>,
    ) -> ToolResult<EntitiesOut> {
        let created = self
            .store
            .knowledge_graph()
            .create_entities(p.entities)
            .await?;
        Ok(Reply {
            text: json_text(&created),
            data: EntitiesOut { entities: created },
        })
    }

    #[tool(
        name = "create_relations",
        title = "Create relations",
        description = "Create multiple new relations between entities in the knowledge graph. Relations should be in active voice",
        output_schema = schema_for_output::<RelationsOut>(),
        annotations(title = "Create relations", read_only_hint = false, destructive_hint = false, idempotent_hint = true, open_world_hint = false)
    )]
    async fn create_relations(
        &self,
        Parameters(p): Parameters<RelationsParams>,
    ) -> ToolResult<RelationsOut> {
        let created = self
            .store
            .knowledge_graph()
            .create_relations(p.relations)
            .await?;
        Ok(Reply {
            text: json_text(&created),
            data: RelationsOut { relations: created },
        })
    }

    #[tool(
        name = "add_observations",
        title = "Add observations",
        description = "Add new observations to existing entities in the knowledge graph",
        output_schema = schema_for_output::<AddObservationsOut>(),
        annotations(title = "Add observations", read_only_hint = false, destructive_hint = false, idempotent_hint = true, open_world_hint = false)
    )]
    async fn add_observations(
        &self,
        Parameters(p): Parameters<AddObservationsParams>,
    ) -> ToolResult<AddObservationsOut> {
        let additions = p.observations.into_iter().map(Into::into).collect();
        let added = self
            .store
            .knowledge_graph()
            .add_observations(additions)
            .await?;
        let results: Vec<AddedObservations> = added.into_iter().map(Into::into).collect();
        Ok(Reply {
            text: json_text(&results),
            data: AddObservationsOut { results },
        })
    }

    #[tool(
        name = "delete_entities",
        title = "Delete entities",
        description = "Delete multiple entities and their associated relations from the knowledge graph",
        output_schema = schema_for_output::<DoneOut>(),
        annotations(title = "Delete entities", read_only_hint = false, destructive_hint = true, idempotent_hint = true, open_world_hint = false)
    )]
    async fn delete_entities(
        &self,
        Parameters(p): Parameters<DeleteEntitiesParams>,
    ) -> ToolResult<DoneOut> {
        self.store
            .knowledge_graph()
            .delete_entities(&p.entity_names)
            .await?;
        done("Entities deleted successfully")
    }

    #[tool(
        name = "delete_observations",
        title = "Delete observations",
        description = "Delete specific observations from entities in the knowledge graph",
        output_schema = schema_for_output::<DoneOut>(),
        annotations(title = "Delete observations", read_only_hint = false, destructive_hint = true, idempotent_hint = true, open_world_hint = false)
    )]
    async fn delete_observations(
        &self,
        Parameters(p): Parameters<DeleteObservationsParams>,
    ) -> ToolResult<DoneOut> {
        let deletions = p.deletions.into_iter().map(Into::into).collect();
        self.store
            .knowledge_graph()
            .delete_observations(deletions)
            .await?;
        done("Observations deleted successfully")
    }

    #[tool(
        name = "delete_relations",
        title = "Delete relations",
        description = "Delete multiple relations from the knowledge graph",
        output_schema = schema_for_output::<DoneOut>(),
        annotations(title = "Delete relations", read_only_hint = false, destructive_hint = true, idempotent_hint = true, open_world_hint = false)
    )]
    async fn delete_relations(
        &self,
        Parameters(p): Parameters<RelationsParams>,
    ) -> ToolResult<DoneOut> {
        self.store
            .knowledge_graph()
            .delete_relations(p.relations)
            .await?;
        done("Relations deleted successfully")
    }

    #[tool(
        name = "read_graph",
        title = "Read the graph",
        description = "Read the entire knowledge graph",
        input_schema = no_arguments(),
        output_schema = schema_for_output::<GraphOut>(),
        annotations(title = "Read the graph", read_only_hint = true, destructive_hint = false, idempotent_hint = true, open_world_hint = false)
    )]
    async fn read_graph(&self) -> ToolResult<GraphOut> {
        graph(self.store.knowledge_graph().read().await?)
    }

    #[tool(
        name = "search_nodes",
        title = "Search nodes",
        description = "Search for nodes in the knowledge graph based on a query",
        output_schema = schema_for_output::<GraphOut>(),
        annotations(title = "Search nodes", read_only_hint = true, destructive_hint = false, idempotent_hint = true, open_world_hint = false)
    )]
    async fn search_nodes(
        &self,
        Parameters(p): Parameters<SearchNodesParams>,
    ) -> ToolResult<GraphOut> {
        graph(self.store.knowledge_graph().search(&p.query).await?)
    }

    #[tool(
        name = "open_nodes",
        title = "Open nodes",
        description = "Open specific nodes in the knowledge graph by their names",
        output_schema = schema_for_output::<GraphOut>(),
        annotations(title = "Open nodes", read_only_hint = true, destructive_hint = false, idempotent_hint = true, open_world_hint = false)
    )]
    async fn open_nodes(&self, Parameters(p): Parameters<OpenNodesParams>) -> ToolResult<GraphOut> {
        graph(self.store.knowledge_graph().open(&p.names).await?)
    }
}
