//! Vector index (being written).
