//! `memctl`: the companion CLI of the mnemograph memory store. See [`mnemograph::cli`].

use std::process::ExitCode;

use clap::Parser;
use mnemograph::cli::{Cli, run};

/// The allocator of `mnemograph`, for the same reasons (see `src/bin/mnemograph.rs`).
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("memctl: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("memctl: {err}");
            ExitCode::FAILURE
        }
    }
}
