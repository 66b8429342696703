//! The HTTP front end: the web viewer (and, served beside it by `mnemograph serve`, MCP over
//! HTTP).

pub mod viewer;
