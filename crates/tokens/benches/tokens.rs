//! The token hot path: parsing a presented token, refusing a malformed one, and computing its stored digest.
//! Run with `cargo bench -p tokens`; compare the figures of one run with each other, not across machines.

#![expect(clippy::expect_used, reason = "a benchmark's setup fails loudly on anything unexpected")]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use tokens::{Digester, Prefix, RoutingPayload};

fn bench(c: &mut Criterion) {
    let prefix = Prefix::new("glpat-", None, "glpat-");
    let payload =
        RoutingPayload { cell: Some(1), organization: Some(1), user: Some(123_456), ..RoutingPayload::default() };
    let token = tokens::mint("glpat-", &[42; 16], &payload).expect("a token");
    let mut bad_checksum = token.clone().into_bytes();
    let last = bad_checksum.len() - 1;
    bad_checksum[last] = if bad_checksum[last] == b'0' { b'1' } else { b'0' };
    let bad_checksum = String::from_utf8(bad_checksum).expect("ascii");
    let digester = Digester::new(&[vec![7; 32]]).expect("a key");
    let rotated = Digester::new(&[vec![7; 32], vec![8; 32]]).expect("two keys");

    c.bench_function("parse a valid token", |b| b.iter(|| tokens::parse(black_box(&token), &prefix)));
    c.bench_function("check a valid token (no decoding)", |b| b.iter(|| tokens::check(black_box(&token), &prefix)));
    c.bench_function("refuse a bad checksum", |b| b.iter(|| tokens::parse(black_box(&bad_checksum), &prefix)));
    c.bench_function("refuse a wrong prefix", |b| {
        b.iter(|| tokens::parse(black_box("ghp_abcdefghijklmnopqrstuvwxyz0123456789"), &prefix))
    });
    c.bench_function("digest (HMAC-SHA256, hex)", |b| b.iter(|| digester.digest(black_box(&token))));
    c.bench_function("digest candidates (two keys)", |b| b.iter(|| rotated.candidates(black_box(&token))));
    c.bench_function("mint a token", |b| b.iter(|| tokens::mint("glpat-", black_box(&[42; 16]), &payload)));
}

criterion_group!(benches, bench);
criterion_main!(benches);
