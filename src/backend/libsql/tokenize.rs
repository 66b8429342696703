//! `fts_tokens(text)`: the tokens the full-text index makes of a text, in order, separated by
//! spaces.
//!
//! The in-process keyword index (`postings.rs`) must hold exactly what `memories_fts` holds:
//! the same tokens, so that a row's length and each term's rows are FTS5's and its BM25 is
//! equal to the last bit. Rather than copy the tokenizer (`unicode61` with its diacritics
//! tables, then Porter), this function runs FTS5's own, created with the table's arguments
//! (`tokenize = 'porter unicode61 remove_diacritics 2'`, migration 1), once per connection.
//! No token holds a space (`unicode61` splits on it), so the answer splits back unambiguously.
//!
//! Registered beside `kept_bm25` (`rank.rs`) for every connection the process opens. Like that
//! module, this one holds `unsafe` code: the FFI to SQLite and FTS5.

use std::ffi::{CStr, c_char, c_int, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};

use libsql::ffi;

/// The function's SQL name.
const NAME: &CStr = c"fts_tokens";

/// The table's tokenizer and the arguments it is created with (see the module doc).
const TOKENIZER: &CStr = c"porter";
const ARGUMENTS: [&CStr; 3] = [c"unicode61", c"remove_diacritics", c"2"];

/// One connection's tokenizer: FTS5's callbacks and the instance they were created with.
struct Tokenizer {
    methods: ffi::fts5_tokenizer,
    instance: *mut ffi::Fts5Tokenizer,
}

impl Drop for Tokenizer {
    fn drop(&mut self) {
        if let Some(delete) = self.methods.xDelete {
            // SAFETY: `instance` was made by this tokenizer's `xCreate` and is freed once, here.
            unsafe { delete(self.instance) };
        }
    }
}

/// Adds `fts_tokens` to connection `db`, whose FTS5 is `fts5`. A connection where the
/// tokenizer cannot be made is left without the function: the keyword index then never loads
/// over it (its statements fail with "no such function") and searches read FTS5 alone.
///
/// # Safety
/// `db` is an open connection and `fts5` its live FTS5 API, as `rank.rs`'s entry point has them.
pub(super) unsafe fn register(db: *mut ffi::sqlite3, fts5: *mut ffi::fts5_api) {
    let Some(tokenizer) = create(fts5) else {
        return;
    };
    let tokenizer = Box::into_raw(Box::new(tokenizer));
    // SAFETY: `db` is open; the name is NUL-terminated; the user data is ours until SQLite
    // calls `drop_tokenizer` (when the function is replaced or the connection closes, and also
    // when registering fails).
    unsafe {
        ffi::sqlite3_create_function_v2(
            db,
            NAME.as_ptr(),
            1,
            ffi::SQLITE_UTF8 | ffi::SQLITE_DETERMINISTIC | ffi::SQLITE_INNOCUOUS,
            tokenizer.cast(),
            Some(tokens),
            None,
            None,
            Some(drop_tokenizer),
        );
    }
}

/// FTS5's tokenizer created with the table's arguments, if this FTS5 has it.
fn create(fts5: *mut ffi::fts5_api) -> Option<Tokenizer> {
    let mut user_data: *mut c_void = std::ptr::null_mut();
    // SAFETY: zeroed is a valid value of this struct of optional function pointers.
    let mut methods: ffi::fts5_tokenizer = unsafe { std::mem::zeroed() };
    let mut arguments: Vec<*const c_char> = ARGUMENTS.iter().map(|a| a.as_ptr()).collect();
    let mut instance: *mut ffi::Fts5Tokenizer = std::ptr::null_mut();
    // SAFETY: `fts5` is live (the caller's contract); `xFindTokenizer` fills `user_data` and
    // `methods` for a NUL-terminated name; `xCreate` reads `ARGUMENTS.len()` NUL-terminated
    // strings (static) and writes the new instance.
    let rc = unsafe {
        let find = (*fts5).xFindTokenizer?;
        if find(fts5, TOKENIZER.as_ptr(), &mut user_data, &mut methods) != ffi::SQLITE_OK {
            return None;
        }
        methods.xCreate?(
            user_data,
            arguments.as_mut_ptr(),
            ARGUMENTS.len() as c_int,
            &mut instance,
        )
    };
    (rc == ffi::SQLITE_OK && !instance.is_null() && methods.xTokenize.is_some())
        .then_some(Tokenizer { methods, instance })
}

/// Frees a connection's [`Tokenizer`] when SQLite lets go of the function.
unsafe extern "C" fn drop_tokenizer(tokenizer: *mut c_void) {
    // SAFETY: SQLite calls this once, with the user data `register` made by `Box::into_raw`.
    drop(unsafe { Box::from_raw(tokenizer.cast::<Tokenizer>()) });
}

/// `fts_tokens(text)`: NULL for NULL, else the tokens joined by spaces.
unsafe extern "C" fn tokens(
    ctx: *mut ffi::sqlite3_context,
    argc: c_int,
    argv: *mut *mut ffi::sqlite3_value,
) {
    // SAFETY: SQLite passes the call's context and `argc` (1, as registered) values, valid
    // during this call; the user data is the connection's `Tokenizer`, alive until
    // `drop_tokenizer`; the text pointer is valid for the byte count SQLite reports.
    let (tokenizer, text) = unsafe {
        let tokenizer = &*ffi::sqlite3_user_data(ctx).cast::<Tokenizer>();
        if argc != 1 || argv.is_null() {
            ffi::sqlite3_result_error(ctx, c"fts_tokens takes one argument".as_ptr(), -1);
            return;
        }
        let value = *argv;
        let text = ffi::sqlite3_value_text(value);
        if text.is_null() {
            ffi::sqlite3_result_null(ctx);
            return;
        }
        let len = usize::try_from(ffi::sqlite3_value_bytes(value)).unwrap_or(0);
        (tokenizer, std::slice::from_raw_parts(text, len))
    };
    let made = catch_unwind(AssertUnwindSafe(|| tokenize(tokenizer, text)));
    // SAFETY: `ctx` is this call's result context; SQLite copies the text before `out` drops.
    unsafe {
        match made {
            Ok(Some(out)) => ffi::sqlite3_result_text(
                ctx,
                out.as_ptr().cast(),
                c_int::try_from(out.len()).unwrap_or(0),
                ffi::SQLITE_TRANSIENT(),
            ),
            _ => ffi::sqlite3_result_error(ctx, c"fts_tokens failed".as_ptr(), -1),
        }
    }
}

/// The tokens of `text` joined by spaces, as FTS5 indexes them (`None` if tokenizing failed).
fn tokenize(tokenizer: &Tokenizer, text: &[u8]) -> Option<Vec<u8>> {
    let mut out: Vec<u8> = Vec::with_capacity(text.len());
    let len = c_int::try_from(text.len()).ok()?;
    // SAFETY: `instance` is live (see `Tokenizer`); FTS5 reads `len` bytes of `text` and calls
    // `token` with `out` as its context during this call only.
    let rc = unsafe {
        tokenizer.methods.xTokenize?(
            tokenizer.instance,
            (&raw mut out).cast(),
            ffi::FTS5_TOKENIZE_DOCUMENT,
            text.as_ptr().cast(),
            len,
            Some(token),
        )
    };
    (rc == ffi::SQLITE_OK).then_some(out)
}

/// Appends one token FTS5 made to the output; a colocated token (a synonym at the same
/// place, which this tokenizer never makes) is not another token of the row.
unsafe extern "C" fn token(
    ctx: *mut c_void,
    flags: c_int,
    token: *const c_char,
    len: c_int,
    _start: c_int,
    _end: c_int,
) -> c_int {
    if flags & ffi::FTS5_TOKEN_COLOCATED != 0 {
        return ffi::SQLITE_OK;
    }
    // SAFETY: `tokenize` passes its output vector as the context; FTS5 gives `len` bytes at
    // `token`, valid during this call.
    unsafe {
        let out = &mut *ctx.cast::<Vec<u8>>();
        if !out.is_empty() {
            out.push(b' ');
        }
        let len = usize::try_from(len).unwrap_or(0);
        if !token.is_null() {
            out.extend_from_slice(std::slice::from_raw_parts(token.cast::<u8>(), len));
        }
    }
    ffi::SQLITE_OK
}
