//! Scans shared among threads: how many a scan takes ([`scan_threads`]), the threads kept for
//! them ([`scan_pool`]), and the blocks each takes as it asks for more ([`shared`]).
//!
//! A scan is split into runs of blocks handed out one at a time rather than into one fixed
//! share per thread, so a thread that starts late or is held up takes fewer runs and the
//! scan ends when the blocks do, not when the slowest share does. Hybrid search is such a
//! case: its keyword side holds the other core for the first millisecond or so of its
//! vector side's scan. With runs handed out, the quick scan of 100k vectors took 2.73–2.79
//! ms against 2.92–3.12 on the calling thread alone (medians of 400 hybrid searches on the
//! raw-pipe benchmark's store). A fixed half each measured about as well there (hybrid
//! search −5% against −4%, paired with the calling thread alone, within the noise); runs
//! are kept because they cannot leave the caller waiting for a helper that was held up.

use std::ops::Range;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Blocks a scan thread takes at least (16k vectors): a thread costs tens of microseconds to
/// start, which a smaller share of the scan would not repay.
const MIN_BLOCKS_PER_THREAD: usize = 64;

/// Most threads one scan uses: the scan is bound by memory bandwidth, which a few cores
/// saturate.
const MAX_SCAN_THREADS: usize = 4;

/// Most blocks handed out at once (2,048 vectors): enough that asking for the next run
/// (one atomic addition) costs nothing beside scoring it, few enough that the threads end
/// together.
const RUN_BLOCKS: usize = 8;

/// Threads to scan `blocks` blocks with: as many as the machine has cores (up to
/// [`MAX_SCAN_THREADS`]) while each keeps [`MIN_BLOCKS_PER_THREAD`]. A scan of 100k vectors
/// takes over a millisecond on one core, the most of a `store_memory` with vectors (its
/// duplicate probe) and of a search by meaning.
pub(super) fn scan_threads(blocks: usize) -> usize {
    match (blocks / MIN_BLOCKS_PER_THREAD).clamp(1, MAX_SCAN_THREADS) {
        // An index of fewer than twice that many vectors starts no pool.
        1 => 1,
        wanted => scan_pool().map_or(1, |pool| wanted.min(pool.current_num_threads() + 1)),
    }
}

/// The threads that scan beside the caller: one fewer than [`scan_threads`] uses at most,
/// started on first use and kept. Starting a thread for each scan cost 45–70 µs on the
/// benchmarks' machine, waking a kept one 12–20 µs. `None` on one core, or when the threads
/// could not be started: the caller then scans alone.
fn scan_pool() -> Option<&'static rayon::ThreadPool> {
    static POOL: OnceLock<Option<rayon::ThreadPool>> = OnceLock::new();
    POOL.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let helpers = cores.clamp(1, MAX_SCAN_THREADS) - 1;
        if helpers == 0 {
            return None;
        }
        rayon::ThreadPoolBuilder::new()
            .num_threads(helpers)
            .thread_name(|i| format!("vector-scan-{i}"))
            .build()
            .map_err(|err| tracing::warn!(%err, "vector scans run on one thread"))
            .ok()
    })
    .as_ref()
}

/// What `scan` finds on each of `threads` threads (the caller's, and the others from
/// [`scan_pool`]; the caller's alone where there is no pool), each scanning the blocks it
/// takes from `0..blocks` as it goes: every block is scanned once, by one of them. Which
/// thread scans which block varies from call to call, so what the caller makes of the
/// results must not depend on it (the best of their union, say).
pub(super) fn shared<T: Send>(
    blocks: usize,
    threads: usize,
    scan: impl Fn(Blocks<'_>) -> T + Sync,
) -> Vec<T> {
    let threads = threads.max(1);
    let next = AtomicUsize::new(0);
    let queue = Queue {
        next: &next,
        end: blocks,
        run: blocks.div_ceil(threads).clamp(1, RUN_BLOCKS),
    };
    let mut found: Vec<Option<T>> = (0..threads).map(|_| None).collect();
    // A scan on one thread (a small index) starts no pool.
    let pool = if threads == 1 { None } else { scan_pool() };
    match pool {
        Some(pool) => pool.in_place_scope(|scope| {
            let (mine, theirs) = found.split_first_mut().expect("one result per thread");
            let scan = &scan;
            for theirs in theirs {
                scope.spawn(move |_| *theirs = Some(scan(queue.blocks())));
            }
            *mine = Some(scan(queue.blocks()));
        }),
        None => {
            for found in &mut found {
                *found = Some(scan(queue.blocks()));
            }
        }
    }
    found.into_iter().flatten().collect()
}

/// The blocks of one scan not yet taken, handed out `run` at a time.
#[derive(Clone, Copy)]
struct Queue<'a> {
    next: &'a AtomicUsize,
    end: usize,
    run: usize,
}

impl<'a> Queue<'a> {
    fn blocks(self) -> Blocks<'a> {
        Blocks {
            queue: self,
            mine: 0..0,
        }
    }
}

/// The blocks one thread scans, in increasing order: a run at a time, taken when the last is
/// done.
pub(super) struct Blocks<'a> {
    queue: Queue<'a>,
    mine: Range<usize>,
}

impl Iterator for Blocks<'_> {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        if self.mine.is_empty() {
            let Queue { next, end, run } = self.queue;
            // Relaxed: the counter hands out numbers, it publishes no data.
            let start = next.fetch_add(run, Ordering::Relaxed).min(end);
            self.mine = start..(start + run).min(end);
        }
        self.mine.next()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every block is scanned exactly once, whatever the number of threads, including more
    /// threads than blocks and an empty scan.
    #[test]
    fn every_block_is_scanned_once() {
        for blocks in [0, 1, 7, 64, 391] {
            for threads in [1, 2, 3, 4, 9] {
                let mut seen: Vec<usize> = shared(blocks, threads, |mine| mine.collect::<Vec<_>>())
                    .into_iter()
                    .flatten()
                    .collect();
                seen.sort_unstable();
                assert_eq!(
                    seen,
                    (0..blocks).collect::<Vec<_>>(),
                    "{blocks} blocks, {threads} threads"
                );
            }
        }
    }
}
