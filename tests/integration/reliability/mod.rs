//! What must hold when things go wrong: processes killed mid-write, many processes on one
//! store, hostile input, loose permissions and secrets, limits at every edge, and the fuzzers'
//! corpus replayed.

mod concurrency;
mod crash;
mod fuzz_corpus;
mod injection;
mod limits;
/// Secrets in written text are replaced before they are stored.
mod redaction;
mod security;
