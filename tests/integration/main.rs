//! The integration tests: one binary, one module per layer, from the backends up to the
//! processes. A test's path names its layer (`conformance::libsql::delete_cascades`,
//! `mcp::abuse::…`), so `cargo test --test integration <layer>::` runs one layer.
//!
//! The tests share one process: none may set the process's environment or current directory
//! or install global state; what a child process needs is given to its command.

/// Helpers shared by the layers: isolated commands for the real binaries, an MCP client, a
/// real sqld, the synthetic workload and corpus.
mod support;

/// The layering of the source: nothing uses a module above it.
mod architecture;
/// The `memctl` binary.
mod cli;
/// Backend conformance: every scenario against every backend, and model-based agreement.
mod conformance;
/// Embedders: the built-in Model2Vec one and the OpenAI-compatible client.
mod embed;
/// The hooks front end: `memctl hooks install` and the hook commands a client runs.
mod hooks;
/// `mnemograph serve`: MCP over streamable HTTP, the guard, shutdown.
mod http;
/// The MCP server over stdio: tools, protocol abuse, the knowledge-graph profile, embedding.
mod mcp;
/// Crashes, concurrent processes, injection, security, limits, the fuzz corpus.
mod reliability;
/// The store API over libSQL, and hybrid recall.
mod store;
/// Replica and remote mode against a real sqld.
mod sync;
/// The web viewer in a real headless Chromium.
mod viewer;
