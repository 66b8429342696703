//! libSQL backend (being written).
