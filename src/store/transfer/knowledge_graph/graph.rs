//! The knowledge-graph profile's use cases: the reference server's nine operations, with its
//! rules, over this store.
//!
//! Like the reference server, which rereads its whole file on every call, each operation works
//! on the whole graph: entity names are matched exactly (after normalising white space), and
//! searches are case-insensitive substring matches, which word-based full-text search could
//! not reproduce. Entity names are unique: where titles repeat, the newest memory answers.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};

use super::{
    Entity, Relation, content_of, entity_of, kind_of, normalise_name, normalise_observation,
    observations_of, rel_type_of, relation_of, relation_properties,
};
use crate::error::{Error, Result};
use crate::model::{Direction, Filter, Memory, MemoryPatch, Relationship};
use crate::store::{MemoryStore, NewMemory, NewRelationship};

/// Memories whose relationships are asked for in one backend query.
const RELATIONSHIP_CHUNK: usize = 500;

/// Observations to add to, or remove from, one entity.
#[derive(Debug, Clone, PartialEq)]
pub struct Observations {
    pub entity_name: String,
    pub observations: Vec<String>,
}

/// Entities and the relations among them.
#[derive(Debug, Clone, PartialEq)]
pub struct EntityGraph {
    pub entities: Vec<Entity>,
    pub relations: Vec<Relation>,
}

/// The store seen as the reference server's knowledge graph.
pub struct KnowledgeGraph<'a> {
    store: &'a MemoryStore,
}

impl MemoryStore {
    /// This store as a knowledge graph of entities and relations.
    pub fn knowledge_graph(&self) -> KnowledgeGraph<'_> {
        KnowledgeGraph { store: self }
    }
}

/// The whole graph as the reference server sees it, with the memory behind each entity.
struct Graph {
    /// By normalised name; the newest memory wins where titles repeat.
    by_name: HashMap<String, Memory>,
    /// Entities in creation order, oldest first, like the reference server's file.
    order: Vec<String>,
}

impl Graph {
    async fn load(store: &MemoryStore) -> Result<Self> {
        let mut by_name = HashMap::new();
        let mut order = Vec::new();
        // Newest first: the first memory seen under a name is the one that answers to it.
        for memory in all_memories(store).await? {
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

    fn require(&self, name: &str) -> Result<&Memory> {
        self.get(name).ok_or_else(|| Error::EntityNotFound {
            name: name.to_owned(),
        })
    }

    fn entities(&self) -> impl Iterator<Item = &Memory> {
        self.order.iter().filter_map(|name| self.by_name.get(name))
    }

    /// Keeps the graph in step with a write made during the operation.
    fn replace(&mut self, memory: Memory) {
        self.by_name.insert(memory.title.clone(), memory);
    }
}

impl KnowledgeGraph<'_> {
    /// Creates the entities whose names are new (to the graph and to the batch), all in one
    /// transaction; returns those created, as stored.
    pub async fn create_entities(&self, entities: Vec<Entity>) -> Result<Vec<Entity>> {
        self.store.limits().batch("entities", entities.len())?;
        let graph = Graph::load(self.store).await?;
        let mut seen = HashSet::new();
        let mut created = Vec::new();
        let mut batch = Vec::new();
        for entity in entities {
            let name = normalise_name(&entity.name);
            if graph.get(&name).is_some() || !seen.insert(name.clone()) {
                continue;
            }
            let observations = observations_of(&entity.observations);
            let (content, context) = content_of(
                &Default::default(),
                &name,
                &entity.entity_type,
                &observations,
            );
            batch.push(NewMemory {
                kind: kind_of(&entity.entity_type),
                title: name.clone(),
                content,
                context,
                ..Default::default()
            });
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
        Ok(created)
    }

    /// Creates the relations not already there; both ends must be entities. Returns those
    /// created.
    pub async fn create_relations(&self, relations: Vec<Relation>) -> Result<Vec<Relation>> {
        let graph = Graph::load(self.store).await?;
        let mut created = Vec::new();
        for relation in relations {
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
            let new = NewRelationship {
                source_id: from.id.clone(),
                target_id: to.id.clone(),
                rel_type,
                properties: relation_properties(&relation.relation_type),
                ..Default::default()
            };
            self.store.link(new).await?;
            created.push(Relation {
                from: from.title.clone(),
                to: to.title.clone(),
                relation_type: relation.relation_type,
            });
        }
        Ok(created)
    }

    /// Adds the observations each entity does not have yet; returns, per entity, those added.
    pub async fn add_observations(
        &self,
        additions: Vec<Observations>,
    ) -> Result<Vec<Observations>> {
        let mut graph = Graph::load(self.store).await?;
        let mut results = Vec::new();
        for addition in additions {
            let memory = graph.require(&addition.entity_name)?.clone();
            let entity = entity_of(&memory);
            let mut observations = entity.observations.clone();
            let mut added = Vec::new();
            for o in addition
                .observations
                .iter()
                .map(|o| normalise_observation(o))
            {
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
            results.push(Observations {
                entity_name: memory.title.clone(),
                observations: added,
            });
        }
        Ok(results)
    }

    /// Deletes the named entities with their relations; unknown names are ignored.
    pub async fn delete_entities(&self, names: &[String]) -> Result<()> {
        let mut graph = Graph::load(self.store).await?;
        for name in names {
            if let Some(memory) = graph.by_name.remove(&normalise_name(name)) {
                self.store.delete(&memory.id).await?;
            }
        }
        Ok(())
    }

    /// Removes the given observations from each entity; unknown names are ignored.
    pub async fn delete_observations(&self, deletions: Vec<Observations>) -> Result<()> {
        let mut graph = Graph::load(self.store).await?;
        for deletion in deletions {
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
        Ok(())
    }

    /// Deletes the relations given (matched by ends and original type); others are ignored.
    pub async fn delete_relations(&self, relations: Vec<Relation>) -> Result<()> {
        let graph = Graph::load(self.store).await?;
        for relation in relations {
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
        Ok(())
    }

    /// Every entity and relation.
    pub async fn read(&self) -> Result<EntityGraph> {
        let graph = Graph::load(self.store).await?;
        self.answer(graph.entities().collect()).await
    }

    /// The entities whose name, type or an observation contains `query` (case-insensitive),
    /// and the relations among them.
    pub async fn search(&self, query: &str) -> Result<EntityGraph> {
        let graph = Graph::load(self.store).await?;
        let query = query.to_lowercase();
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
        self.answer(matches).await
    }

    /// The named entities and the relations among them; unknown names are ignored.
    pub async fn open(&self, names: &[String]) -> Result<EntityGraph> {
        let graph = Graph::load(self.store).await?;
        let wanted: HashSet<String> = names.iter().map(|n| normalise_name(n)).collect();
        let matches = graph
            .entities()
            .filter(|m| wanted.contains(&m.title))
            .collect();
        self.answer(matches).await
    }

    /// The entities among `memories` and the relations among them, oldest relation first.
    async fn answer(&self, memories: Vec<&Memory>) -> Result<EntityGraph> {
        let ids: Vec<String> = memories.iter().map(|m| m.id.clone()).collect();
        let titles: HashMap<&str, &str> = memories
            .iter()
            .map(|m| (m.id.as_str(), m.title.as_str()))
            .collect();
        let mut rels = relationships_among(self.store, &ids).await?;
        rels.sort_by(|a, b| {
            a.created_at
                .cmp(&b.created_at)
                .then_with(|| a.id.cmp(&b.id))
        });
        Ok(EntityGraph {
            entities: memories.iter().map(|m| entity_of(m)).collect(),
            relations: rels.iter().map(|r| relation_of(r, &titles)).collect(),
        })
    }

    /// Stores an entity's new observations (and keeps its original type), unless the memory
    /// changed since it was read.
    async fn rewrite(
        &self,
        memory: &Memory,
        entity_type: &str,
        observations: &[String],
    ) -> Result<Memory> {
        let (content, context) =
            content_of(&memory.context, &memory.title, entity_type, observations);
        let patch = MemoryPatch {
            content: Some(content),
            context: Some(context),
            ..Default::default()
        };
        Ok(self
            .store
            .update(&memory.id, patch, None, Some(memory.version))
            .await?
            .record)
    }
}

/// Every memory, newest first, read page by page; the cost is linear in the store's size.
async fn all_memories(store: &MemoryStore) -> Result<Vec<Memory>> {
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = store
            .list(
                &Filter::default(),
                cursor.as_deref(),
                store.limits().max_results,
            )
            .await?;
        all.extend(page.memories);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return Ok(all),
        }
    }
}

/// The relationships whose both ends are among `ids`, valid or not.
async fn relationships_among(store: &MemoryStore, ids: &[String]) -> Result<Vec<Relationship>> {
    let set: HashSet<&str> = ids.iter().map(String::as_str).collect();
    let mut found = Vec::new();
    for chunk in ids.chunks(RELATIONSHIP_CHUNK) {
        let rels = store
            .backend()
            .relationships_of(chunk, Direction::Outgoing, &[], None)
            .await?;
        found.extend(
            rels.into_iter()
                .filter(|r| set.contains(r.target_id.as_str())),
        );
    }
    Ok(found)
}
