//! Fuzz target: see [`mnemograph_fuzz::ImportCheck`] for what it checks.

#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use mnemograph_fuzz::ImportCheck;

static CHECK: LazyLock<ImportCheck> = LazyLock::new(ImportCheck::new);

fuzz_target!(|data: &[u8]| CHECK.check(data));
