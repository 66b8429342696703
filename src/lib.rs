//! mnemograph: a graph memory store for AI coding assistants.
//!
//! The crate is layered as ARCHITECTURE.md describes: front ends (the `mnemograph` MCP server
//! and the `memctl` CLI) translate requests into calls on [`store::MemoryStore`], which holds
//! every rule about memories and drives a [`backend::GraphBackend`] for storage and
//! [`graph`] for answers computed over loaded subgraphs.

pub mod app;
pub mod backend;
pub mod cli;
pub mod config;
pub mod embed;
pub mod error;
pub mod graph;
pub mod hooks;
pub mod http;
pub mod logging;
pub mod mcp;
pub mod model;
pub mod private_fs;
pub mod project;
pub mod secret;
pub mod shutdown;
pub mod store;
pub mod sync;
pub mod text;
pub mod vector;

pub use error::{Error, Result};
