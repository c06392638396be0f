//! CI job tokens: minting (signing) with RS256 and EdDSA, and a first verification against the bare signature
//! check it is built on (goal: at most 1.3×). Run with `cargo bench -p tokens --bench jwt`; besides criterion's
//! figures it prints tokens minted per second per core and the verification ratio, measured in one run.

#![expect(clippy::expect_used, reason = "a benchmark's setup fails loudly on anything unexpected")]

use std::hint::black_box;
use std::time::Instant;

use aws_lc_rs::signature::{self, KeyPair as _};
use criterion::{Criterion, criterion_group, criterion_main};
use tokens::jwt::{self, Algorithm, JobTokenClaims, SigningKey};

fn claims() -> JobTokenClaims {
    let names = ["read_containers", "admin_containers", "read_packages", "admin_packages", "read_releases"];
    let policies = domain::JobPolicies::parse_names(names).expect("known policies");
    let scope = tokens::JobScope::new([(13, policies), (14, policies)]);
    JobTokenClaims {
        sub: format!("{}123456", jwt::JOB_GID_PREFIX),
        iss: "https://tessera.example.com".to_owned(),
        aud: jwt::JOB_TOKEN_AUDIENCE.to_owned(),
        iat: 1_800_000_000,
        nbf: 1_800_000_000,
        exp: 1_800_003_900,
        jti: "0123456789abcdef0123456789abcdef".to_owned(),
        version: jwt::JOB_TOKEN_VERSION.to_owned(),
        cell_id: 1,
        organization_id: 1,
        scoped_user_id: 42,
        scope,
    }
}

/// Mean time of `f` over `n` runs, in microseconds.
fn mean_us(n: u32, mut f: impl FnMut()) -> f64 {
    let start = Instant::now();
    for _ in 0..n {
        f();
    }
    start.elapsed().as_secs_f64() * 1e6 / f64::from(n)
}

fn bench(c: &mut Criterion) {
    let claims = claims();
    let rsa = SigningKey::generate(Algorithm::RS256).expect("RSA key");
    let ed = SigningKey::generate(Algorithm::EdDSA).expect("Ed25519 key");
    let rsa_token = rsa.sign(&claims).expect("signed");
    let ed_token = ed.sign(&claims).expect("signed");

    // The bare check: one RS256 signature over the same bytes with a parsed public key, nothing else.
    let pair = aws_lc_rs::rsa::KeyPair::from_pkcs8(rsa.pkcs8()).expect("RSA key");
    let bare = signature::ParsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, pair.public_key().as_ref())
        .expect("public key");
    let (message, sig) = rsa_token.rsplit_once('.').expect("three parts");
    let sig = base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, sig).expect("base64");

    c.bench_function("job token: mint (RS256)", |b| b.iter(|| rsa.sign(black_box(&claims))));
    c.bench_function("job token: mint (EdDSA)", |b| b.iter(|| ed.sign(black_box(&claims))));
    c.bench_function("job token: bare RS256 signature check", |b| {
        b.iter(|| bare.verify_sig(black_box(message.as_bytes()), black_box(&sig)))
    });
    c.bench_function("job token: first verification (RS256)", |b| {
        b.iter(|| jwt::verify::<JobTokenClaims>(black_box(&rsa_token), [rsa.public()]))
    });
    c.bench_function("job token: first verification (EdDSA)", |b| {
        b.iter(|| jwt::verify::<JobTokenClaims>(black_box(&ed_token), [ed.public()]))
    });

    let mint_rsa = mean_us(300, || drop(black_box(rsa.sign(&claims))));
    let mint_ed = mean_us(3_000, || drop(black_box(ed.sign(&claims))));
    let bare_us = mean_us(3_000, || {
        let _ = black_box(bare.verify_sig(message.as_bytes(), &sig));
    });
    let first_us = mean_us(3_000, || drop(black_box(jwt::verify::<JobTokenClaims>(&rsa_token, [rsa.public()]))));
    println!("job tokens minted per second on one core: RS256 {:.0}, EdDSA {:.0}", 1e6 / mint_rsa, 1e6 / mint_ed);
    println!(
        "first verification {first_us:.1} µs vs bare RS256 check {bare_us:.1} µs: {:.2}x (goal <= 1.3x); token {} bytes",
        first_us / bare_us,
        rsa_token.len()
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
