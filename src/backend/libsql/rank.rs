//! `kept_bm25`: FTS5's `bm25()`, with what it recomputes in every statement kept instead.
//!
//! `bm25()` weighs a phrase by its inverse document frequency, and to know how many rows hold
//! the phrase FTS5 walks the phrase's whole document list, once per *statement*: a keyword
//! query of two common words ranked in two or three stages (`keyword.rs`) paid that walk for
//! every stage and every search, about a tenth of a search at 100k memories. It also looks
//! each ranked row's length up in the `_docsize` table, another seventh. This function
//! computes what `bm25()` computes, in the same order of operations (FTS5's
//! `fts5Bm25Function`, so scores are equal to the last bit), but keeps each phrase's count
//! and each row's length per connection, for as long as the index is as it was.
//!
//! "As it was" is checked in two steps, inside the statement's own read transaction, so what
//! is kept is only used for the snapshot it holds for. SQLite's data version of the main
//! database (`SQLITE_FCNTL_DATA_VERSION`) moves whenever a transaction commits, on this
//! connection or any other, in this process or another: while it stays, nothing changed.
//! When it moved, the index's averages and structure records are read: every write to the
//! index rewrites the structure with a write counter that only grows, so if both are
//! unchanged the index is too (a write elsewhere, such as the access times a recall records,
//! keeps what was learnt). Inside an explicit transaction, whose own uncommitted writes move
//! neither, nothing kept is used. Phrases are told apart by their query tokens: the function
//! is for `memories_fts` and the plain quoted phrases `keyword.rs` writes (no prefix queries,
//! no column filters).
//!
//! `kept_hits` gives those kept counts themselves, one per phrase: `keyword.rs` tells from
//! them how many memories a query matches (whether to rank it in stages, which terms are
//! common) without walking the matches.
//!
//! Both are registered with `sqlite3_auto_extension` for every SQLite connection the process
//! opens, local files and embedded replicas alike; a store reached over HTTP runs its SQL on
//! the server, which only has `bm25()`. The entry point also adds `fts_tokens` (`tokenize.rs`).
//! All `unsafe` code of the backend is here and there.

use std::collections::HashMap;
use std::ffi::{CStr, c_char, c_int, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Mutex, Once};

use libsql::ffi;

/// The function's SQL name.
const NAME: &CStr = c"kept_bm25";

/// The SQL name of the function giving the rows of each phrase (see [`hits`]).
const HITS_NAME: &CStr = c"kept_hits";

/// The column weights (title, content, tags) `keyword.rs` gives `bm25()` in its SQL, for
/// ranking in Rust: the index's tail (`tail.rs`, whose test
/// `a_tail_memory_scores_as_it_will_once_indexed` fails if the two disagree) and the postings
/// in memory (`postings.rs`, whose tests compare them with FTS5's ranking). Here, beside the
/// BM25 functions both use, so that neither imports `keyword.rs`, which imports them.
pub(super) const WEIGHTS: [f64; 3] = [0.75, 1.0, 2.0];

/// BM25's parameters, as FTS5 sets them.
const K1: f64 = 1.2;
const B: f64 = 0.75;

/// FTS5's inverse document frequency of a phrase held by `holding` of `rows` rows, kept
/// above zero as FTS5 keeps it.
pub(super) fn idf(rows: f64, holding: f64) -> f64 {
    let idf = ((rows - holding + 0.5) / (holding + 0.5)).ln();
    if idf <= 0.0 { 1e-6 } else { idf }
}

/// One phrase's part of a row's BM25 score, in `fts5Bm25Function`'s order of operations: its
/// `idf` times its weighted frequency `freq`, saturated, in a row of `length` tokens where
/// rows have `average` tokens.
pub(super) fn share(idf: f64, freq: f64, length: f64, average: f64) -> f64 {
    idf * ((freq * (K1 + 1.0)) / (freq + K1 * (1.0 - B + B * length / average)))
}

/// Most phrase counts a connection keeps; past this they are dropped and counted again.
const MAX_KEPT: usize = 4096;

/// Registers the function once per process, done before [`register`] returns.
static REGISTER: Once = Once::new();

/// Whether connections opened from now on have the function.
pub(super) fn registered() -> bool {
    REGISTER.is_completed()
}

/// Registers the function for every connection opened from now on (once per process). It must
/// come after libSQL has set SQLite up (its first connection), since registering initializes
/// SQLite and libSQL refuses to configure it once initialized.
pub(super) fn register() {
    REGISTER.call_once(|| {
        // SAFETY: `on_open` has the signature SQLite calls entry points with, and it stays
        // valid for the life of the process (a plain function).
        unsafe { ffi::sqlite3_auto_extension(Some(on_open)) };
    });
}

/// What one connection keeps: its database handle, and what it learnt of the index.
struct Kept {
    db: *mut ffi::sqlite3,
    index: Mutex<Learnt>,
}

/// Phrase counts and row lengths of the index as it was in one state, and how to tell that
/// state: the data version it was last seen in, and the index's records that change whenever
/// its content does.
#[derive(Default)]
struct Learnt {
    /// The data version in which `records` were last read.
    version: Option<u32>,
    /// The index's averages and structure records (rows 1 and 10 of `memories_fts_data`):
    /// every write to the index rewrites both, and the structure's write counter only grows.
    records: Option<Vec<u8>>,
    /// Rows holding each phrase, by the phrase's query tokens.
    by_phrase: HashMap<Vec<u8>, i64>,
    /// Each row's length in tokens (all columns), by rowid; [`UNKNOWN`] where not learnt.
    lengths: Vec<u32>,
}

/// A row length not learnt yet.
const UNKNOWN: u32 = u32::MAX;

/// Rowids below this have their length kept (4 bytes each).
const MAX_ROWID_KEPT: i64 = 1 << 21;

impl Learnt {
    fn forget(&mut self) {
        self.by_phrase.clear();
        self.lengths.clear();
    }
}

/// The entry point SQLite runs for every new connection: finds the connection's FTS5 and adds
/// the functions to it. A connection without FTS5 is left as it is (queries using them then
/// fail with "no such function", as they would anywhere else).
unsafe extern "C" fn on_open(
    db: *mut ffi::sqlite3,
    _error: *mut *const c_char,
    _api: *const ffi::sqlite3_api_routines,
) -> c_int {
    let Some(fts5) = catch_unwind(AssertUnwindSafe(|| fts5_api(db)))
        .ok()
        .flatten()
    else {
        return ffi::SQLITE_OK;
    };
    let kept = Box::into_raw(Box::new(Kept {
        db,
        index: Mutex::default(),
    }));
    // SAFETY: `fts5` is the live `fts5_api` of `db`, version 2 or later (checked by
    // `fts5_api`), whose `xCreateFunction` takes a NUL-terminated name, user data it hands
    // back to `rank` and gives to `drop_kept` when the connection closes, and the callbacks.
    let rc = unsafe {
        match (*fts5).xCreateFunction {
            Some(create) => create(
                fts5,
                NAME.as_ptr(),
                kept.cast(),
                Some(rank),
                Some(drop_kept),
            ),
            None => ffi::SQLITE_ERROR,
        }
    };
    if rc != ffi::SQLITE_OK {
        // SAFETY: not registered, so still ours alone: made by `Box::into_raw` above.
        drop(unsafe { Box::from_raw(kept) });
        return ffi::SQLITE_OK;
    }
    // SAFETY: as above; `kept_hits` shares the `Kept` without a destructor: `kept_bm25`'s
    // frees it when the connection closes, after which FTS5 calls neither function.
    unsafe {
        if let Some(create) = (*fts5).xCreateFunction {
            create(fts5, HITS_NAME.as_ptr(), kept.cast(), Some(hits), None);
        }
        // SAFETY: `db` is the connection being opened and `fts5` its live API.
        super::tokenize::register(db, fts5);
    }
    ffi::SQLITE_OK
}

/// The FTS5 API of connection `db` (FTS5's documented way: `SELECT fts5(?1)` with a pointer
/// bound as "fts5_api_ptr"), if it has one of version 2 or later.
fn fts5_api(db: *mut ffi::sqlite3) -> Option<*mut ffi::fts5_api> {
    let mut api: *mut ffi::fts5_api = std::ptr::null_mut();
    let mut stmt: *mut ffi::sqlite3_stmt = std::ptr::null_mut();
    let sql = c"SELECT fts5(?1)";
    // SAFETY: `db` is the open connection SQLite passed to the entry point; the statement is
    // prepared from a NUL-terminated string, bound to a pointer to `api` (alive until the
    // statement is finalized below, and written by FTS5 only during the step), then finalized
    // on every path.
    unsafe {
        if ffi::sqlite3_prepare_v2(db, sql.as_ptr(), -1, &mut stmt, std::ptr::null_mut())
            != ffi::SQLITE_OK
        {
            ffi::sqlite3_finalize(stmt);
            return None;
        }
        ffi::sqlite3_bind_pointer(
            stmt,
            1,
            (&raw mut api).cast(),
            c"fts5_api_ptr".as_ptr(),
            None,
        );
        ffi::sqlite3_step(stmt);
        ffi::sqlite3_finalize(stmt);
        (!api.is_null() && (*api).iVersion >= 2).then_some(api)
    }
}

/// Frees a connection's [`Kept`] when FTS5 lets go of the function (the connection closes).
unsafe extern "C" fn drop_kept(kept: *mut c_void) {
    // SAFETY: FTS5 calls this once, with the user data `on_open` made by `Box::into_raw`.
    drop(unsafe { Box::from_raw(kept.cast::<Kept>()) });
}

/// Frees a statement's [`Statement`] when FTS5 drops its auxiliary data.
unsafe extern "C" fn drop_statement(statement: *mut c_void) {
    // SAFETY: the auxiliary data `statement` set, made by `Box::into_raw`, freed once by FTS5.
    drop(unsafe { Box::from_raw(statement.cast::<Statement>()) });
}

/// What is worked out once per statement, as `fts5Bm25GetData` does.
struct Statement {
    /// The inverse document frequency of each phrase.
    idf: Vec<f64>,
    /// Tokens per row, on average over the table.
    average: f64,
    /// Each phrase's weighted frequency in the current row (reused from row to row).
    freq: Vec<f64>,
    /// What the connection learnt and the data version this statement reads, when what it
    /// learns may be kept.
    kept: Option<(*const Kept, u32)>,
}

/// The safe view of the FTS5 extension API for one call.
struct Api<'a> {
    api: &'a ffi::Fts5ExtensionApi,
    fts: *mut ffi::Fts5Context,
}

/// An FTS5 result code that is not `SQLITE_OK`.
struct Failed(c_int);

fn ok(rc: c_int) -> Result<(), Failed> {
    if rc == ffi::SQLITE_OK {
        Ok(())
    } else {
        Err(Failed(rc))
    }
}

/// Calls the API member `$name` with the context first, or fails with `SQLITE_ERROR` if this
/// FTS5 lacks it.
macro_rules! call {
    ($api:expr, $name:ident $(, $arg:expr)*) => {{
        let api = &$api;
        match api.api.$name {
            // SAFETY: `api.fts` is the context FTS5 passed to this call of `rank`, valid
            // during it, and the arguments are what the member's C signature documents.
            Some(f) => unsafe { f(api.fts $(, $arg)*) },
            None => return Err(Failed(ffi::SQLITE_ERROR)),
        }
    }};
}

/// The function FTS5 calls for each matching row: `-score`, as `bm25()` returns it.
unsafe extern "C" fn rank(
    api: *const ffi::Fts5ExtensionApi,
    fts: *mut ffi::Fts5Context,
    ctx: *mut ffi::sqlite3_context,
    argc: c_int,
    argv: *mut *mut ffi::sqlite3_value,
) {
    // SAFETY: FTS5 passes its extension API (static), the call's context, and `argc`
    // values at `argv`, all valid during this call.
    let (api, args) = unsafe {
        let args = match usize::try_from(argc) {
            Ok(n) if n > 0 && !argv.is_null() => std::slice::from_raw_parts(argv, n),
            _ => &[],
        };
        (Api { api: &*api, fts }, args)
    };
    let weights = Weights(args);
    let score = catch_unwind(AssertUnwindSafe(|| score(&api, &weights)));
    // SAFETY: `ctx` is this call's result context.
    unsafe {
        match score {
            Ok(Ok(score)) => ffi::sqlite3_result_double(ctx, -score),
            Ok(Err(Failed(rc))) => ffi::sqlite3_result_error_code(ctx, rc),
            Err(_) => ffi::sqlite3_result_error(ctx, c"kept_bm25 failed".as_ptr(), -1),
        }
    }
}

/// The function FTS5 calls for `kept_hits(memories_fts)`: how many rows hold each phrase of
/// the query, as a JSON array in the query's order. These are the counts `kept_bm25` weighs
/// phrases by, kept the same way, so asking on one matching row (`LIMIT 1`) tells a query's
/// size without walking its matches once they are known.
unsafe extern "C" fn hits(
    api: *const ffi::Fts5ExtensionApi,
    fts: *mut ffi::Fts5Context,
    ctx: *mut ffi::sqlite3_context,
    _argc: c_int,
    _argv: *mut *mut ffi::sqlite3_value,
) {
    // SAFETY: FTS5 passes its extension API (static) and the call's context, valid during
    // this call.
    let api = unsafe { Api { api: &*api, fts } };
    let counted = catch_unwind(AssertUnwindSafe(|| {
        phrase_rows(&api).map(|(holding, _)| {
            let listed: Vec<String> = holding.iter().map(i64::to_string).collect();
            format!("[{}]", listed.join(","))
        })
    }));
    // SAFETY: `ctx` is this call's result context; SQLite copies the text (`SQLITE_TRANSIENT`)
    // before `listed` is dropped, and its length fits a C int (a few digits per phrase).
    unsafe {
        match counted {
            Ok(Ok(listed)) => ffi::sqlite3_result_text(
                ctx,
                listed.as_ptr().cast(),
                c_int::try_from(listed.len()).unwrap_or(0),
                ffi::SQLITE_TRANSIENT(),
            ),
            Ok(Err(Failed(rc))) => ffi::sqlite3_result_error_code(ctx, rc),
            Err(_) => ffi::sqlite3_result_error(ctx, c"kept_hits failed".as_ptr(), -1),
        }
    }
}

/// The column weights the SQL passes after the table, as values.
struct Weights<'a>(&'a [*mut ffi::sqlite3_value]);

impl Weights<'_> {
    /// Column `column`'s weight: its argument, or 1 when there is none (as `bm25()`).
    fn of(&self, column: c_int) -> f64 {
        match usize::try_from(column).ok().and_then(|c| self.0.get(c)) {
            // SAFETY: one of the values FTS5 passed to this call, valid during it.
            Some(&value) => unsafe { ffi::sqlite3_value_double(value) },
            None => 1.0,
        }
    }
}

/// The BM25 score of the current row (positive; higher is better), computed as
/// `fts5Bm25Function` computes it.
fn score(api: &Api, weights: &Weights) -> Result<f64, Failed> {
    let statement = statement(api)?;
    statement.freq.fill(0.0);
    let mut instances = 0;
    ok(call!(api, xInstCount, &mut instances))?;
    for i in 0..instances {
        let (mut phrase, mut column, mut offset) = (0, 0, 0);
        ok(call!(api, xInst, i, &mut phrase, &mut column, &mut offset))?;
        let weight = weights.of(column);
        if let Some(freq) = usize::try_from(phrase)
            .ok()
            .and_then(|p| statement.freq.get_mut(p))
        {
            *freq += weight;
        }
    }
    let length = f64::from(length(api, statement.kept)?);
    let mut score = 0.0;
    for (&idf, &freq) in statement.idf.iter().zip(&statement.freq) {
        score += share(idf, freq, length, statement.average);
    }
    Ok(score)
}

/// The statement's [`Statement`], made at its first row.
fn statement<'a>(api: &Api<'a>) -> Result<&'a mut Statement, Failed> {
    let kept = call!(api, xGetAuxdata, 0).cast::<Statement>();
    if !kept.is_null() {
        // SAFETY: set below for this statement, and freed by FTS5 only after its last row.
        return Ok(unsafe { &mut *kept });
    }
    let made = Box::into_raw(Box::new(made_statement(api)?));
    let rc = call!(api, xSetAuxdata, made.cast(), Some(drop_statement));
    if rc != ffi::SQLITE_OK {
        // SAFETY: FTS5 frees the data itself when it fails to keep it.
        return Err(Failed(rc));
    }
    // SAFETY: now owned by FTS5 for the statement's life, which outlasts this call.
    Ok(unsafe { &mut *made })
}

/// The current row's length in tokens (all columns), from what the connection learnt when
/// it may be used.
fn length(api: &Api, kept: Option<(*const Kept, u32)>) -> Result<i32, Failed> {
    let rowid = call!(api, xRowid);
    let slot = usize::try_from(rowid)
        .ok()
        .filter(|_| rowid < MAX_ROWID_KEPT);
    // SAFETY: the connection's `Kept` lives until the connection closes, after its statements.
    let kept = kept.map(|(kept, version)| (unsafe { &*kept }, version));
    if let (Some((kept, version)), Some(slot)) = (kept, slot) {
        let learnt = lock(kept);
        if learnt.version == Some(version)
            && let Some(&known) = learnt.lengths.get(slot)
            && known != UNKNOWN
        {
            return Ok(known as i32);
        }
    }
    let mut tokens = 0;
    ok(call!(api, xColumnSize, -1, &mut tokens))?;
    if let (Some((kept, version)), Some(slot), Ok(known)) = (kept, slot, u32::try_from(tokens)) {
        let mut learnt = lock(kept);
        if learnt.version == Some(version) && known != UNKNOWN {
            if learnt.lengths.len() <= slot {
                learnt.lengths.resize(slot + 1, UNKNOWN);
            }
            learnt.lengths[slot] = known;
        }
    }
    Ok(tokens)
}

/// The table's average row length and each phrase's IDF, from kept counts where they are
/// valid.
fn made_statement(api: &Api) -> Result<Statement, Failed> {
    let (mut rows, mut tokens) = (0i64, 0i64);
    ok(call!(api, xRowCount, &mut rows))?;
    ok(call!(api, xColumnTotalSize, -1, &mut tokens))?;
    let average = tokens as f64 / rows as f64;
    let (holding, kept) = phrase_rows(api)?;
    Ok(Statement {
        idf: holding
            .iter()
            .map(|&h| idf(rows as f64, h as f64))
            .collect(),
        average,
        freq: vec![0.0; holding.len()],
        kept: kept.map(|(kept, version)| (kept as *const Kept, version)),
    })
}

/// How many rows hold each phrase of the statement's query, in order, from kept counts where
/// they are valid (and kept when counted); with what the connection learnt and the data
/// version the statement reads, when those may be used.
fn phrase_rows<'a>(api: &Api<'a>) -> Result<PhraseRows<'a>, Failed> {
    let phrases = usize::try_from(call!(api, xPhraseCount)).unwrap_or(0);
    let kept = kept(api);
    let mut holding = Vec::with_capacity(phrases);
    for phrase in 0..phrases as c_int {
        let hits = match kept {
            Some((kept, version)) => {
                let key = phrase_key(api, phrase)?;
                let known = lock(kept).by_phrase.get(&key).copied();
                match known {
                    Some(hits) => hits,
                    None => {
                        let hits = count(api, phrase)?;
                        let mut learnt = lock(kept);
                        if learnt.version == Some(version) {
                            if learnt.by_phrase.len() >= MAX_KEPT {
                                learnt.by_phrase.clear();
                            }
                            learnt.by_phrase.insert(key, hits);
                        }
                        hits
                    }
                }
            }
            None => count(api, phrase)?,
        };
        holding.push(hits);
    }
    Ok((holding, kept))
}

/// [`phrase_rows`]' answer: each phrase's rows, and what the connection learnt with the data
/// version read.
type PhraseRows<'a> = (Vec<i64>, Option<(&'a Kept, u32)>);

/// What the connection learnt, checked against the index this statement reads, and the data
/// version it reads; `None` inside an explicit transaction (its own writes move neither the
/// version nor, until they are flushed at commit, the index's records).
fn kept<'a>(api: &Api<'a>) -> Option<(&'a Kept, u32)> {
    // Phrases are known by their tokens, which FTS5 gives from version 3 of its API.
    if api.api.iVersion < 3 {
        return None;
    }
    let kept = api.api.xUserData.map(|user_data| {
        // SAFETY: `fts` is this call's context; the user data is the `Kept` that `on_open`
        // registered for this connection, alive until the connection closes.
        unsafe { &*user_data(api.fts).cast::<Kept>() }
    })?;
    let mut version: u32 = 0;
    // SAFETY: `kept.db` is the connection running this statement; the data version file
    // control writes one `u32`, and the main database's name is NUL-terminated.
    let read = unsafe {
        ffi::sqlite3_get_autocommit(kept.db) != 0
            && ffi::sqlite3_file_control(
                kept.db,
                c"main".as_ptr(),
                ffi::SQLITE_FCNTL_DATA_VERSION,
                (&raw mut version).cast(),
            ) == ffi::SQLITE_OK
    };
    if !read {
        return None;
    }
    let mut learnt = lock(kept);
    if learnt.version != Some(version) {
        // Something was committed: what was learnt holds if the index is as it was (a write
        // elsewhere, such as the access times a recall records, leaves it so).
        let records = index_records(kept.db);
        if records.is_none() || records != learnt.records {
            learnt.forget();
        }
        learnt.records = records;
        learnt.version = Some(version);
    }
    Some((kept, version))
}

/// The index's averages and structure records as this connection reads them now, each
/// preceded by its length; `None` if they cannot be read.
fn index_records(db: *mut ffi::sqlite3) -> Option<Vec<u8>> {
    let sql = c"SELECT block FROM memories_fts_data WHERE id IN (1, 10) ORDER BY id";
    let mut stmt: *mut ffi::sqlite3_stmt = std::ptr::null_mut();
    let mut records = Vec::new();
    // SAFETY: `db` is the connection running the calling statement (a nested read sees the
    // same snapshot); the statement is prepared from a NUL-terminated string, its blobs are
    // copied before the next step, and it is finalized on every path.
    unsafe {
        if ffi::sqlite3_prepare_v2(db, sql.as_ptr(), -1, &mut stmt, std::ptr::null_mut())
            != ffi::SQLITE_OK
        {
            ffi::sqlite3_finalize(stmt);
            return None;
        }
        let mut rc = ffi::sqlite3_step(stmt);
        let mut rows = 0;
        while rc == ffi::SQLITE_ROW {
            let blob = ffi::sqlite3_column_blob(stmt, 0).cast::<u8>();
            let len = usize::try_from(ffi::sqlite3_column_bytes(stmt, 0)).unwrap_or(0);
            records.extend_from_slice(&(len as u64).to_le_bytes());
            if !blob.is_null() {
                records.extend_from_slice(std::slice::from_raw_parts(blob, len));
            }
            rows += 1;
            rc = ffi::sqlite3_step(stmt);
        }
        ffi::sqlite3_finalize(stmt);
        (rc == ffi::SQLITE_DONE && rows == 2).then_some(records)
    }
}

fn lock(kept: &Kept) -> std::sync::MutexGuard<'_, Learnt> {
    kept.index
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A phrase's query tokens, each preceded by its length: what identifies its rows.
fn phrase_key(api: &Api, phrase: c_int) -> Result<Vec<u8>, Failed> {
    let mut key = Vec::new();
    for token in 0..call!(api, xPhraseSize, phrase) {
        let (mut text, mut len): (*const c_char, c_int) = (std::ptr::null(), 0);
        ok(call!(api, xQueryToken, phrase, token, &mut text, &mut len))?;
        let len = usize::try_from(len).unwrap_or(0);
        key.extend_from_slice(&(len as u32).to_le_bytes());
        if !text.is_null() {
            // SAFETY: FTS5 returns `len` bytes at `text`, valid during this call.
            key.extend_from_slice(unsafe { std::slice::from_raw_parts(text.cast::<u8>(), len) });
        }
    }
    Ok(key)
}

/// Rows holding `phrase`, counted by walking its document list (what `bm25()` does).
fn count(api: &Api, phrase: c_int) -> Result<i64, Failed> {
    let mut hits: i64 = 0;
    ok(call!(
        api,
        xQueryPhrase,
        phrase,
        (&raw mut hits).cast(),
        Some(count_row)
    ))?;
    Ok(hits)
}

unsafe extern "C" fn count_row(
    _api: *const ffi::Fts5ExtensionApi,
    _fts: *mut ffi::Fts5Context,
    hits: *mut c_void,
) -> c_int {
    // SAFETY: `count` passes a pointer to its `i64` counter, alive during the walk.
    unsafe { *hits.cast::<i64>() += 1 };
    ffi::SQLITE_OK
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use libsql::{Connection, Value};

    use crate::backend::GraphBackend;
    use crate::backend::libsql::LibsqlBackend;
    use crate::backend::libsql::tail::tests::memory;
    use crate::model::Access;

    /// Memories `from..to`: words spread over the three columns, in varied numbers and
    /// lengths, so that scores differ in every part of the formula.
    async fn add(backend: &LibsqlBackend, from: usize, to: usize) {
        for i in from..to {
            let filler = "the harbour keeps its boats dry ".repeat(1 + i % 4);
            let m = match i % 6 {
                0 => memory(i, "lantern repairs", &filler, &[]),
                1 => memory(
                    i,
                    "harbour notes",
                    &format!("{filler} lanterns lantern"),
                    &[],
                ),
                2 => memory(i, "dock log", &filler, &["lantern", "rope"]),
                3 => memory(
                    i,
                    "rope and lantern",
                    &format!("rope {filler} rope"),
                    &["dock"],
                ),
                4 => memory(i, "boats", &format!("dry rope {filler}"), &[]),
                _ => memory(i, "harbour", &filler, &[]),
            };
            backend.create_memory(&m, None).await.unwrap();
        }
    }

    /// The two functions side by side: no weights, the search's, and others.
    const BOTH: [&str; 3] = [
        "SELECT rowid, bm25(memories_fts), kept_bm25(memories_fts) \
         FROM memories_fts WHERE memories_fts MATCH ? ORDER BY rowid",
        "SELECT rowid, bm25(memories_fts, 0.75, 1.0, 2.0), \
         kept_bm25(memories_fts, 0.75, 1.0, 2.0) \
         FROM memories_fts WHERE memories_fts MATCH ? ORDER BY rowid",
        "SELECT rowid, bm25(memories_fts, 5.0), kept_bm25(memories_fts, 5.0) \
         FROM memories_fts WHERE memories_fts MATCH ? ORDER BY rowid",
    ];

    /// Each query's rows with the two functions' scores, (row, bm25, kept_bm25).
    async fn both(conn: &Connection, queries: &[&str], sql: &str) -> Vec<(i64, f64, f64)> {
        let mut out = Vec::new();
        for query in queries {
            let mut rows = conn.query(sql, [*query]).await.unwrap();
            while let Some(row) = rows.next().await.unwrap() {
                out.push((
                    row.get(0).unwrap(),
                    row.get(1).unwrap(),
                    row.get(2).unwrap(),
                ));
            }
        }
        out
    }

    const QUERIES: [&str; 6] = [
        r#""lantern""#,
        r#""lantern" OR "rope""#,
        r#""rope" AND "dock""#,
        r#""harbour" OR "lantern" OR "dry""#,
        r#""boats" AND "dry" AND "rope""#,
        r#""dock log""#,
    ];

    /// The first column of the first row the query `sql` answers with `param`, if any.
    async fn first(conn: &Connection, sql: &str, param: String) -> Option<Value> {
        let mut rows = conn.query(sql, [param]).await.unwrap();
        let row = rows.next().await.unwrap()?;
        Some(row.get_value(0).unwrap())
    }

    /// Asserts `kept_hits` gives every phrase's rows as counting the phrase's matches does,
    /// in the query's order (twice: the second time from what was kept).
    async fn counts_agree(conn: &Connection) {
        for _ in 0..2 {
            for query in QUERIES {
                let mut counted = Vec::new();
                for phrase in query.split('"').skip(1).step_by(2) {
                    let sql = "SELECT count(*) FROM memories_fts WHERE memories_fts MATCH ?";
                    match first(conn, sql, format!("\"{phrase}\"")).await {
                        Some(Value::Integer(n)) => counted.push(n),
                        other => panic!("{phrase}: counted {other:?}"),
                    }
                }
                let sql = "SELECT kept_hits(memories_fts) FROM memories_fts \
                           WHERE memories_fts MATCH ? LIMIT 1";
                match first(conn, sql, query.to_owned()).await {
                    Some(Value::Text(listed)) => {
                        let kept: Vec<i64> = serde_json::from_str(&listed).unwrap();
                        assert_eq!(kept, counted, "{query}");
                    }
                    None => assert!(query.contains(" AND "), "{query} matches nothing"),
                    Some(other) => panic!("{query}: kept_hits gave {other:?}"),
                }
            }
        }
    }

    /// Asserts the two functions agree to the bit on every query, with and without weights,
    /// and `kept_hits` with the phrases' counts.
    async fn agree(conn: &Connection) -> usize {
        counts_agree(conn).await;
        let mut compared = 0;
        for sql in BOTH {
            // Twice: the second time the counts are the kept ones.
            for _ in 0..2 {
                for (row, fts5, kept) in both(conn, &QUERIES, sql).await {
                    assert_eq!(fts5.to_bits(), kept.to_bits(), "row {row}: {sql}");
                    compared += 1;
                }
            }
        }
        compared
    }

    #[test]
    fn idf_stays_above_zero_for_common_terms() {
        assert!((super::idf(100.0, 1.0) - (99.5f64 / 1.5).ln()).abs() < 1e-12);
        assert_eq!(super::idf(100.0, 90.0), 1e-6);
    }

    #[tokio::test]
    async fn kept_bm25_scores_as_bm25_through_writes_by_any_connection() {
        use crate::backend::EmbeddingChange::Keep;
        use crate::model::MemoryPatch;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.db");
        let backend = LibsqlBackend::open_local(&path).await.unwrap();
        add(&backend, 0, 60).await;
        let reader = backend.run(|conn| async move { Ok(conn) }).await.unwrap();
        let compared = agree(&reader).await;
        assert!(compared > 500, "{compared} scores compared");

        // A write through another connection of the same process moves the counts.
        add(&backend, 60, 90).await;
        agree(&reader).await;
        // So does one by another process's connection (another database handle here).
        let other = LibsqlBackend::open_local(&path).await.unwrap();
        add(&other, 90, 100).await;
        backend.delete_memory("m003").await.unwrap();
        agree(&reader).await;
        // A write that leaves the index as it was (a recall's access times) keeps what was
        // learnt; one that changes a row's length in place does not.
        let recalls = ["m001", "m002"].map(|id| Access::one(id, Utc::now()));
        backend.touch(&recalls).await.unwrap();
        agree(&reader).await;
        for (id, content) in [("m001", "rope"), ("m002", "dry dry dry rope lantern dock")] {
            let patch = MemoryPatch {
                content: Some(content.into()),
                ..Default::default()
            };
            backend
                .update_memory(id, &patch, Keep, None, Utc::now())
                .await
                .unwrap();
            agree(&reader).await;
        }

        // Inside a transaction whose own writes are not committed, nothing kept is used.
        reader.execute("BEGIN", ()).await.unwrap();
        reader
            .execute(
                "INSERT INTO memories_fts (rowid, title, content, tags) \
                 VALUES (100000, 'lantern lantern', 'rope', 'dock')",
                (),
            )
            .await
            .unwrap();
        agree(&reader).await;
        reader.execute("ROLLBACK", ()).await.unwrap();
        agree(&reader).await;
    }
}
