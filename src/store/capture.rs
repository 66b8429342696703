//! Capture: what a coding session learned, turned into memories without a language model.
//!
//! A front end reads a client's transcript into [`SessionEvent`]s (what the user typed, what
//! the assistant said, commands and their outcomes, files edited); the rules of what is worth
//! keeping are here, once:
//!
//! - an **error and its fix**: a command that failed, then files changed, then the same
//!   command passing. The error and the change become two memories, the fix SOLVES the error.
//!   An error already known in the project (same title) is linked to, not stored again.
//! - **decisions and preferences** the user stated in so many words ("let's use …", "we
//!   decided …", "always …", "never …", "I prefer …"). A preference goes to the global layer
//!   (no project), since it is the user's, not the repository's; one already stored is kept.
//! - a **session digest**: what was worked on, files edited, commands run, what failed then
//!   passed. One per session, updated by later captures instead of duplicated.
//!
//! Captures are incremental: [`CaptureState`] carries what is still open between two captures
//! of a session (a command whose outcome has not come yet, a failure not fixed yet, the
//! digest so far), so a failure in one capture and its fix in the next still pair up.
//! Records get ids derived from the session and what they say, so a capture replayed after
//! its state was lost finds its own records instead of duplicating them.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use chrono::Utc;
use serde::{Deserialize, Serialize};

use super::{MemoryStore, NewLink, NewMemory};
use crate::error::{Error, Result};
use crate::model::{Context, Created, Filter, MemoryPatch};

/// One thing that happened in a session, in transcript order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionEvent {
    /// Text the user typed (not a tool result, slash command or injected message).
    Prompt(String),
    /// Text the assistant wrote.
    Said(String),
    /// A shell command the assistant ran, by its call id.
    Command { call_id: String, command: String },
    /// A file the assistant created or changed.
    Edit { path: String },
    /// The result of a call. `flagged` is the client's own error flag, `exit_code` the exit
    /// status when the client reports one; either may be missing or wrong (a command piped
    /// into `tail` exits 0), so the output is read too.
    Outcome {
        call_id: String,
        flagged: bool,
        exit_code: Option<i32>,
        output: String,
    },
}

/// Where a capture's memories go.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CaptureScope {
    /// The client's session id: names the digest and the records' ids.
    pub session_id: String,
    /// The project (`context.project`); `None` files everything in the global layer.
    pub project: Option<String>,
    /// The repository's remote, recorded in the context.
    pub repo: Option<String>,
}

/// What a capture still holds open between two calls for one session.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CaptureState {
    /// Commands run whose outcome has not been read yet, by call id.
    #[serde(default)]
    open_calls: BTreeMap<String, String>,
    /// Failures not fixed yet, oldest first.
    #[serde(default)]
    failures: Vec<Failure>,
    /// What the assistant said last: the explanation a fix is stored with.
    #[serde(default)]
    last_said: String,
    #[serde(default)]
    digest: Digest,
}

/// A command that failed, waiting for the change that makes it pass.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Failure {
    key: String,
    command: String,
    title: String,
    output: String,
    /// Files changed since it failed.
    edits: Vec<String>,
    /// What the assistant said before the passing run: the fix's explanation.
    #[serde(default)]
    note: String,
}

/// What the session worked on, kept whole so each capture rewrites the digest complete.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Digest {
    prompts: Vec<String>,
    prompt_count: usize,
    files: BTreeSet<String>,
    commands: BTreeMap<String, usize>,
    fixed: Vec<String>,
    decisions: Vec<String>,
}

/// What one capture stored.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CaptureReport {
    /// Events read.
    pub events: usize,
    /// Memories created.
    pub created: usize,
    /// Memories updated (the digest).
    pub updated: usize,
    /// Error → fix pairs linked SOLVES.
    pub fixes: usize,
    /// Decisions and preferences stored.
    pub statements: usize,
    /// Facts already in the store, linked to or left as they were instead of stored again.
    pub known: usize,
    /// Ids of the memories created or updated.
    pub ids: Vec<String>,
    /// Secrets the store's redaction took out of what was stored.
    pub redacted: usize,
}

/// Prompts quoted in a digest.
const DIGEST_PROMPTS: usize = 3;
/// Files and commands named in a digest.
const DIGEST_ITEMS: usize = 20;
/// Characters of each quoted prompt or statement.
const QUOTE_CHARS: usize = 200;
/// Characters of command output kept with an error.
const ERROR_OUTPUT_CHARS: usize = 1500;
/// Characters of the assistant's explanation kept with a fix.
const FIX_NOTE_CHARS: usize = 600;
/// Longest title made from text.
const TITLE_CHARS: usize = 120;
/// Shortest and longest sentence taken as a statement: shorter says nothing, longer is a
/// paragraph of instructions rather than one decision.
const STATEMENT_CHARS: (usize, usize) = (12, 300);
/// Failures kept open at once; the oldest go first (a session that never fixes them).
const OPEN_FAILURES: usize = 20;
/// Calls kept open at once.
const OPEN_CALLS: usize = 200;
/// Memories of a kind in a project a capture compares new titles with: the newest ones. An
/// error or statement older than that is stored again rather than found.
const KNOWN_WINDOW: usize = 5000;

/// Importance of captured memories: a fix is what a later session most needs.
const FIX_IMPORTANCE: f32 = 0.7;
const ERROR_IMPORTANCE: f32 = 0.6;
const STATEMENT_IMPORTANCE: f32 = 0.7;
const DIGEST_IMPORTANCE: f32 = 0.3;

/// Tag on every captured memory, so a person can list or remove them.
const CAPTURED_TAG: &str = "captured";
/// Tag of session digests.
pub(super) const DIGEST_TAG: &str = "session-digest";

/// Phrases that make a sentence a decision (the project's).
const DECISION_CUES: &[&str] = &[
    "let's use ",
    "lets use ",
    "let's go with ",
    "we'll use ",
    "we will use ",
    "we decided",
    "i decided",
    "decision:",
    "we're going with ",
    "we are going with ",
    " instead of ",
    "from now on",
    "go with ",
];
/// Phrases that make a sentence a preference (the user's, everywhere).
const PREFERENCE_CUES: &[&str] = &[
    "i prefer ",
    "i'd prefer ",
    "i like to ",
    "always ",
    "never ",
    "don't ever ",
    "do not ever ",
    "my preference",
];

/// Lines of command output that name what went wrong, best first.
const ERROR_MARKERS: &[&str] = &[
    "error[",
    "error:",
    "panicked at",
    "traceback (most recent call last)",
    "assertionerror",
    "exception",
    "failed",
    "fatal:",
    "npm err!",
];

impl MemoryStore {
    /// Stores what `events` (the part of a session read since the last capture) teach, as
    /// the module describes, and advances `state` for the next capture of the session.
    /// Preferences go to `global`, the store of the global layer: this store itself when
    /// projects are a field, the configured namespace's when each project has its own.
    pub async fn capture(
        &self,
        global: &MemoryStore,
        scope: &CaptureScope,
        events: &[SessionEvent],
        state: &mut CaptureState,
    ) -> Result<CaptureReport> {
        if scope.session_id.trim().is_empty() {
            return Err(Error::invalid("session_id", "is empty"));
        }
        let mut report = CaptureReport {
            events: events.len(),
            ..CaptureReport::default()
        };
        let mut pairs = Vec::new();
        let mut statements = Vec::new();
        for event in events {
            state.absorb(event, &mut pairs, &mut statements);
        }
        // What goes to this store, and to the global layer's when it is another store.
        let mut own = Batch::default();
        let mut everywhere = Batch::default();
        let separate = !Arc::ptr_eq(&self.backend, &global.backend);
        if !pairs.is_empty() {
            let mut known = self.titled(scope.project.as_deref(), "error").await?;
            for pair in &pairs {
                own.fix(scope, pair, &mut known, &mut report);
            }
        }
        let mut known: HashMap<&str, Titles> = HashMap::new();
        for statement in &statements {
            let preference = statement.kind == "preference";
            let project = default_project(statement.kind, scope.project.as_deref());
            let titles = match known.entry(statement.kind) {
                Entry::Occupied(found) => found.into_mut(),
                Entry::Vacant(slot) => {
                    let store = if preference { global } else { self };
                    slot.insert(store.titled(project.as_deref(), statement.kind).await?)
                }
            };
            let batch = if preference && separate {
                &mut everywhere
            } else {
                &mut own
            };
            batch.statement(scope, project, statement, titles, &mut report);
        }
        if !events.is_empty() && !state.digest.is_empty() {
            self.digest(scope, &state.digest, &mut own, &mut report)
                .await?;
        }
        self.put(own, &mut report).await?;
        global.put(everywhere, &mut report).await?;
        Ok(report)
    }

    /// Updates the session's digest when it is stored already, or adds it to `batch`.
    async fn digest(
        &self,
        scope: &CaptureScope,
        digest: &Digest,
        batch: &mut Batch,
        report: &mut CaptureReport,
    ) -> Result<()> {
        let id = record_id(&scope.session_id, "digest", "");
        let content = digest.render();
        let context = context(
            scope,
            digest.files.iter().take(DIGEST_ITEMS).cloned().collect(),
        );
        match self.get(&id).await {
            Ok(existing) => {
                if existing.content == content {
                    return Ok(());
                }
                let patch = MemoryPatch {
                    content: Some(content),
                    context: Some(context),
                    ..MemoryPatch::default()
                };
                report.redacted += self.update(&id, patch, None, None).await?.redacted;
                report.updated += 1;
                report.ids.push(id);
            }
            Err(Error::MemoryNotFound { .. }) => {
                let title = clip(
                    &format!(
                        "Session {}: {}",
                        Utc::now().format("%Y-%m-%d"),
                        digest.prompts.first().map_or("work", String::as_str)
                    ),
                    TITLE_CHARS,
                );
                batch.records.push((
                    NewMemory {
                        id: Some(id),
                        kind: "note".into(),
                        title,
                        content,
                        tags: vec![CAPTURED_TAG.into(), DIGEST_TAG.into()],
                        context,
                        importance: Some(DIGEST_IMPORTANCE),
                        ..NewMemory::default()
                    },
                    Vec::new(),
                ));
            }
            Err(other) => return Err(other),
        }
        Ok(())
    }

    /// The newest [`KNOWN_WINDOW`] memories of `kind` in `project` (exactly; `None` is the
    /// global layer), by their titles as [`normalize`] reads them. One listing instead of a
    /// search per title: a capture of a long session asks about hundreds of titles.
    async fn titled(&self, project: Option<&str>, kind: &str) -> Result<Titles> {
        let filter = Filter {
            kinds: vec![kind.to_owned()],
            project: project.map(str::to_owned),
            ..Filter::default()
        };
        let page_size = self.limits.max_results;
        let mut titles = Titles::new();
        let mut cursor: Option<String> = None;
        let mut seen = 0;
        while seen < KNOWN_WINDOW {
            let page = self.list(&filter, cursor.as_deref(), page_size).await?;
            seen += page.memories.len();
            for m in page.memories {
                if m.context.project.as_deref() == project {
                    titles.entry(normalize(&m.title)).or_insert(m.id);
                }
            }
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        Ok(titles)
    }

    /// Writes `batch` in one go and counts what happened in `report`: new, or found already
    /// there (a replay), and the secrets the store took out.
    async fn put(&self, batch: Batch, report: &mut CaptureReport) -> Result<()> {
        if batch.records.is_empty() {
            return Ok(());
        }
        for written in self.create_linked_many(batch.records).await? {
            report.redacted += written.redacted;
            let linked = written.record;
            match linked.created {
                Created::New => {
                    report.created += 1;
                    report.ids.push(linked.memory.id);
                }
                Created::Existing => report.known += 1,
            }
        }
        Ok(())
    }
}

/// Memories of one kind and layer by normalised title: their ids.
type Titles = HashMap<String, String>;

/// What a capture writes to one store, with the links between its memories, in one
/// transaction.
#[derive(Default)]
struct Batch {
    records: Vec<(NewMemory, Vec<NewLink>)>,
}

impl Batch {
    /// An error (unless one with its title is `known`) and the fix that solves it.
    fn fix(
        &mut self,
        scope: &CaptureScope,
        pair: &Failure,
        known: &mut Titles,
        report: &mut CaptureReport,
    ) {
        let error_id = match known.get(&normalize(&pair.title)) {
            Some(id) => {
                report.known += 1;
                id.clone()
            }
            None => {
                let id = record_id(&scope.session_id, "error", &pair.title);
                known.insert(normalize(&pair.title), id.clone());
                let error = NewMemory {
                    id: Some(id.clone()),
                    kind: "error".into(),
                    title: pair.title.clone(),
                    content: format!(
                        "`{}` failed:\n```\n{}\n```",
                        pair.command,
                        excerpt_lines(&pair.output, ERROR_OUTPUT_CHARS)
                    ),
                    tags: vec![CAPTURED_TAG.into(), program(&pair.key)],
                    context: context(scope, Vec::new()),
                    importance: Some(ERROR_IMPORTANCE),
                    ..NewMemory::default()
                };
                self.records.push((error, Vec::new()));
                id
            }
        };
        let title = clip(&format!("Fix: {}", pair.title), TITLE_CHARS);
        // The explanation first: it is what a briefing quotes.
        let mut content = String::new();
        if !pair.note.is_empty() {
            content.push_str(&pair.note);
            content.push_str("\n\n");
        }
        content.push_str(&format!(
            "Changed {} to make `{}` pass again after it failed with: {}",
            pair.edits.join(", "),
            pair.command,
            pair.title
        ));
        let fix = NewMemory {
            id: Some(record_id(&scope.session_id, "fix", &content)),
            kind: "fix".into(),
            title,
            content,
            tags: vec![CAPTURED_TAG.into(), program(&pair.key)],
            context: context(scope, pair.edits.clone()),
            importance: Some(FIX_IMPORTANCE),
            ..NewMemory::default()
        };
        let link = NewLink {
            id: Some(record_id(&scope.session_id, "solves", &error_id)),
            target_id: error_id,
            rel_type: "SOLVES".into(),
            strength: Some(0.9),
            ..NewLink::default()
        };
        self.records.push((fix, vec![link]));
        report.fixes += 1;
    }

    /// A decision or preference filed under `project`, unless one with its title is `known`.
    fn statement(
        &mut self,
        scope: &CaptureScope,
        project: Option<String>,
        statement: &Statement,
        known: &mut Titles,
        report: &mut CaptureReport,
    ) {
        let title = clip(&statement.text, TITLE_CHARS);
        if known.contains_key(&normalize(&title)) {
            report.known += 1;
            return;
        }
        let id = record_id(&scope.session_id, statement.kind, &title);
        known.insert(normalize(&title), id.clone());
        let scope_here = CaptureScope {
            repo: project.as_ref().and(scope.repo.clone()),
            project,
            ..scope.clone()
        };
        let new = NewMemory {
            id: Some(id),
            kind: statement.kind.into(),
            title,
            content: format!(
                "{}\n\n(stated by the user in a session on {})",
                statement.text,
                Utc::now().format("%Y-%m-%d")
            ),
            tags: vec![CAPTURED_TAG.into()],
            context: context(&scope_here, Vec::new()),
            importance: Some(STATEMENT_IMPORTANCE),
            ..NewMemory::default()
        };
        self.records.push((new, Vec::new()));
        report.statements += 1;
    }
}

/// The project a memory stored without one is filed under when its writer works in
/// `project` (a hook, or the MCP server started in a project): that project, except for a
/// preference, which is the user's and belongs to the global layer (no project).
pub fn default_project(kind: &str, project: Option<&str>) -> Option<String> {
    if kind.trim().eq_ignore_ascii_case("preference") {
        None
    } else {
        project.map(str::to_owned)
    }
}

/// A decision or preference the user stated.
#[derive(Debug, Clone, PartialEq)]
struct Statement {
    kind: &'static str,
    text: String,
}

impl CaptureState {
    /// Takes one event into the state: may complete an error → fix pair or find statements.
    fn absorb(
        &mut self,
        event: &SessionEvent,
        pairs: &mut Vec<Failure>,
        found: &mut Vec<Statement>,
    ) {
        match event {
            SessionEvent::Prompt(text) => {
                let d = &mut self.digest;
                d.prompt_count += 1;
                if d.prompts.len() < DIGEST_PROMPTS {
                    d.prompts.push(clip(text, QUOTE_CHARS));
                }
                for statement in statements(text) {
                    if statement.kind == "decision" && d.decisions.len() < DIGEST_ITEMS {
                        d.decisions.push(clip(&statement.text, QUOTE_CHARS));
                    }
                    found.push(statement);
                }
            }
            SessionEvent::Said(text) => self.last_said = clip(text, FIX_NOTE_CHARS),
            SessionEvent::Edit { path } => {
                self.digest.files.insert(path.clone());
                for failure in &mut self.failures {
                    if !failure.edits.contains(path) {
                        failure.edits.push(path.clone());
                    }
                }
            }
            SessionEvent::Command { call_id, command } => {
                if self.open_calls.len() >= OPEN_CALLS {
                    self.open_calls.pop_first();
                }
                self.open_calls.insert(call_id.clone(), command.clone());
                *self
                    .digest
                    .commands
                    .entry(command_key(command))
                    .or_default() += 1;
            }
            SessionEvent::Outcome {
                call_id,
                flagged,
                exit_code,
                output,
            } => {
                let Some(command) = self.open_calls.remove(call_id) else {
                    return;
                };
                let key = command_key(&command);
                let open = self.failures.iter().position(|f| f.key == key);
                match (failed(*flagged, *exit_code, output), open) {
                    (true, None) => {
                        if self.failures.len() >= OPEN_FAILURES {
                            self.failures.remove(0);
                        }
                        self.failures.push(Failure {
                            title: error_title(&command, *exit_code, output),
                            key,
                            command: without_cd(&command).to_owned(),
                            output: excerpt_lines(output, ERROR_OUTPUT_CHARS),
                            edits: Vec::new(),
                            note: String::new(),
                        });
                    }
                    (true, Some(_)) => {}
                    (false, Some(i)) => {
                        let mut failure = self.failures.remove(i);
                        // Passing again with nothing changed was a flaky run, not a fix.
                        if !failure.edits.is_empty() {
                            failure.note = self.last_said.clone();
                            self.digest.fixed.push(clip(
                                &format!("`{}`: {}", failure.key, failure.title),
                                QUOTE_CHARS,
                            ));
                            pairs.push(failure);
                        }
                    }
                    (false, None) => {}
                }
            }
        }
    }
}

impl Digest {
    fn is_empty(&self) -> bool {
        self.prompt_count == 0 && self.files.is_empty() && self.commands.is_empty()
    }

    fn render(&self) -> String {
        let mut out = String::new();
        if !self.prompts.is_empty() {
            out.push_str(&format!("Worked on ({} prompts):\n", self.prompt_count));
            for p in &self.prompts {
                out.push_str(&format!("- {p}\n"));
            }
        }
        if !self.files.is_empty() {
            let shown: Vec<&str> = self
                .files
                .iter()
                .take(DIGEST_ITEMS)
                .map(String::as_str)
                .collect();
            out.push_str(&format!(
                "Files edited ({}): {}\n",
                self.files.len(),
                shown.join(", ")
            ));
        }
        if !self.commands.is_empty() {
            let mut commands: Vec<(&String, &usize)> = self.commands.iter().collect();
            commands.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
            let shown: Vec<String> = commands
                .iter()
                .take(DIGEST_ITEMS)
                .map(|(c, n)| format!("{c} ×{n}"))
                .collect();
            out.push_str(&format!("Commands run: {}\n", shown.join(", ")));
        }
        if !self.fixed.is_empty() {
            out.push_str("Failed, then passed after a change:\n");
            for f in &self.fixed {
                out.push_str(&format!("- {f}\n"));
            }
        }
        if !self.decisions.is_empty() {
            out.push_str("Decisions:\n");
            for d in &self.decisions {
                out.push_str(&format!("- {d}\n"));
            }
        }
        out.trim_end().to_owned()
    }
}

/// Whether a call failed: the exit status when there is one, else the client's flag, else
/// what the output says (a failing `cargo test | tail` exits 0 and is not flagged).
fn failed(flagged: bool, exit_code: Option<i32>, output: &str) -> bool {
    match exit_code {
        Some(code) => code != 0,
        None => flagged || output_reports_failure(output),
    }
}

/// Whether command output reports a failure in the words of common tools: a test summary
/// with failures, a compiler error, a panic, a traceback.
fn output_reports_failure(output: &str) -> bool {
    output.lines().any(|line| {
        let l = line.trim_start();
        l.starts_with("test result: FAILED")
            || l.starts_with("error[")
            || l.starts_with("error: ")
            || l.starts_with("FAILED ")
            || l.starts_with("Traceback (most recent call last)")
            || l.starts_with("npm ERR!")
            || l.contains("panicked at")
            || (l.contains(" failed") && l.contains(" passed") && !l.contains(" 0 failed"))
    })
}

/// The line of `output` that best names the error, or what failed and how.
fn error_title(command: &str, exit_code: Option<i32>, output: &str) -> String {
    for marker in ERROR_MARKERS {
        if let Some(line) = output
            .lines()
            .map(str::trim)
            .find(|l| l.to_lowercase().contains(marker) && !is_exit_line(l))
        {
            return clip(line, TITLE_CHARS);
        }
    }
    let status = exit_code.map_or(String::new(), |c| format!(" (exit {c})"));
    clip(
        &format!("`{}` failed{status}", command_key(command)),
        TITLE_CHARS,
    )
}

fn is_exit_line(line: &str) -> bool {
    line.starts_with("Exit code")
}

/// What identifies a command across reruns: its program and subcommand, without `cd …&&`,
/// environment assignments, flags, paths and whatever it is piped into. `cargo test -p x 2>&1
/// | tail -20` and `cargo test` are the same command run again.
fn command_key(command: &str) -> String {
    let last = command.rsplit("&&").next().unwrap_or(command);
    let first = last.split('|').next().unwrap_or(last);
    let words: Vec<&str> = first
        .split_whitespace()
        .filter(|w| !w.contains('='))
        .take_while(|w| !w.starts_with('-') && !w.contains('/') && !w.contains('>'))
        .take(2)
        .collect();
    if words.is_empty() {
        clip(first.trim(), 60)
    } else {
        words.join(" ")
    }
}

/// A command without the `cd <dir> &&` an assistant puts in front: the directory is the
/// project's, and differs between machines.
fn without_cd(command: &str) -> &str {
    let trimmed = command.trim_start();
    match trimmed.split_once("&&") {
        Some((first, rest)) if first.trim_start().starts_with("cd ") => rest.trim_start(),
        _ => trimmed,
    }
}

/// The program of a command key, as a tag.
fn program(key: &str) -> String {
    key.split_whitespace()
        .next()
        .unwrap_or("command")
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == '-' || *c == '_')
        .collect::<String>()
        .to_lowercase()
}

/// Decisions and preferences stated in a prompt, sentence by sentence.
fn statements(text: &str) -> Vec<Statement> {
    let mut out = Vec::new();
    for sentence in text.split(['.', '!', '\n', ';']) {
        let sentence = sentence.trim();
        let len = sentence.chars().count();
        if len < STATEMENT_CHARS.0 || len > STATEMENT_CHARS.1 || sentence.ends_with('?') {
            continue;
        }
        let lower = format!(" {}", sentence.to_lowercase());
        let kind = if PREFERENCE_CUES
            .iter()
            .any(|c| lower.contains(&format!(" {c}")))
        {
            "preference"
        } else if DECISION_CUES.iter().any(|c| lower.contains(c)) {
            "decision"
        } else {
            continue;
        };
        out.push(Statement {
            kind,
            text: sentence.to_owned(),
        });
    }
    out
}

fn context(scope: &CaptureScope, paths: Vec<String>) -> Context {
    Context {
        project: scope.project.clone(),
        repo: scope.repo.clone(),
        paths,
        ..Context::default()
    }
}

/// An id for a captured record, the same every time the same session says the same thing.
fn record_id(session_id: &str, what: &str, text: &str) -> String {
    let name = format!("mnemograph-capture\u{1f}{session_id}\u{1f}{what}\u{1f}{text}");
    uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, name.as_bytes()).to_string()
}

/// Lower-case words only, for comparing titles.
fn normalize(text: &str) -> String {
    crate::text::tokens(text).collect::<Vec<_>>().join(" ")
}

/// `text` on one line, at most `max` characters, cut between words with an ellipsis. Never
/// inside a word, unless one word alone is longer: half a key would no longer look like a
/// key to the store's redaction.
fn clip(text: &str, max: usize) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= max {
        return flat;
    }
    let mut out = String::new();
    for word in flat.split(' ') {
        let extra = usize::from(!out.is_empty()) + word.chars().count();
        if out.chars().count() + extra + 1 > max {
            break;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    if out.is_empty() {
        out = flat.chars().take(max.saturating_sub(1)).collect();
    }
    out.push('…');
    out
}

/// The lines of `output` around its first error line, at most `max` characters: the part
/// that says what went wrong, not the build log before it.
fn excerpt_lines(output: &str, max: usize) -> String {
    let lines: Vec<&str> = output.lines().filter(|l| !l.trim().is_empty()).collect();
    let start = lines
        .iter()
        .position(|l| {
            let lower = l.to_lowercase();
            ERROR_MARKERS.iter().any(|m| lower.contains(m)) && !is_exit_line(l.trim())
        })
        .unwrap_or(0)
        .saturating_sub(2);
    let mut out = String::new();
    for line in &lines[start..] {
        if out.len() + line.len() + 1 > max {
            break;
        }
        out.push_str(line);
        out.push('\n');
    }
    out.trim_end().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Direction;
    use crate::store::testing::store;

    fn scope(project: &str) -> CaptureScope {
        CaptureScope {
            session_id: "s-1".into(),
            project: Some(project.into()),
            repo: None,
        }
    }

    fn run(call: &str, command: &str) -> SessionEvent {
        SessionEvent::Command {
            call_id: call.into(),
            command: command.into(),
        }
    }

    fn outcome(call: &str, flagged: bool, output: &str) -> SessionEvent {
        SessionEvent::Outcome {
            call_id: call.into(),
            flagged,
            exit_code: None,
            output: output.into(),
        }
    }

    #[test]
    fn commands_rerun_with_other_flags_or_pipes_are_the_same() {
        assert_eq!(
            command_key("cd /x && cargo test -p a 2>&1 | tail -20"),
            "cargo test"
        );
        assert_eq!(command_key("RUST_LOG=debug cargo test"), "cargo test");
        assert_eq!(command_key("pytest tests/test_a.py -x"), "pytest");
        assert_eq!(command_key("npm run build"), "npm run");
    }

    #[test]
    fn clipping_never_splits_a_word() {
        let key = format!("ghp_{}", "a".repeat(36));
        let clipped = clip(&format!("the token is {key} ok"), 30);
        assert_eq!(clipped, "the token is…");
        assert_eq!(clip("short", 30), "short");
    }

    #[test]
    fn failure_is_read_from_status_flag_or_output() {
        assert!(failed(false, Some(1), ""));
        assert!(!failed(true, Some(0), ""));
        assert!(failed(true, None, "whatever"));
        assert!(failed(
            false,
            None,
            "test result: FAILED. 3 passed; 1 failed"
        ));
        assert!(!failed(false, None, "test result: ok. 3 passed; 0 failed"));
        assert!(failed(false, None, "=== 1 failed, 4 passed in 0.2s ==="));
    }

    #[test]
    fn statements_are_decisions_or_preferences_and_questions_are_neither() {
        let found = statements(
            "Let's use SQLite for the cache. I prefer tabs over spaces. Should we use Redis? \
             Fix the bug",
        );
        assert_eq!(
            found,
            [
                Statement {
                    kind: "decision",
                    text: "Let's use SQLite for the cache".into()
                },
                Statement {
                    kind: "preference",
                    text: "I prefer tabs over spaces".into()
                },
            ]
        );
    }

    #[tokio::test]
    async fn a_failure_fixed_in_a_later_capture_is_stored_as_a_linked_pair() {
        let s = store().await;
        let mut state = CaptureState::default();
        let first = [
            SessionEvent::Prompt("make the parser accept dates".into()),
            run("1", "cargo test"),
            outcome("1", true, "error[E0308]: mismatched types\n --> src/a.rs:3"),
        ];
        let report = s
            .capture(&s, &scope("p"), &first, &mut state)
            .await
            .unwrap();
        assert_eq!(report.fixes, 0, "not fixed yet");
        let second = [
            SessionEvent::Edit {
                path: "src/a.rs".into(),
            },
            SessionEvent::Said("The date field needed a parse call.".into()),
            run("2", "cargo test 2>&1 | tail"),
            outcome("2", false, "test result: ok. 3 passed; 0 failed"),
        ];
        let report = s
            .capture(&s, &scope("p"), &second, &mut state)
            .await
            .unwrap();
        assert_eq!(report.fixes, 1);
        let errors = s
            .list(
                &Filter {
                    kinds: vec!["error".into()],
                    ..Filter::default()
                },
                None,
                10,
            )
            .await
            .unwrap()
            .memories;
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].title, "error[E0308]: mismatched types");
        let rels = s.relationships(&errors[0].id).await.unwrap();
        assert_eq!(rels.len(), 1);
        assert_eq!(rels[0].rel_type, "SOLVES");
        let fix = s.get(&rels[0].source_id).await.unwrap();
        assert!(fix.content.contains("src/a.rs") && fix.content.contains("parse call"));

        // The same error in another session links a new fix to the known error.
        let mut other = CaptureState::default();
        let again = [
            run("1", "cargo test"),
            outcome("1", true, "error[E0308]: mismatched types"),
            SessionEvent::Edit {
                path: "src/b.rs".into(),
            },
            run("2", "cargo test"),
            outcome("2", false, "ok"),
        ];
        let sc = CaptureScope {
            session_id: "s-2".into(),
            ..scope("p")
        };
        let report = s.capture(&s, &sc, &again, &mut other).await.unwrap();
        assert_eq!((report.fixes, report.known), (1, 1));
        let solvers = s
            .neighbours(
                &errors[0].id,
                &crate::model::Traversal {
                    direction: Direction::Incoming,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(solvers.len(), 2);
    }

    #[tokio::test]
    async fn a_rerun_with_nothing_changed_is_no_fix_and_a_digest_is_updated_not_duplicated() {
        let s = store().await;
        let mut state = CaptureState::default();
        let events = [
            SessionEvent::Prompt("We decided to keep the API synchronous".into()),
            run("1", "make"),
            outcome("1", true, "fatal: flaky"),
            run("2", "make"),
            outcome("2", false, "done"),
        ];
        let report = s
            .capture(&s, &scope("p"), &events, &mut state)
            .await
            .unwrap();
        assert_eq!((report.fixes, report.statements, report.created), (0, 1, 2));
        let more = [SessionEvent::Edit {
            path: "a.rs".into(),
        }];
        let report = s.capture(&s, &scope("p"), &more, &mut state).await.unwrap();
        assert_eq!((report.created, report.updated), (0, 1));
        // A statement said again in a new session is known, not stored twice.
        let mut fresh = CaptureState::default();
        let sc = CaptureScope {
            session_id: "s-9".into(),
            ..scope("p")
        };
        let report = s
            .capture(
                &s,
                &sc,
                &[SessionEvent::Prompt(
                    "we decided to keep the API synchronous!".into(),
                )],
                &mut fresh,
            )
            .await
            .unwrap();
        assert_eq!((report.statements, report.known), (0, 1));
    }
}
