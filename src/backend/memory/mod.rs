//! In-memory reference backend (being written).
