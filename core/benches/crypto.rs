//! Criterion benchmarks of kaksik-core's cryptography.
//!
//! Co-signing protocols are interactive, so each iteration runs the whole
//! protocol and `iter_custom` adds up only the time spent in one party's
//! steps: `dkg/device` is the device's compute per DKG, `dkg/server` the
//! server's, and so on. Messages and server states go through their byte
//! form as they would over HTTP and in the database; that cost is measured
//! on its own in `overhead/*`. Plain p256 ECDSA signing is the baseline
//! every ratio in BENCHMARKS.md refers to.
//!
//! Run: `cargo bench -p kaksik-core --bench crypto`. The byte counts per
//! exchange are printed once at start-up.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use kaksik_core::crypto::cosign::dkg::{DeviceDkg, ServerDkgRound1};
use kaksik_core::crypto::cosign::refresh::{DeviceRefresh, ServerRefreshRound1};
use kaksik_core::crypto::cosign::sign::{DeviceSigning, ServerSignRound1};
use kaksik_core::crypto::cosign::{DeviceShare, RunId, ServerShare, SignDigest, Wire};
use kaksik_core::crypto::oprf::{self, OprfServerKey};
use kaksik_core::crypto::secret::{Secret32, SecretBytes};
use kaksik_core::crypto::vault::{self, VaultKey};
use kaksik_core::pin::{Pin, PinKind};
use kaksik_core::role::KeyRole;
use p256::ecdsa::SigningKey;
use p256::ecdsa::signature::hazmat::PrehashSigner;
use p256::elliptic_curve::Generate;

const ACCOUNT: &str = "PNOEE-38001085718-ABCD-Q";

/// Time spent by each party in one protocol run, and bytes sent each way.
#[derive(Default, Clone, Copy)]
struct Run {
    device: Duration,
    server: Duration,
    up: usize,
    down: usize,
}

impl Run {
    fn device<T>(&mut self, step: impl FnOnce() -> T) -> T {
        let start = Instant::now();
        let out = step();
        self.device += start.elapsed();
        out
    }

    fn server<T>(&mut self, step: impl FnOnce() -> T) -> T {
        let start = Instant::now();
        let out = step();
        self.server += start.elapsed();
        out
    }

    /// Device → server over the wire (encode on the device, decode on the
    /// server, each timed on its side).
    fn up<T: Wire>(&mut self, message: T) -> T {
        let bytes = self.device(|| message.to_bytes().unwrap());
        self.up += bytes.len();
        self.server(|| T::from_bytes(bytes.expose()).unwrap())
    }

    fn down<T: Wire>(&mut self, message: T) -> T {
        let bytes = self.server(|| message.to_bytes().unwrap());
        self.down += bytes.len();
        self.device(|| T::from_bytes(bytes.expose()).unwrap())
    }

    /// A server state written to and read back from the store.
    fn stored<T: Wire>(&mut self, state: T) -> T {
        self.server(|| T::from_bytes(state.to_bytes().unwrap().expose()).unwrap())
    }
}

fn dkg(run: &mut Run) -> (DeviceShare, ServerShare) {
    let id = RunId::random();
    let (device, request1) = run.device(|| DeviceDkg::start(id).unwrap());
    let request1 = run.up(request1);
    let (server, response1) = run.server(|| ServerDkgRound1::respond(id, request1).unwrap());
    let server = run.stored(server);
    let response1 = run.down(response1);
    let (device, request2) = run.device(|| device.on_response(response1).unwrap());
    let request2 = run.up(request2);
    let (pending, response2) = run.server(|| server.on_request(request2).unwrap());
    let pending = run.stored(pending);
    let response2 = run.down(response2);
    let (device_share, confirm) = run.device(|| device.on_response(response2).unwrap());
    let confirm = run.up(confirm);
    let server_share = run.server(|| pending.confirm(confirm).unwrap());
    (device_share, server_share)
}

fn sign(run: &mut Run, device: &DeviceShare, server: &ServerShare, digest: &SignDigest) {
    let id = RunId::random();
    let (signing, request1) = run.device(|| DeviceSigning::start(device, id, digest).unwrap());
    let request1 = run.up(request1);
    let (state, response1) =
        run.server(|| ServerSignRound1::respond(server, id, digest, request1).unwrap());
    let state = run.stored(state);
    let response1 = run.down(response1);
    let request2 = run.device(|| signing.on_response(device, response1).unwrap());
    let request2 = run.up(request2);
    black_box(run.server(|| state.finish(server, request2).unwrap()));
}

fn refresh(
    run: &mut Run,
    device: &DeviceShare,
    server: &ServerShare,
) -> (DeviceShare, ServerShare) {
    let id = RunId::random();
    let (refreshing, request1) = run.device(|| DeviceRefresh::start(device, id).unwrap());
    let request1 = run.up(request1);
    let (state, response1) =
        run.server(|| ServerRefreshRound1::respond(server, id, request1).unwrap());
    let state = run.stored(state);
    let response1 = run.down(response1);
    let (refreshing, request2) = run.device(|| refreshing.on_response(device, response1).unwrap());
    let request2 = run.up(request2);
    let (pending, response2) = run.server(|| state.on_request(server, request2).unwrap());
    let pending = run.stored(pending);
    let response2 = run.down(response2);
    let (new_device, confirm) = run.device(|| refreshing.on_response(device, response2).unwrap());
    let confirm = run.up(confirm);
    let new_server = run.server(|| pending.confirm(confirm).unwrap());
    (new_device, new_server)
}

/// Runs `protocol` `iters` times and returns the time of one party.
fn per_party(
    iters: u64,
    party: fn(&Run) -> Duration,
    mut protocol: impl FnMut(&mut Run),
) -> Duration {
    (0..iters)
        .map(|_| {
            let mut run = Run::default();
            protocol(&mut run);
            party(&run)
        })
        .sum()
}

fn print_wire_sizes(device: &DeviceShare, server: &ServerShare) {
    let mut run = Run::default();
    dkg(&mut run);
    eprintln!(
        "bytes per DKG:       device→server {:>7}, server→device {:>7}",
        run.up, run.down
    );
    let mut run = Run::default();
    sign(
        &mut run,
        device,
        server,
        &SignDigest::new(&[7u8; 32]).unwrap(),
    );
    eprintln!(
        "bytes per signature: device→server {:>7}, server→device {:>7}",
        run.up, run.down
    );
    let mut run = Run::default();
    refresh(&mut run, device, server);
    eprintln!(
        "bytes per refresh:   device→server {:>7}, server→device {:>7}",
        run.up, run.down
    );
    eprintln!(
        "stored share:        device {:>7}, server {:>7}",
        device.to_secret_bytes().unwrap().len(),
        server.to_secret_bytes().unwrap().len()
    );
}

fn baseline(c: &mut Criterion) {
    let key = SigningKey::generate_from_rng(&mut rand::rng());
    let digest = [0x5au8; 32];
    c.bench_function("baseline/p256_ecdsa_sign", |b| {
        b.iter(|| {
            let signature: p256::ecdsa::Signature = key.sign_prehash(black_box(&digest)).unwrap();
            black_box(signature)
        })
    });
}

fn cosign(c: &mut Criterion) {
    let (device, server) = dkg(&mut Run::default());
    print_wire_sizes(&device, &server);
    let digest = SignDigest::new(&[0x42u8; 32]).unwrap();

    let mut group = c.benchmark_group("sign");
    group.bench_function("device", |b| {
        b.iter_custom(|iters| {
            per_party(
                iters,
                |r| r.device,
                |run| sign(run, &device, &server, &digest),
            )
        })
    });
    group.bench_function("server", |b| {
        b.iter_custom(|iters| {
            per_party(
                iters,
                |r| r.server,
                |run| sign(run, &device, &server, &digest),
            )
        })
    });
    group.finish();

    let mut group = c.benchmark_group("refresh");
    group.sample_size(20);
    group.bench_function("device", |b| {
        b.iter_custom(|iters| {
            per_party(
                iters,
                |r| r.device,
                |run| drop(refresh(run, &device, &server)),
            )
        })
    });
    group.bench_function("server", |b| {
        b.iter_custom(|iters| {
            per_party(
                iters,
                |r| r.server,
                |run| drop(refresh(run, &device, &server)),
            )
        })
    });
    group.finish();

    let mut group = c.benchmark_group("dkg");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    group.bench_function("device", |b| {
        b.iter_custom(|iters| per_party(iters, |r| r.device, |run| drop(dkg(run))))
    });
    group.bench_function("server", |b| {
        b.iter_custom(|iters| per_party(iters, |r| r.server, |run| drop(dkg(run))))
    });
    group.finish();

    // What our own code adds per signature: the wire round trip of the
    // three messages and of the server state, and loading the server's
    // share from its stored bytes (a server does it on every request).
    let mut group = c.benchmark_group("overhead");
    group.bench_function("sign_wire_all_parties", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    let mut run = Run::default();
                    sign(&mut run, &device, &server, &digest);
                    let mut wire_only = Run::default();
                    // Re-run the same byte work in isolation.
                    let id = RunId::random();
                    let (signing, request1) = DeviceSigning::start(&device, id, &digest).unwrap();
                    let request1 = wire_only.up(request1);
                    let (state, response1) =
                        ServerSignRound1::respond(&server, id, &digest, request1).unwrap();
                    let state = wire_only.stored(state);
                    let response1 = wire_only.down(response1);
                    let request2 = signing.on_response(&device, response1).unwrap();
                    let request2 = wire_only.up(request2);
                    black_box((state, request2));
                    wire_only.device + wire_only.server
                })
                .sum()
        })
    });
    let stored = server.to_secret_bytes().unwrap();
    group.bench_function("server_share_load", |b| {
        b.iter(|| ServerShare::from_secret_bytes(black_box(stored.expose())).unwrap())
    });
    group.finish();
}

fn pin_gate(c: &mut Criterion) {
    let key = OprfServerKey::random();
    let pin = Pin::parse(PinKind::Pin1, "2580").unwrap();
    let input = vault::pin_input(ACCOUNT, KeyRole::Auth, &pin).unwrap();
    let (_, blinded) = oprf::blind(input.expose()).unwrap();
    let evaluated = oprf::evaluate(&key, &blinded);

    let mut group = c.benchmark_group("oprf");
    group.bench_function("device_blind_finalize", |b| {
        b.iter(|| {
            let (state, blinded) = oprf::blind(black_box(input.expose())).unwrap();
            black_box(blinded);
            oprf::finalize(input.expose(), state, &evaluated).unwrap()
        })
    });
    group.bench_function("server_evaluate", |b| {
        b.iter(|| oprf::evaluate(&key, black_box(&blinded)))
    });
    group.finish();

    // A device share state is about 50 KB: seal and open one that size.
    let (device, _server) = dkg(&mut Run::default());
    let plaintext: SecretBytes = device.to_secret_bytes().unwrap();
    let y = Secret32::random();
    let salt = Secret32::random();
    let vault_key = VaultKey::derive(&y, &salt, ACCOUNT, KeyRole::Auth).unwrap();
    let sealed = vault::seal(&vault_key, ACCOUNT, KeyRole::Auth, 0, &plaintext).unwrap();
    let mut group = c.benchmark_group("vault");
    group.bench_function("derive_key", |b| {
        b.iter(|| VaultKey::derive(black_box(&y), &salt, ACCOUNT, KeyRole::Auth).unwrap())
    });
    group.bench_function("seal_share", |b| {
        b.iter(|| {
            vault::seal(&vault_key, ACCOUNT, KeyRole::Auth, 0, black_box(&plaintext)).unwrap()
        })
    });
    group.bench_function("open_share", |b| {
        b.iter(|| vault::open(&vault_key, ACCOUNT, KeyRole::Auth, 0, black_box(&sealed)).unwrap())
    });
    group.bench_function("device_share_load", |b| {
        b.iter(|| DeviceShare::from_secret_bytes(black_box(plaintext.expose())).unwrap())
    });
    group.finish();
}

criterion_group!(benches, baseline, cosign, pin_gate);
criterion_main!(benches);
