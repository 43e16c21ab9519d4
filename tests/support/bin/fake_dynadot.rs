//! The tests' fake Dynadot as a process, for scripts/bench-dns-burst: one request at a time
//! per key, whole-zone set_dns2, `--latency` per call. Prints its URL, then answers commands
//! on stdin: `calls` prints `get_dns=N set_dns2=M overlaps=K`, `reset` forgets the counts.

// Stdout is its interface: the URL, then answers to the commands.
#![allow(clippy::print_stdout)]

use std::time::Duration;

use pdm_tests::fake_dynadot::{FakeDynadot, FakeZone};

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let (mut key, mut latency) = (String::from("bench-key"), Duration::ZERO);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--key", Some(value)) => key = value,
            ("--latency", Some(value)) => {
                latency = humantime::parse_duration(&value).expect("--latency like 300ms");
            }
            _ => panic!("usage: fake-dynadot [--key KEY] [--latency 300ms]"),
        }
    }
    let fake = FakeDynadot::start(&key).await;
    for pool in ["omani.works", "openova.io"] {
        fake.seed(pool, FakeZone::with_foreign_records());
    }
    fake.set_latency(latency);
    println!("{}", fake.url);
    let fake = std::sync::Arc::new(fake);
    let commands = fake.clone();
    // Stdin is read on a thread of its own; the fake serves on the runtime meanwhile.
    tokio::task::spawn_blocking(move || {
        for line in std::io::stdin().lines().map_while(Result::ok) {
            match line.trim() {
                "calls" => println!(
                    "get_dns={} set_dns2={} overlaps={}",
                    commands.calls("get_dns"),
                    commands.calls("set_dns2"),
                    commands.overlaps()
                ),
                "reset" => commands.reset_calls(),
                _ => println!("commands: calls, reset"),
            }
        }
    })
    .await
    .expect("the stdin reader");
    drop(fake);
}
