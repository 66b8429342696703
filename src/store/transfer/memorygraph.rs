//! MemoryGraph's JSON export (`memorygraph export --format json`): one JSON document,
//!
//! ```text
//! {"format_version": "2.0", "export_date": "…", "memory_count": 2, "relationship_count": 1,
//!  "memories": [{"id": "…", "type": "solution", "title": "…", "content": "…", "summary": null,
//!                "tags": [], "importance": 0.8, "confidence": 0.9,
//!                "created_at": "2025-01-10T09:30:00+00:00", "updated_at": "…",
//!                "context": {"project_path": "/src/api", "files_involved": ["…"], "languages": ["python"]}}],
//!  "relationships": [{"from_memory_id": "…", "to_memory_id": "…", "type": "SOLVES",
//!                     "properties": {"strength": 0.9, "confidence": 0.8, "context": "…", "evidence_count": 1}}]}
//! ```
//!
//! This shape is taken from MemoryGraph's exporter (`export_to_json`, format 2.0; 1.0 has the
//! same records). Assumptions where it is silent: ids that are not UUIDs get a UUIDv5 derived
//! from them; times without a zone are UTC; relationships carry no id or times, so their id
//! is derived from (from, to, type) and their times are the import's. Mapping: `type` → kind
//! (normalised like entity types), `project_path` → `context.project` (its last component)
//! and `context.extra.memorygraph.project_path`, `files_involved` → `context.paths`, a single
//! entry of `languages` → `context.language`; `summary` and every other context field are kept
//! under `context.extra.memorygraph`. A relationship's `properties.context` becomes its note
//! and `evidence_count` a property.

use std::io::Read;

use chrono::{DateTime, NaiveDateTime, SubsecRound, Utc};
use serde::Deserialize;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::knowledge_graph::{kind_of, rel_type_of};
use super::{Located, Record};
use crate::model::{Context, Memory, Relationship};
use crate::store::defaults;

/// Namespace of ids derived from MemoryGraph ids and relationships.
const ID_NAMESPACE: Uuid = Uuid::from_u128(0x6d6e_656d_6f67_7261_7068_2d6d_672d_6964);
/// Key under `context.extra` for MemoryGraph fields without a counterpart.
const CONTEXT_KEY: &str = "memorygraph";

#[derive(Debug, Deserialize)]
struct Document {
    #[serde(default)]
    format_version: Option<String>,
    #[serde(default)]
    export_version: Option<String>,
    memories: Vec<Value>,
    relationships: Vec<Value>,
}

#[derive(Debug, Deserialize)]
struct MgMemory {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    title: String,
    content: String,
    #[serde(default)]
    summary: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default = "default_importance")]
    importance: f32,
    #[serde(default = "default_confidence")]
    confidence: f32,
    #[serde(default)]
    created_at: Option<String>,
    #[serde(default)]
    updated_at: Option<String>,
    #[serde(default)]
    context: Map<String, Value>,
}

#[derive(Debug, Deserialize)]
struct MgRelationship {
    from_memory_id: String,
    to_memory_id: String,
    #[serde(rename = "type")]
    rel_type: String,
    #[serde(default)]
    properties: Map<String, Value>,
}

/// MemoryGraph's defaults.
fn default_importance() -> f32 {
    0.5
}
fn default_confidence() -> f32 {
    0.8
}

/// The id of a MemoryGraph memory id: itself when a UUID, else derived from it.
fn memory_id(id: &str) -> String {
    match Uuid::parse_str(id.trim()) {
        Ok(u) => u.hyphenated().to_string(),
        Err(_) => Uuid::new_v5(&ID_NAMESPACE, format!("memory\0{id}").as_bytes()).to_string(),
    }
}

fn time(field: &str, text: Option<&str>, default: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(default);
    };
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .or_else(|_| {
            NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f").map(|t| t.and_utc())
        })
        .map(|t| t.trunc_subsecs(6))
        .map_err(|_| format!("{field} {text:?} is not an ISO 8601 time"))
}

fn memory(value: Value, now: DateTime<Utc>) -> Result<Record, String> {
    let m: MgMemory =
        serde_json::from_value(value).map_err(|e| format!("not a MemoryGraph memory: {e}"))?;
    let created_at = time("created_at", m.created_at.as_deref(), now)?;
    let updated_at = time("updated_at", m.updated_at.as_deref(), created_at)?;
    let mut extra = m.context;
    let mut context = Context::default();
    if let Some(Value::String(path)) = extra.get("project_path") {
        context.project = path
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .filter(|p| !p.is_empty())
            .map(str::to_owned);
    }
    if let Some(Value::Array(files)) = extra.remove("files_involved") {
        context.paths = files
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect();
    }
    if let Some(Value::Array(languages)) = extra.get("languages")
        && let [Value::String(language)] = languages.as_slice()
    {
        context.language = Some(language.clone());
    }
    if let Some(summary) = m.summary.filter(|s| !s.trim().is_empty()) {
        extra.insert("summary".into(), Value::String(summary));
    }
    if m.id != memory_id(&m.id) {
        extra.insert("id".into(), Value::String(m.id.clone()));
    }
    if !extra.is_empty() {
        context
            .extra
            .insert(CONTEXT_KEY.into(), Value::Object(extra));
    }
    Ok(Record::Memory(
        Memory {
            id: memory_id(&m.id),
            kind: kind_of(&m.kind),
            title: m.title,
            content: m.content,
            tags: m.tags,
            context,
            importance: m.importance,
            confidence: m.confidence,
            created_at,
            updated_at,
            accessed_at: None,
            access_count: 0,
            version: 1,
        },
        None,
    ))
}

fn relationship(value: Value, now: DateTime<Utc>) -> Result<Record, String> {
    let r: MgRelationship = serde_json::from_value(value)
        .map_err(|e| format!("not a MemoryGraph relationship: {e}"))?;
    let (source_id, target_id) = (memory_id(&r.from_memory_id), memory_id(&r.to_memory_id));
    let number = |key: &str, default: f32| {
        r.properties
            .get(key)
            .and_then(Value::as_f64)
            .map_or(default, |v| v as f32)
    };
    let mut properties = Map::new();
    if let Some(count) = r.properties.get("evidence_count").filter(|v| !v.is_null()) {
        properties.insert("evidence_count".into(), count.clone());
    }
    let key = format!("relationship\0{source_id}\0{target_id}\0{}", r.rel_type);
    Ok(Record::Relationship(Relationship {
        id: Uuid::new_v5(&ID_NAMESPACE, key.as_bytes()).to_string(),
        source_id,
        target_id,
        rel_type: rel_type_of(&r.rel_type),
        strength: number("strength", defaults::STRENGTH),
        confidence: number("confidence", default_confidence()),
        note: r
            .properties
            .get("context")
            .and_then(Value::as_str)
            .map(str::to_owned),
        properties,
        valid_from: None,
        valid_to: None,
        created_at: now,
        updated_at: now,
        version: 1,
    }))
}

/// The records of a MemoryGraph export: memories first (`memories[i]`), then relationships
/// (`relationships[i]`). A document that is not an export at all is one error at `document`.
pub fn read(input: impl Read) -> Box<dyn Iterator<Item = Located>> {
    let doc: Document = match serde_json::from_reader(input) {
        Ok(doc) => doc,
        Err(e) => {
            return Box::new(std::iter::once((
                "document".to_owned(),
                Err(format!("not a MemoryGraph JSON export: {e}")),
            )));
        }
    };
    let version = doc.format_version.or(doc.export_version);
    if version.is_none() {
        tracing::warn!("MemoryGraph export without format_version; reading it as format 2.0");
    }
    let now = Utc::now().trunc_subsecs(6);
    let memories = doc
        .memories
        .into_iter()
        .enumerate()
        .map(move |(i, v)| (format!("memories[{i}]"), memory(v, now)));
    let relationships = doc
        .relationships
        .into_iter()
        .enumerate()
        .map(move |(i, v)| (format!("relationships[{i}]"), relationship(v, now)));
    Box::new(memories.chain(relationships))
}
