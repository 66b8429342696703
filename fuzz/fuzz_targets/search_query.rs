//! Fuzz target: see [`mnemograph_fuzz::SearchCheck`] for what it checks.

#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use mnemograph_fuzz::SearchCheck;

static CHECK: LazyLock<SearchCheck> = LazyLock::new(SearchCheck::new);

fuzz_target!(|data: &[u8]| CHECK.check(data));
