//! Latency distributions: every call of a long run timed, then its percentiles printed for people and, on a line
//! starting with `BENCH `, as JSON for `scripts/bench.sh` (which gathers them into `target/bench/summary.json`).
//!
//! **Invariant:** a percentile is read off timed samples, never estimated; nothing here asserts a duration.

use std::time::{Duration, Instant};

/// Percentiles of one run, in nanoseconds.
#[derive(Debug, Clone, Copy, Default)]
pub struct Summary {
    pub p50: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
    pub calls: usize,
}

/// Whether the distribution `name` runs: all do, unless `TESSERA_BENCH_ONLY` names a part of the ones wanted
/// (to profile one under valgrind, say).
pub fn wanted(name: &str) -> bool {
    std::env::var("TESSERA_BENCH_ONLY").map_or(true, |only| name.contains(&only))
        && std::env::var("TESSERA_BENCH_SKIP").map_or(true, |skip| !name.contains(&skip))
}

/// Times every call of `iterations` (after a warm-up of up to 10,000 calls), prints the distribution and
/// answers it.
pub fn distribution(suite: &str, name: &str, iterations: usize, mut call: impl FnMut()) -> Summary {
    if !wanted(name) {
        return Summary::default();
    }
    for _ in 0..iterations.min(10_000) {
        call();
    }
    distribution_after(suite, name, iterations, || (), |()| call())
}

/// As [`distribution`], with an untimed `setup` before each timed call and no warm-up.
pub fn distribution_after<S>(
    suite: &str,
    name: &str,
    iterations: usize,
    mut setup: impl FnMut() -> S,
    mut call: impl FnMut(S),
) -> Summary {
    if !wanted(name) {
        return Summary::default();
    }
    let mut samples: Vec<Duration> = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let prepared = setup();
        let start = Instant::now();
        call(prepared);
        samples.push(start.elapsed());
    }
    samples.sort_unstable();
    let at = |q: f64| {
        let i = ((samples.len() as f64 - 1.0) * q).round() as usize;
        samples.get(i).copied().unwrap_or_default().as_secs_f64() * 1e9
    };
    let summary = Summary {
        p50: at(0.50),
        p99: at(0.99),
        p999: at(0.999),
        max: samples.last().copied().unwrap_or_default().as_secs_f64() * 1e9,
        calls: iterations,
    };
    report(suite, name, &summary, &samples);
    summary
}

/// Prints a summary, for people and as a `BENCH` line with a histogram of the samples (for the plot).
fn report(suite: &str, name: &str, s: &Summary, samples: &[Duration]) {
    println!(
        "{name:<62} p50 {:>10}  p99 {:>10}  p99.9 {:>10}  max {:>10}  ({} calls)",
        human(s.p50),
        human(s.p99),
        human(s.p999),
        human(s.max),
        s.calls
    );
    let line = serde_json::json!({
        "suite": suite,
        "name": name,
        "p50_ns": s.p50,
        "p99_ns": s.p99,
        "p999_ns": s.p999,
        "max_ns": s.max,
        "calls": s.calls,
        "histogram": histogram(samples),
    });
    println!("BENCH {line}");
}

/// A figure, printed the way a person reads it (not for parsing).
pub fn human(ns: f64) -> String {
    if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.3} µs", ns / 1e3)
    } else {
        format!("{ns:.0} ns")
    }
}

/// The samples counted in logarithmic buckets, four per power of two from 16 ns: `[upper bound in ns, count]`
/// for each non-empty bucket, so that a plot can draw each distribution's shape.
fn histogram(sorted: &[Duration]) -> Vec<[f64; 2]> {
    let mut out: Vec<[f64; 2]> = Vec::new();
    let mut bound = 16.0_f64;
    let step = 2f64.powf(0.25);
    let mut count = 0.0;
    for sample in sorted {
        let ns = sample.as_secs_f64() * 1e9;
        while ns > bound {
            if count > 0.0 {
                out.push([bound, count]);
            }
            count = 0.0;
            bound *= step;
        }
        count += 1.0;
    }
    if count > 0.0 {
        out.push([bound, count]);
    }
    out
}

/// A figure that is no latency (throughput, memory, a start-up time), as a `BENCH` line and in words.
pub fn figure(suite: &str, name: &str, value: f64, unit: &str) {
    println!("{name:<62} {value:.1} {unit}");
    let line = serde_json::json!({ "suite": suite, "name": name, "value": value, "unit": unit });
    println!("BENCH {line}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_histogram_counts_every_sample_once_in_increasing_buckets() {
        let samples: Vec<Duration> = [10, 20, 20, 300, 5_000, 5_001].map(Duration::from_nanos).to_vec();
        let h = histogram(&samples);
        assert_eq!(h.iter().map(|b| b[1]).sum::<f64>(), 6.0);
        assert!(h.windows(2).all(|w| w[0][0] < w[1][0]));
        assert!(h.first().is_some_and(|b| b[0] == 16.0 && b[1] == 1.0));
    }

    #[test]
    fn figures_are_printed_in_the_unit_that_reads_best() {
        assert_eq!(human(812.0), "812 ns");
        assert_eq!(human(1_234.0), "1.234 µs");
        assert_eq!(human(2_500_000.0), "2.50 ms");
    }
}
