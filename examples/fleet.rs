//! A fleet of 1,000 clients, one instance each, ten methods: the exposition
//! and the status page at the default instance cap. A few instances are
//! unhealthy (every call fails), a few need attention (an escalation), a few
//! are degraded (one call in five fails); the rest are healthy.
//!
//! Run it with `cargo run --example fleet -- --serve 127.0.0.1:9464 --linger 600`
//! and open the address; CI renders it in Chromium (`.ci/chromium-fleet-e2e.sh`).

use std::time::{Duration, Instant};

use reliability_core::{reliable, Instance};

/// Instances in the fleet: the default cap per component.
const INSTANCES: usize = 1_000;

#[derive(Debug)]
struct HostError;

impl std::fmt::Display for HostError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("host unreachable")
    }
}

impl std::error::Error for HostError {}

struct Client {
    reliability: Instance,
}

macro_rules! methods {
    ($($name:ident)*) => {
        #[reliable(component = "fleet", instance = reliability)]
        impl Client {
            $(fn $name(&self, ok: bool) -> Result<u8, HostError> {
                if ok { Ok(1) } else { Err(HostError) }
            })*

            /// A failure here escalates: the instance needs attention.
            #[reliable(strategies = [escalate])]
            fn sync_state(&self, ok: bool) -> Result<u8, HostError> {
                if ok { Ok(1) } else { Err(HostError) }
            }
        }

        impl Client {
            fn call_all(&self, ok: bool) {
                $(let _ = self.$name(ok);)*
            }
        }
    };
}

methods!(get put list head copy stat touch watch lock);

/// What host `i` does: unhealthy 1 in 100, needs attention 1 in 250,
/// degraded 1 in 50.
fn run(i: usize, client: &Client) {
    let down = i.is_multiple_of(100);
    let degraded = i % 50 == 7;
    let escalates = i % 250 == 3;
    for round in 0..10 {
        let slip = degraded && round % 5 == 1;
        client.call_all(!(down || slip));
        let _ = client.sync_state(!(down || escalates && round == 9));
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (mut serve, mut linger) = (None, 0u64);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--serve" => serve = Some(args.next().ok_or("--serve needs an address")?),
            "--linger" => linger = args.next().ok_or("--linger needs seconds")?.parse()?,
            other => return Err(format!("unknown option {other}").into()),
        }
    }
    let server = serve
        .map(|addr| reliability_core::serve(addr.as_str()))
        .transpose()?;
    if let Some(server) = &server {
        println!("serving http://{}", server.local_addr());
    }
    let start = Instant::now();
    let clients: Vec<Client> = (0..INSTANCES)
        .map(|i| Client {
            reliability: Instance::new(format!("host-{i:04}")),
        })
        .collect();
    for (i, client) in clients.iter().enumerate() {
        run(i, client);
    }
    let snapshot = reliability_core::snapshot();
    let text = snapshot.to_prometheus();
    let fleet = snapshot.component("fleet").ok_or("no fleet")?;
    let series = text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .count();
    println!(
        "{} instances, {series} series, {:.2} MiB of /metrics",
        fleet.instances.len(),
        text.len() as f64 / (1 << 20) as f64
    );
    println!("finished in {:?}", start.elapsed());
    if server.is_some() {
        std::thread::sleep(Duration::from_secs(linger));
    }
    Ok(())
}
