//! The reference MCP memory server's knowledge graph (`@modelcontextprotocol/server-memory`)
//! and how it maps onto memories. Its `memory.jsonl` holds one JSON object per line:
//!
//! ```text
//! {"type":"entity","name":"John_Smith","entityType":"person","observations":["Speaks Spanish"]}
//! {"type":"relation","from":"John_Smith","to":"Anthropic","relationType":"works_at"}
//! ```
//!
//! An entity is a memory (name ↔ title, entityType ↔ kind, observations ↔ the lines of its
//! content) and a relation is a relationship (relationType ↔ rel_type). The store's
//! vocabulary is stricter (kinds are lower-case words, types UPPER_SNAKE), so the original
//! spellings are kept beside the record and given back unchanged. The MCP server's
//! `knowledge-graph` profile uses the same mapping, so imported entities answer to its tools.
//!
//! The file has no ids: an imported entity's id is derived from its name and a relation's
//! from its ends and type (UUIDv5), which makes importing the same file twice a no-op.
//!
//! [`graph`] holds the profile's use cases: the reference server's nine operations and their
//! rules (entity names are unique, observations are lines without repeats, a relation is
//! one per ends and type) over the whole graph.

mod graph;

use std::collections::HashMap;
use std::io::BufRead;

use chrono::{SubsecRound, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use uuid::Uuid;

pub use self::graph::{EntityGraph, KnowledgeGraph, Observations};
use super::{Located, Record};
use crate::model::{Context, Memory, Relationship};
use crate::store::defaults;

// The MCP profile reads and answers these types as they are, so their documentation is what a
// model reads in its schemas, which admit no other fields (the MCP server holds calls to
// that; serde stays lenient for the files `memctl import` reads).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
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
#[schemars(deny_unknown_fields)]
pub struct Relation {
    /// The name of the entity where the relation starts.
    pub from: String,
    /// The name of the entity where the relation ends.
    pub to: String,
    /// The type of the relation.
    pub relation_type: String,
}

/// Key of the entity bookkeeping inside a memory's context.
pub const CONTEXT_KEY: &str = "knowledge_graph";
/// Key of the original relation type inside a relationship's properties.
pub const RELATION_TYPE_KEY: &str = "relation_type";

/// Namespace of the ids derived from entity names and relations.
const ID_NAMESPACE: Uuid = Uuid::from_u128(0x6d6e_656d_6f67_7261_7068_2d6b_672d_6964);

/// Titles are one line with single spaces; names are compared the same way.
pub fn normalise_name(name: &str) -> String {
    name.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// An observation is one line of content.
pub fn normalise_observation(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A store kind for an entity type: lower case, other characters as '-'.
pub fn kind_of(entity_type: &str) -> String {
    let kind: String = entity_type
        .trim()
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .take(64)
        .collect();
    if kind.is_empty() {
        "entity".to_owned()
    } else {
        kind
    }
}

/// A store relationship type for a relation type: UPPER_SNAKE starting with a letter.
pub fn rel_type_of(relation_type: &str) -> String {
    let t: String = relation_type
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .take(60)
        .collect();
    if t.starts_with(|c: char| c.is_ascii_uppercase()) {
        t
    } else {
        format!("R_{t}")
    }
}

/// Content and context for an entity's observations. Content cannot be empty, so an entity
/// without observations stores its name and says so in the context.
pub fn content_of(
    memory_context: &Context,
    name: &str,
    entity_type: &str,
    observations: &[String],
) -> (String, Context) {
    let mut context = memory_context.clone();
    let mut kg = json!({ "entity_type": entity_type });
    let content = if observations.is_empty() {
        kg["empty"] = Value::Bool(true);
        name.to_owned()
    } else {
        observations.join("\n")
    };
    context.extra.insert(CONTEXT_KEY.to_owned(), kg);
    (content, context)
}

/// The entity a memory stands for: its original type, and its content's lines as
/// observations (none for an entity stored without any).
pub fn entity_of(m: &Memory) -> Entity {
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

/// The relation a relationship stands for, its ends named by `titles` (memory id → title;
/// an end not there is named by its id) and its original type.
pub fn relation_of(r: &Relationship, titles: &HashMap<&str, &str>) -> Relation {
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

/// The properties that keep a relation's original type beside the store's.
pub fn relation_properties(relation_type: &str) -> Map<String, Value> {
    let mut properties = Map::new();
    properties.insert(
        RELATION_TYPE_KEY.to_owned(),
        Value::String(relation_type.to_owned()),
    );
    properties
}

/// An entity's observations as stored: normalised, without blanks or repeats, in order.
pub fn observations_of<'a>(observations: impl IntoIterator<Item = &'a String>) -> Vec<String> {
    let mut kept: Vec<String> = Vec::new();
    for o in observations.into_iter().map(|o| normalise_observation(o)) {
        if !o.is_empty() && !kept.contains(&o) {
            kept.push(o);
        }
    }
    kept
}

/// The id an imported entity gets.
pub fn entity_id(name: &str) -> String {
    Uuid::new_v5(
        &ID_NAMESPACE,
        format!("entity\0{}", normalise_name(name)).as_bytes(),
    )
    .to_string()
}

fn relation_id(from: &str, to: &str, relation_type: &str) -> String {
    let key = format!(
        "relation\0{}\0{}\0{}",
        normalise_name(from),
        normalise_name(to),
        relation_type
    );
    Uuid::new_v5(&ID_NAMESPACE, key.as_bytes()).to_string()
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum Line {
    #[serde(rename_all = "camelCase")]
    Entity {
        name: String,
        entity_type: String,
        #[serde(default)]
        observations: Vec<String>,
    },
    #[serde(rename_all = "camelCase")]
    Relation {
        from: String,
        to: String,
        relation_type: String,
    },
}

/// True when `first_line` is an entity or relation of a `memory.jsonl`.
pub fn is_knowledge_graph_line(first_line: &str) -> bool {
    serde_json::from_str::<Line>(first_line).is_ok()
}

fn record(line: Line) -> Record {
    let now = Utc::now().trunc_subsecs(6);
    match line {
        Line::Entity {
            name,
            entity_type,
            observations,
        } => {
            let name = normalise_name(&name);
            let kept = observations_of(&observations);
            let (content, context) = content_of(&Context::default(), &name, &entity_type, &kept);
            Record::Memory(
                Memory {
                    id: entity_id(&name),
                    kind: kind_of(&entity_type),
                    title: name,
                    content,
                    tags: Vec::new(),
                    context,
                    importance: defaults::IMPORTANCE,
                    confidence: defaults::CONFIDENCE,
                    created_at: now,
                    updated_at: now,
                    accessed_at: None,
                    access_count: 0,
                    version: 1,
                },
                None,
            )
        }
        Line::Relation {
            from,
            to,
            relation_type,
        } => {
            let properties = relation_properties(&relation_type);
            Record::Relationship(Relationship {
                id: relation_id(&from, &to, &relation_type),
                source_id: entity_id(&from),
                target_id: entity_id(&to),
                rel_type: rel_type_of(&relation_type),
                strength: defaults::STRENGTH,
                confidence: defaults::CONFIDENCE,
                note: None,
                properties,
                valid_from: None,
                valid_to: None,
                created_at: now,
                updated_at: now,
                version: 1,
            })
        }
    }
}

/// The records of a `memory.jsonl`, line by line; blank lines are ignored.
pub fn read(input: impl BufRead) -> impl Iterator<Item = Located> {
    input.lines().enumerate().filter_map(|(i, line)| {
        let at = format!("line {}", i + 1);
        match line {
            Ok(line) if line.trim().is_empty() => None,
            Ok(line) => Some((
                at,
                serde_json::from_str::<Line>(&line)
                    .map(record)
                    .map_err(|e| format!("not an entity or relation: {e}")),
            )),
            Err(e) => Some((at, Err(format!("cannot read: {e}")))),
        }
    })
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
