//! Fuzz target: see [`mnemograph_fuzz::ToolCheck`] for what it checks.

#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use mnemograph_fuzz::ToolCheck;

static CHECK: LazyLock<ToolCheck> = LazyLock::new(ToolCheck::new);

fuzz_target!(|data: &[u8]| CHECK.check(data));
