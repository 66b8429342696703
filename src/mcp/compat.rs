//! `--profile knowledge-graph`: the nine tools of the reference MCP memory server
//! (`@modelcontextprotocol/server-memory`), same names, same argument shapes and the same
//! JSON text answers, backed by this store, so a user can swap servers without touching
//! prompts.
//!
//! Mapping: an entity is a memory (name ↔ title, entityType ↔ kind, observations ↔ the lines
//! of its content) and a relation is a relationship (relationType ↔ rel_type). The store's
//! vocabulary is stricter than the reference server's (kinds are lower-case words, types
//! UPPER_SNAKE), so the original spellings are kept beside the record (`context.
//! knowledge_graph.entity_type`, `properties.relation_type`) and given back unchanged. The
//! mapping lives in [`crate::store::transfer::knowledge_graph`], shared with `memctl import`.
//!
//! Like the reference server, which rereads its whole file on every call, each call here works
//! on the whole graph: entity names are matched exactly, and searches are case-insensitive
//! substring matches, which word-based full-text search could not reproduce.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};

use rmcp::handler::server::tool::schema_for_output;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::{tool, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::MnemographServer;
use super::results::{Reply, ToolError, ToolResult};
use crate::model::{Memory, MemoryPatch, Relationship};
use crate::store::transfer::knowledge_graph::{
    CONTEXT_KEY, RELATION_TYPE_KEY, content_of, kind_of, normalise_name, normalise_observation,
    rel_type_of,
};
use crate::store::{MemoryStore, NewMemory, NewRelationship};

/// What the server teaches a model in this profile.
pub const INSTRUCTIONS: &str = "A knowledge graph memory: entities (name, entityType, observations) joined by \
directed relations in active voice (from, to, relationType). Read what you know with read_graph, \
search_nodes or open_nodes; record new facts with create_entities, add_observations and \
create_relations; remove outdated ones with the delete tools.";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Entity {
    /// The name of the entity.
    pub name: String,
    /// The type of the entity.
    pub entity_type: String,
    /// Observations about the entity.
    pub observations: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Relation {
    /// The name of the entity where the relation starts.
    pub from: String,
    /// The name of the entity where the relation ends.
    pub to: String,
    /// The type of the relation.
    pub relation_type: String,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct CreateEntitiesParams {
    pub entities: Vec<Entity>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct RelationsParams {
    pub relations: Vec<Relation>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ObservationAddition {
    /// The name of the entity to add the observations to.
    pub entity_name: String,
    /// The contents of the observations to add.
    pub contents: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct AddObservationsParams {
    pub observations: Vec<ObservationAddition>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeleteEntitiesParams {
    /// The names of the entities to delete.
    pub entity_names: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ObservationDeletion {
    /// The name of the entity containing the observations.
    pub entity_name: String,
    /// The observations to delete.
    pub observations: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct DeleteObservationsParams {
    pub deletions: Vec<ObservationDeletion>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct SearchNodesParams {
    /// The search query to match against entity names, types, and observation content.
    pub query: String,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
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

/// The whole graph as the reference server sees it, with the memory behind each entity.
struct Graph {
    /// By normalised name; the newest memory wins where titles repeat.
    by_name: HashMap<String, Memory>,
    /// Entities in creation order, oldest first, like the reference server's file.
    order: Vec<String>,
}

impl Graph {
    async fn load(store: &MemoryStore) -> crate::Result<Self> {
        let mut by_name = HashMap::new();
        let mut order = Vec::new();
        // Newest first: the first memory seen under a name is the one that answers to it.
        for memory in store.all_memories().await? {
            let name = memory.title.clone();
            if let Entry::Vacant(slot) = by_name.entry(name.clone()) {
                order.push(name);
                slot.insert(memory);
            }
        }
        order.reverse();
        Ok(Graph { by_name, order })
    }

    fn get(&self, name: &str) -> Option<&Memory> {
        self.by_name.get(&normalise_name(name))
    }

    fn require(&self, name: &str) -> Result<&Memory, ToolError> {
        self.get(name)
            .ok_or_else(|| ToolError(format!("Entity with name {name} not found")))
    }

    fn entities(&self) -> impl Iterator<Item = &Memory> {
        self.order.iter().filter_map(|name| self.by_name.get(name))
    }

    /// Keeps the graph in step with a write made during the call.
    fn replace(&mut self, memory: Memory) {
        self.by_name.insert(memory.title.clone(), memory);
    }

    /// The entities among `memories` and the relations among them.
    async fn answer(store: &MemoryStore, memories: Vec<&Memory>) -> Result<GraphOut, ToolError> {
        let ids: Vec<String> = memories.iter().map(|m| m.id.clone()).collect();
        let titles: HashMap<&str, &str> = memories
            .iter()
            .map(|m| (m.id.as_str(), m.title.as_str()))
            .collect();
        let mut rels = store.relationships_among(&ids).await?;
        rels.sort_by(|a, b| {
            a.created_at
                .cmp(&b.created_at)
                .then_with(|| a.id.cmp(&b.id))
        });
        Ok(GraphOut {
            entities: memories.iter().map(|m| entity_of(m)).collect(),
            relations: rels.iter().map(|r| relation_of(r, &titles)).collect(),
        })
    }
}

fn entity_of(m: &Memory) -> Entity {
    let kg = m.context.extra.get(CONTEXT_KEY);
    let entity_type = kg
        .and_then(|k| k.get("entity_type"))
        .and_then(Value::as_str)
        .unwrap_or(&m.kind)
        .to_owned();
    let empty = kg.and_then(|k| k.get("empty")).and_then(Value::as_bool) == Some(true);
    let observations = if empty {
        Vec::new()
    } else {
        m.content
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect()
    };
    Entity {
        name: m.title.clone(),
        entity_type,
        observations,
    }
}

fn relation_of(r: &Relationship, titles: &HashMap<&str, &str>) -> Relation {
    Relation {
        from: titles
            .get(r.source_id.as_str())
            .copied()
            .unwrap_or(&r.source_id)
            .to_owned(),
        to: titles
            .get(r.target_id.as_str())
            .copied()
            .unwrap_or(&r.target_id)
            .to_owned(),
        relation_type: r
            .properties
            .get(RELATION_TYPE_KEY)
            .and_then(Value::as_str)
            .unwrap_or(&r.rel_type)
            .to_owned(),
    }
}

fn json_text<T: Serialize>(value: &T) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
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
        self.store.limits().batch("entities", p.entities.len())?;
        let graph = Graph::load(&self.store).await?;
        let mut seen = HashSet::new();
        let mut created = Vec::new();
        let mut batch = Vec::new();
        for entity in p.entities {
            let name = normalise_name(&entity.name);
            if graph.get(&name).is_some() || !seen.insert(name.clone()) {
                continue;
            }
            let mut observations: Vec<String> = Vec::new();
            for o in entity.observations.iter().map(|o| normalise_observation(o)) {
                if !o.is_empty() && !observations.contains(&o) {
                    observations.push(o);
                }
            }
            let (content, context) = content_of(
                &Default::default(),
                &name,
                &entity.entity_type,
                &observations,
            );
            let new = NewMemory {
                kind: kind_of(&entity.entity_type),
                title: name.clone(),
                content,
                context,
                ..Default::default()
            };
            batch.push(new);
            created.push(Entity {
                name,
                entity_type: entity.entity_type,
                observations,
            });
        }
        // One transaction: an entity the store refuses leaves none of the others behind.
        if !batch.is_empty() {
            self.store.create_many(batch).await?;
        }
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
        let graph = Graph::load(&self.store).await?;
        let mut created = Vec::new();
        for relation in p.relations {
            let from = graph.require(&relation.from)?;
            let to = graph.require(&relation.to)?;
            let rel_type = rel_type_of(&relation.relation_type);
            let existing = self.store.relationships(&from.id).await?;
            if existing
                .iter()
                .any(|r| r.source_id == from.id && r.target_id == to.id && r.rel_type == rel_type)
            {
                continue;
            }
            let mut properties = serde_json::Map::new();
            properties.insert(
                RELATION_TYPE_KEY.to_owned(),
                Value::String(relation.relation_type.clone()),
            );
            let new = NewRelationship {
                source_id: from.id.clone(),
                target_id: to.id.clone(),
                rel_type,
                properties,
                ..Default::default()
            };
            self.store.link(new).await?;
            created.push(Relation {
                from: from.title.clone(),
                to: to.title.clone(),
                relation_type: relation.relation_type,
            });
        }
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
        let mut graph = Graph::load(&self.store).await?;
        let mut results = Vec::new();
        for addition in p.observations {
            let memory = graph.require(&addition.entity_name)?.clone();
            let entity = entity_of(&memory);
            let mut observations = entity.observations.clone();
            let mut added = Vec::new();
            for o in addition.contents.iter().map(|o| normalise_observation(o)) {
                if !o.is_empty() && !observations.contains(&o) {
                    observations.push(o.clone());
                    added.push(o);
                }
            }
            if !added.is_empty() {
                graph.replace(
                    self.rewrite(&memory, &entity.entity_type, &observations)
                        .await?,
                );
            }
            results.push(AddedObservations {
                entity_name: memory.title.clone(),
                added_observations: added,
            });
        }
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
        let mut graph = Graph::load(&self.store).await?;
        for name in &p.entity_names {
            if let Some(memory) = graph.by_name.remove(&normalise_name(name)) {
                self.store.delete(&memory.id).await?;
            }
        }
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
        let mut graph = Graph::load(&self.store).await?;
        for deletion in p.deletions {
            let Some(memory) = graph.get(&deletion.entity_name).cloned() else {
                continue;
            };
            let entity = entity_of(&memory);
            let remove: HashSet<String> = deletion
                .observations
                .iter()
                .map(|o| normalise_observation(o))
                .collect();
            let kept: Vec<String> = entity
                .observations
                .iter()
                .filter(|o| !remove.contains(*o))
                .cloned()
                .collect();
            if kept.len() != entity.observations.len() {
                graph.replace(self.rewrite(&memory, &entity.entity_type, &kept).await?);
            }
        }
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
        let graph = Graph::load(&self.store).await?;
        for relation in p.relations {
            let (Some(from), Some(to)) = (graph.get(&relation.from), graph.get(&relation.to))
            else {
                continue;
            };
            let titles = HashMap::from([
                (from.id.as_str(), from.title.as_str()),
                (to.id.as_str(), to.title.as_str()),
            ]);
            for rel in self.store.relationships(&from.id).await? {
                if rel.source_id == from.id
                    && rel.target_id == to.id
                    && relation_of(&rel, &titles).relation_type == relation.relation_type
                {
                    self.store.unlink(&rel.id).await?;
                }
            }
        }
        done("Relations deleted successfully")
    }

    #[tool(
        name = "read_graph",
        title = "Read the graph",
        description = "Read the entire knowledge graph",
        output_schema = schema_for_output::<GraphOut>(),
        annotations(title = "Read the graph", read_only_hint = true, destructive_hint = false, idempotent_hint = true, open_world_hint = false)
    )]
    async fn read_graph(&self) -> ToolResult<GraphOut> {
        let graph = Graph::load(&self.store).await?;
        let data = Graph::answer(&self.store, graph.entities().collect()).await?;
        Ok(Reply {
            text: json_text(&data),
            data,
        })
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
        let graph = Graph::load(&self.store).await?;
        let query = p.query.to_lowercase();
        let matches = graph
            .entities()
            .filter(|m| {
                let e = entity_of(m);
                e.name.to_lowercase().contains(&query)
                    || e.entity_type.to_lowercase().contains(&query)
                    || e.observations
                        .iter()
                        .any(|o| o.to_lowercase().contains(&query))
            })
            .collect();
        let data = Graph::answer(&self.store, matches).await?;
        Ok(Reply {
            text: json_text(&data),
            data,
        })
    }

    #[tool(
        name = "open_nodes",
        title = "Open nodes",
        description = "Open specific nodes in the knowledge graph by their names",
        output_schema = schema_for_output::<GraphOut>(),
        annotations(title = "Open nodes", read_only_hint = true, destructive_hint = false, idempotent_hint = true, open_world_hint = false)
    )]
    async fn open_nodes(&self, Parameters(p): Parameters<OpenNodesParams>) -> ToolResult<GraphOut> {
        let graph = Graph::load(&self.store).await?;
        let wanted: HashSet<String> = p.names.iter().map(|n| normalise_name(n)).collect();
        let matches = graph
            .entities()
            .filter(|m| wanted.contains(&m.title))
            .collect();
        let data = Graph::answer(&self.store, matches).await?;
        Ok(Reply {
            text: json_text(&data),
            data,
        })
    }
}

impl MnemographServer {
    /// Stores an entity's new observations (and keeps its original type), unless the memory
    /// changed since it was read.
    async fn rewrite(
        &self,
        memory: &Memory,
        entity_type: &str,
        observations: &[String],
    ) -> crate::Result<Memory> {
        let (content, context) =
            content_of(&memory.context, &memory.title, entity_type, observations);
        let patch = MemoryPatch {
            content: Some(content),
            context: Some(context),
            ..Default::default()
        };
        self.store
            .update(&memory.id, patch, None, Some(memory.version))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vocabularies_map_onto_the_store() {
        assert_eq!(kind_of("Software Project"), "software-project");
        assert_eq!(kind_of("  "), "entity");
        assert_eq!(rel_type_of("works at"), "WORKS_AT");
        assert_eq!(rel_type_of("is-part.of"), "IS_PART_OF");
        assert_eq!(rel_type_of("2nd"), "R_2ND");
    }
}
