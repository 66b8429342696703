//! A benchmark's command line. `cargo bench -- ARGS` runs it as `<exe> ARGS --bench`: the flag
//! is for benchmark harnesses, and these benchmarks have none of their own, so it is dropped.

/// The command line, program name first, without the `--bench` that `cargo bench` adds.
pub fn command_line() -> Vec<String> {
    std::env::args().filter(|a| a != "--bench").collect()
}
