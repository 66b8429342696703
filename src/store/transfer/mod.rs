//! Moving memories between stores and tools: export in the native format, and import from it,
//! from the reference memory server's `memory.jsonl` and from MemoryGraph's JSON export.
//!
//! Readers of each format ([`native`], [`knowledge_graph`], [`memorygraph`]) turn their input
//! into [`Record`]s, each tagged with where it came from; [`MemoryStore::import`] validates
//! every record with the store's rules, groups valid ones into batches and writes each batch
//! in one transaction with [`GraphBackend::import_batch`]. A bad record is reported with its
//! location and either skipped or stops the import before its batch is written, so a batch is
//! never half imported. Records keep their ids, which is what makes an import idempotent.
//!
//! [`GraphBackend::import_batch`]: crate::backend::GraphBackend::import_batch

pub mod knowledge_graph;
pub mod memorygraph;
pub mod native;

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use chrono::SubsecRound;
use serde::Serialize;

use super::{MemoryStore, check_validity};
use crate::backend::{ImportBatch, ImportOutcome, Imported, SkipReason};
use crate::error::{Error, Result};
use crate::model::{Embedding, Memory, Relationship};

/// The formats `import` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// mnemograph's own JSON Lines export (lossless).
    Native,
    /// The reference MCP memory server's `memory.jsonl` (entities and relations).
    KnowledgeGraph,
    /// MemoryGraph's JSON export.
    Memorygraph,
}

impl Format {
    /// Recognises a format from the first non-blank line of an input: a native header, an
    /// entity or relation, or else (a JSON document spread over lines) a MemoryGraph export.
    pub fn detect(first_line: &str) -> Format {
        if native::is_header(first_line) {
            Format::Native
        } else if knowledge_graph::is_knowledge_graph_line(first_line) {
            Format::KnowledgeGraph
        } else {
            Format::Memorygraph
        }
    }

    /// The records of `input` in this format.
    pub fn read(self, input: impl std::io::BufRead + 'static) -> Box<dyn Iterator<Item = Located>> {
        match self {
            Format::Native => Box::new(native::read(input)),
            Format::KnowledgeGraph => Box::new(knowledge_graph::read(input)),
            Format::Memorygraph => memorygraph::read(input),
        }
    }
}

/// Records written per transaction unless the caller says otherwise. Each batch is one
/// commit and one new full-text segment that later batches merge: 5,000 imported 100k
/// memories 15–20% faster than 1,000 for ~9 MiB more at the peak; 10,000 and 20,000 were no
/// faster (`memctl import`, BENCHMARKS.md "Session 17"). Another process writing meanwhile
/// waits about as long at either size: its lock waits peaked at 0.9–1.3 s with both, SQLite's
/// busy handler sleeping between tries while the import takes the lock again.
pub const DEFAULT_BATCH: usize = 5000;

/// One record of an input.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    Memory(Memory, Option<Embedding>),
    Relationship(Relationship),
}

/// A record, or why the input at that place is not one; `at` names the place ("line 12").
pub type Located = (String, std::result::Result<Record, String>);

/// What to do with a record that cannot be imported.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OnError {
    /// Stop at the first bad record; its batch is not written.
    #[default]
    Stop,
    /// Report it and go on.
    Skip,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImportOptions {
    /// Compute and report everything, keep nothing.
    pub dry_run: bool,
    pub on_error: OnError,
    /// Records per transaction.
    pub batch_size: usize,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            dry_run: false,
            on_error: OnError::Stop,
            batch_size: DEFAULT_BATCH,
        }
    }
}

/// How many records of one sort were created, updated and skipped.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub created: u64,
    pub updated: u64,
    pub skipped: u64,
    /// Skips by reason (`unchanged`, `older`, `missing_endpoint`, `conflict`).
    pub skipped_by_reason: BTreeMap<&'static str, u64>,
}

impl Counts {
    fn add(&mut self, imported: Imported) {
        match imported {
            Imported::Created => self.created += 1,
            Imported::Updated => self.updated += 1,
            Imported::Skipped(reason) => {
                self.skipped += 1;
                *self.skipped_by_reason.entry(reason.as_str()).or_default() += 1;
            }
        }
    }
}

/// A record that could not be imported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordError {
    /// Where in the input, e.g. `line 12`.
    pub at: String,
    pub message: String,
}

/// What an import did (or, in a dry run, would do).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ImportReport {
    pub dry_run: bool,
    pub memories: Counts,
    pub relationships: Counts,
    /// Bad records, in input order.
    pub errors: Vec<RecordError>,
    /// Where the import stopped, when a bad record stopped it (`OnError::Stop`).
    pub stopped_at: Option<String>,
    /// Secrets replaced by `[REDACTED:…]` markers in the imported text.
    pub redacted: u64,
}

/// A batch being written in a task of its own, handing it back with what it did.
type Writing = tokio::task::JoinHandle<Result<(Arc<ImportBatch>, ImportOutcome)>>;

/// An import under way. The batch being written while the next is read and checked: parsing,
/// redacting and validating cost about as much as writing, so the two overlap. One batch at a
/// time, in order, so a batch's relationships find the memories of the batches before it.
struct Importing {
    dry_run: bool,
    /// Memories a dry run would have created: later batches' relationships may join them.
    dry_created: HashSet<String>,
    report: ImportReport,
    writing: Option<Writing>,
}

/// What an export wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ExportReport {
    pub memories: u64,
    pub relationships: u64,
    pub embeddings: u64,
}

impl MemoryStore {
    /// Imports `records` (see the module docs). Fails only when the store fails; bad records
    /// are in the report.
    pub async fn import(
        &self,
        records: impl IntoIterator<Item = Located>,
        options: ImportOptions,
    ) -> Result<ImportReport> {
        let mut run = Importing {
            dry_run: options.dry_run,
            dry_created: HashSet::new(),
            report: ImportReport {
                dry_run: options.dry_run,
                ..ImportReport::default()
            },
            writing: None,
        };
        let mut batch = ImportBatch::default();
        let batch_size = options.batch_size.max(1);
        for (at, parsed) in records {
            let checked = match parsed {
                Ok(record) => self
                    .check_record(record, options.dry_run, &mut run.report.redacted)
                    .await
                    .map_err(|e| e.to_string()),
                Err(message) => Err(message),
            };
            match checked {
                Ok(Record::Memory(m, e)) => batch.memories.push((m, e)),
                Ok(Record::Relationship(r)) => batch.relationships.push(r),
                Err(message) => {
                    run.report.errors.push(RecordError {
                        at: at.clone(),
                        message,
                    });
                    if options.on_error == OnError::Stop {
                        self.hand_over(&mut run, None).await?;
                        run.report.stopped_at = Some(at);
                        return Ok(run.report);
                    }
                }
            }
            if batch.len() >= batch_size {
                self.hand_over(&mut run, Some(std::mem::take(&mut batch)))
                    .await?;
            }
        }
        self.hand_over(&mut run, Some(batch)).await?;
        self.hand_over(&mut run, None).await?;
        Ok(run.report)
    }

    /// Waits for the batch being written, if any, and counts what it did; then starts writing
    /// `next` (when it holds anything) in a task of its own.
    async fn hand_over(&self, run: &mut Importing, next: Option<ImportBatch>) -> Result<()> {
        if let Some(writing) = run.writing.take() {
            let (batch, outcome) = writing.await.map_err(|e| Error::Task(e.to_string()))??;
            self.count_outcome(run, &batch, outcome).await?;
        }
        run.writing = next.filter(|b| !b.is_empty()).map(|batch| {
            let backend = Arc::clone(&self.backend);
            let dry_run = run.dry_run;
            let batch = Arc::new(batch);
            tokio::spawn(async move {
                let outcome = backend.import_batch(Arc::clone(&batch), dry_run).await?;
                Ok((batch, outcome))
            })
        });
        Ok(())
    }

    /// Adds what a written batch did to the report.
    async fn count_outcome(
        &self,
        run: &mut Importing,
        batch: &ImportBatch,
        outcome: ImportOutcome,
    ) -> Result<()> {
        for ((memory, _), done) in batch.memories.iter().zip(outcome.memories) {
            if run.dry_run && done == Imported::Created {
                run.dry_created.insert(memory.id.clone());
            }
            run.report.memories.add(done);
        }
        for (rel, mut done) in batch.relationships.iter().zip(outcome.relationships) {
            if run.dry_run
                && done == Imported::Skipped(SkipReason::MissingEndpoint)
                && self
                    .would_exist(&[&rel.source_id, &rel.target_id], &run.dry_created)
                    .await?
            {
                done = Imported::Created;
            }
            run.report.relationships.add(done);
        }
        Ok(())
    }

    /// True when every id is stored or was created earlier in this dry run.
    async fn would_exist(&self, ids: &[&String], dry_created: &HashSet<String>) -> Result<bool> {
        let stored: Vec<String> = ids
            .iter()
            .filter(|id| !dry_created.contains(id.as_str()))
            .map(|id| (*id).clone())
            .collect();
        Ok(self
            .backend
            .summaries(&stored, &Default::default())
            .await?
            .len()
            == stored.len())
    }

    /// Validates and normalises a record with the rules every write follows, keeping its ids,
    /// timestamps (at the stored microsecond precision) and bookkeeping, after taking the
    /// secrets out of its text (counted in `redacted`).
    async fn check_record(
        &self,
        record: Record,
        dry_run: bool,
        redacted: &mut u64,
    ) -> Result<Record> {
        let l = &self.limits;
        let mut found = 0;
        let record = self.scrub_record(record, &mut found);
        *redacted += found as u64;
        match record {
            Record::Memory(m, embedding) => {
                if let Some(e) = &embedding {
                    self.check_import_embedding(e, dry_run).await?;
                }
                if m.version < 1 {
                    return Err(Error::invalid("version", "must be 1 or more"));
                }
                let memory = Memory {
                    id: l.id("id", &m.id)?,
                    kind: l.kind(&m.kind)?,
                    title: l.title(&m.title)?,
                    content: l.content(&m.content)?,
                    tags: l.tags(&m.tags)?,
                    context: l.context(m.context)?,
                    importance: l.unit("importance", m.importance)?,
                    confidence: l.unit("confidence", m.confidence)?,
                    created_at: m.created_at.trunc_subsecs(6),
                    updated_at: m.updated_at.trunc_subsecs(6),
                    accessed_at: m.accessed_at.map(|t| t.trunc_subsecs(6)),
                    access_count: m.access_count,
                    version: m.version,
                };
                Ok(Record::Memory(memory, embedding))
            }
            Record::Relationship(r) => {
                if r.version < 1 {
                    return Err(Error::invalid("version", "must be 1 or more"));
                }
                let source_id = l.id("source_id", &r.source_id)?;
                let target_id = l.id("target_id", &r.target_id)?;
                if source_id == target_id {
                    return Err(Error::invalid(
                        "target_id",
                        "is the source itself; a relationship joins two different memories",
                    ));
                }
                check_validity(r.valid_from, r.valid_to)?;
                l.json_size("properties", &r.properties)?;
                Ok(Record::Relationship(Relationship {
                    id: l.id("id", &r.id)?,
                    source_id,
                    target_id,
                    rel_type: l.rel_type(&r.rel_type)?,
                    strength: l.unit("strength", r.strength)?,
                    confidence: l.unit("confidence", r.confidence)?,
                    note: r.note.as_deref().map(|n| l.note(n)).transpose()?.flatten(),
                    properties: r.properties,
                    valid_from: r.valid_from.map(|t| t.trunc_subsecs(6)),
                    valid_to: r.valid_to.map(|t| t.trunc_subsecs(6)),
                    created_at: r.created_at.trunc_subsecs(6),
                    updated_at: r.updated_at.trunc_subsecs(6),
                    version: r.version,
                }))
            }
        }
    }

    /// `record` with the secrets in its text replaced, counted in `found`.
    fn scrub_record(&self, record: Record, found: &mut usize) -> Record {
        let r = &self.redactor;
        match record {
            Record::Memory(mut m, embedding) => {
                let Memory {
                    title,
                    content,
                    tags,
                    context,
                    ..
                } = &mut m;
                r.memory(title, content, tags, context, found);
                Record::Memory(m, embedding)
            }
            Record::Relationship(mut rel) => {
                if let Some(note) = &mut rel.note {
                    r.string(note, found);
                }
                rel.properties.values_mut().for_each(|v| r.json(v, found));
                Record::Relationship(rel)
            }
        }
    }

    /// An imported vector must belong to the store's embedding space; a real import claims
    /// the space when the store has none yet, a dry run only compares.
    async fn check_import_embedding(&self, embedding: &Embedding, dry_run: bool) -> Result<()> {
        if !dry_run {
            return self.check_embedding(embedding).await;
        }
        self.limits.embedding(embedding)?;
        let known = self.space.read().expect("space lock").clone();
        match known {
            Some((model, dim))
                if (model.as_str(), dim) != (embedding.model.as_str(), embedding.vector.len()) =>
            {
                Err(Error::ModelMismatch {
                    stored: model,
                    stored_dim: dim,
                    given: embedding.model.clone(),
                    given_dim: embedding.vector.len(),
                })
            }
            _ => Ok(()),
        }
    }

    /// Every memory, page by page, newest first, with its vector: the first pass of an export.
    /// `visit` sees one page at a time, so memory use does not grow with the store.
    pub async fn for_each_memory_page(
        &self,
        mut visit: impl FnMut(Vec<(Memory, Option<Embedding>)>) -> Result<()>,
    ) -> Result<()> {
        let mut cursor: Option<String> = None;
        loop {
            let page = self
                .list(
                    &Default::default(),
                    cursor.as_deref(),
                    self.limits.max_results,
                )
                .await?;
            let ids: Vec<String> = page.memories.iter().map(|m| m.id.clone()).collect();
            let mut vectors: std::collections::HashMap<String, Embedding> =
                self.backend.embeddings(&ids).await?.into_iter().collect();
            visit(
                page.memories
                    .into_iter()
                    .map(|m| {
                        let e = vectors.remove(&m.id);
                        (m, e)
                    })
                    .collect(),
            )?;
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => return Ok(()),
            }
        }
    }

    /// Every relationship exactly once (from its source's page), page by page: the second
    /// pass of an export.
    pub async fn for_each_relationship_page(
        &self,
        mut visit: impl FnMut(Vec<Relationship>) -> Result<()>,
    ) -> Result<()> {
        let mut cursor: Option<String> = None;
        loop {
            let page = self
                .list(
                    &Default::default(),
                    cursor.as_deref(),
                    self.limits.max_results,
                )
                .await?;
            let ids: Vec<String> = page.memories.iter().map(|m| m.id.clone()).collect();
            let mut rels = self
                .backend
                .relationships_of(&ids, crate::model::Direction::Outgoing, &[], None)
                .await?;
            rels.sort_by(|a, b| a.id.cmp(&b.id));
            visit(rels)?;
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => return Ok(()),
            }
        }
    }
}
