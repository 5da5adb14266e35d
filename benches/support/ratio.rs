//! Criterion measurements kept for a ratio printed at the end of the run:
//! each figure is compared with a baseline measured in the same process.
#![allow(dead_code)] // each bench uses a part of it

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use criterion::{BenchmarkGroup, measurement::WallTime};

static MEANS: Mutex<Option<HashMap<String, (Duration, u64)>>> = Mutex::new(None);

/// Benchmarks `routine` under `id` in `group`, keeping its mean time per
/// iteration for [`ratio`].
pub fn measure<O>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    id: &str,
    mut routine: impl FnMut() -> O,
) {
    let key = id.to_owned();
    group.bench_function(id, |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                std::hint::black_box(routine());
            }
            let elapsed = start.elapsed();
            record(&key, elapsed, iters);
            elapsed
        })
    });
}

/// Keeps a measurement made by hand (e.g. an async routine).
pub fn record(id: &str, elapsed: Duration, iters: u64) {
    let mut means = MEANS.lock().unwrap_or_else(|e| e.into_inner());
    let entry = means
        .get_or_insert_with(HashMap::new)
        .entry(id.to_owned())
        .or_default();
    entry.0 += elapsed;
    entry.1 += iters;
}

/// Mean time per iteration of `id`, in nanoseconds.
pub fn mean_ns(id: &str) -> f64 {
    let means = MEANS.lock().unwrap_or_else(|e| e.into_inner());
    let (total, iters) = means
        .as_ref()
        .and_then(|m| m.get(id).copied())
        .unwrap_or_default();
    total.as_nanos() as f64 / iters.max(1) as f64
}

/// Prints `measured / baseline` with the target it must meet.
pub fn ratio(label: &str, measured: &str, baseline: &str, target: f64) -> f64 {
    let (m, b) = (mean_ns(measured), mean_ns(baseline));
    let ratio = m / b;
    let verdict = if ratio <= target { "meets" } else { "MISSES" };
    println!(
        "RATIO {label}: {measured} {m:.0} ns / {baseline} {b:.0} ns = {ratio:.3} ({verdict} target <= {target})"
    );
    ratio
}
