//! One module per group of commands; each function translates its flags into store calls and
//! prints the answer.

pub mod admin;
pub mod doctor;
pub mod find;
pub mod graph;
pub mod hooks;
pub mod maintenance;
pub mod memory;
pub mod namespaces;
pub mod reembed;
pub mod transfer;
