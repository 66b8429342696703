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

use std::io::BufRead;

use chrono::{SubsecRound, Utc};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::{Located, Record};
use crate::model::{Context, Memory, Relationship};
use crate::store::defaults;

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
            let mut kept: Vec<String> = Vec::new();
            for o in observations.iter().map(|o| normalise_observation(o)) {
                if !o.is_empty() && !kept.contains(&o) {
                    kept.push(o);
                }
            }
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
            let mut properties = Map::new();
            properties.insert(
                RELATION_TYPE_KEY.to_owned(),
                Value::String(relation_type.clone()),
            );
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
