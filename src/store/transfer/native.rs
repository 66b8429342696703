//! The native format: JSON Lines, a versioned header record first, then one record per
//! memory and one per relationship. Every field of the store is kept (ids, timestamps,
//! versions, access counts, and each vector with the model that made it), so an export
//! imported into an empty store gives back the same store.
//!
//! ```text
//! {"type":"header","format":"mnemograph","version":1,"exported_at":"…","store_id":"…","schema_version":1,"embedding_model":null,"embedding_dim":null}
//! {"type":"memory","id":"…","kind":"fix","title":"…","content":"…","tags":[],…,"version":1,"embedding":{"model":"…","vector":[…]}}
//! {"type":"relationship","id":"…","source_id":"…","target_id":"…","rel_type":"SOLVES",…}
//! ```
//!
//! Memories come before relationships, so a reader can import in one pass.

use std::io::{BufRead, Write};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{ExportReport, Located, Record};
use crate::error::{Error, Result};
use crate::model::{Embedding, Memory, Relationship};
use crate::store::MemoryStore;

/// Name in the header's `format` field.
pub const FORMAT: &str = "mnemograph";
/// Version of the format this build writes and the newest it reads.
pub const VERSION: u32 = 1;

/// The first record of an export.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Header {
    pub format: String,
    pub version: u32,
    pub exported_at: DateTime<Utc>,
    pub store_id: String,
    pub schema_version: u32,
    pub embedding_model: Option<String>,
    pub embedding_dim: Option<usize>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct MemoryLine {
    #[serde(flatten)]
    memory: Memory,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    embedding: Option<Embedding>,
}

/// One line of the format.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum Line {
    Header(Header),
    Memory(MemoryLine),
    Relationship(Relationship),
}

/// True when `first_line` is a native header (used to detect the format of an input).
pub fn is_header(first_line: &str) -> bool {
    matches!(serde_json::from_str::<Line>(first_line), Ok(Line::Header(h)) if h.format == FORMAT)
}

fn io_error(context: &str) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        context: context.to_owned(),
        source,
    }
}

fn write_line(out: &mut dyn Write, line: &Line) -> Result<()> {
    serde_json::to_writer(&mut *out, line).map_err(|e| Error::Io {
        context: "cannot write the export".into(),
        source: e.into(),
    })?;
    out.write_all(b"\n")
        .map_err(io_error("cannot write the export"))
}

/// Writes the whole store to `out`, a page at a time. `progress` is told how many records
/// have been written so far.
pub async fn export(
    store: &MemoryStore,
    out: &mut dyn Write,
    progress: &mut dyn FnMut(u64),
) -> Result<ExportReport> {
    let meta = store.meta().await?;
    write_line(
        out,
        &Line::Header(Header {
            format: FORMAT.to_owned(),
            version: VERSION,
            exported_at: Utc::now(),
            store_id: meta.store_id,
            schema_version: meta.schema_version,
            embedding_model: meta.embedding_model,
            embedding_dim: meta.embedding_dim,
        }),
    )?;
    let mut report = ExportReport::default();
    store
        .for_each_memory_page(|page| {
            for (memory, embedding) in page {
                report.memories += 1;
                report.embeddings += u64::from(embedding.is_some());
                write_line(out, &Line::Memory(MemoryLine { memory, embedding }))?;
            }
            progress(report.memories);
            Ok(())
        })
        .await?;
    store
        .for_each_relationship_page(|page| {
            for rel in page {
                report.relationships += 1;
                write_line(out, &Line::Relationship(rel))?;
            }
            progress(report.memories + report.relationships);
            Ok(())
        })
        .await?;
    out.flush().map_err(io_error("cannot write the export"))?;
    Ok(report)
}

/// The records of a native input, line by line. The header must come first; blank lines are
/// ignored. A line that is not a record is reported with its number.
pub fn read(input: impl BufRead) -> impl Iterator<Item = Located> {
    let mut header_seen = false;
    input
        .lines()
        .enumerate()
        .filter_map(move |(i, line)| {
            let at = format!("line {}", i + 1);
            let line = match line {
                Ok(line) if line.trim().is_empty() => return None,
                Ok(line) => line,
                Err(e) => return Some((at, Err(format!("cannot read: {e}")))),
            };
            let parsed = match serde_json::from_str::<Line>(&line) {
                Err(e) => Err(format!("not a mnemograph record: {e}")),
                Ok(Line::Header(h)) if header_seen => {
                    Err(format!("a second header (exported at {})", h.exported_at))
                }
                Ok(Line::Header(h)) => {
                    header_seen = true;
                    if h.format != FORMAT || h.version > VERSION {
                        Err(format!(
                            "format {} version {} is not readable by this build (it reads {FORMAT} up to version {VERSION}); upgrade mnemograph",
                            h.format, h.version
                        ))
                    } else {
                        return None;
                    }
                }
                Ok(_) if !header_seen => Err(format!(
                    "a record before the header; a {FORMAT} export starts with a header line"
                )),
                Ok(Line::Memory(m)) => Ok(Record::Memory(m.memory, m.embedding)),
                Ok(Line::Relationship(r)) => Ok(Record::Relationship(r)),
            };
            Some((at, parsed))
        })
}
