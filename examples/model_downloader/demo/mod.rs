//! The model downloader demo: a model hub that misbehaves on a seeded
//! schedule, a downloader and an installer made reliable by `#[reliable]`,
//! one progress line per model, then the health table, the recovery summary,
//! the JSON report and, on request, the Prometheus text.
//!
//! `main.rs` only calls [`cli`]; `tests/model_downloader.rs` calls [`run`].

// Compiled twice: into the example, which calls `cli`, and into
// `tests/model_downloader.rs`, which calls `run` and reads what it returns;
// each leaves part of the other's share unused.
#![allow(dead_code)]

pub mod client;
pub mod faults;
pub mod install;
pub mod server;
mod story;

use std::error::Error;
use std::net::SocketAddr;
use std::ops::Range;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use reliability_core::{
    manager, monitor::MonitorConfig, recovery::RecoverySession, ReliabilityEvent,
};

use client::{ModelDownloader, Source};
use faults::Model;
use install::{DependencyManager, READ_ONLY_FAMILY, UNCONFIGURED_FAMILY};
use server::{Host, Injection};

/// The time between one model and the next (a politeness delay towards the
/// hub). It keeps the story independent of the
/// machine's speed: it is well under the circuit's 190 ms cool-down, and two
/// of it are over, so after the circuit opens the next model is refused and
/// the one after it probes the primary (unless the machine stalls for 90 ms).
pub const PACE: Duration = Duration::from_millis(100);

const USAGE: &str = "\
usage: model_downloader [options]

  --models N        how many models to download (1 to 1000; default 12)
  --seed S          the seed of the fault schedule and of the retry jitter (default 8)
  --fault-rate F    the share of the primary's requests that fail, 0 to 1 (default 0.3)
  --report PATH     where to write the JSON report (default reliability-report.json)
  --prometheus      print the metrics in the Prometheus text format at the end
  --monitor         run the background health monitor and print transitions as they happen
  --serve ADDR      serve the status page, /metrics, /health and /report on ADDR
                    (IP:PORT; port 0 picks one) while the demo runs
  --linger SECS     with --serve: keep serving SECS seconds after the run (0 to 86400)
  -h, --help        print this message";

/// The demo's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    pub models: usize,
    pub seed: u64,
    pub fault_rate: f64,
    pub report: PathBuf,
    pub prometheus: bool,
    pub monitor: bool,
    /// Where to serve the endpoint while the demo runs.
    pub serve: Option<SocketAddr>,
    /// How long to keep serving after the run.
    pub linger: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            models: 12,
            seed: 8,
            fault_rate: 0.3,
            report: PathBuf::from("reliability-report.json"),
            prometheus: false,
            monitor: false,
            serve: None,
            linger: Duration::ZERO,
        }
    }
}

/// Why the command line was not accepted.
#[derive(Debug, Clone, PartialEq)]
pub enum OptionsError {
    /// `--help`: not an error, but no run either.
    Help,
    Invalid(String),
}

impl Options {
    /// Reads `--name value`, `--name=value` and flags; anything else is an error.
    pub fn parse<I, S>(args: I) -> Result<Options, OptionsError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut options = Options::default();
        let mut args = args.into_iter().map(Into::into);
        while let Some(arg) = args.next() {
            let (name, inline) = match arg.split_once('=') {
                Some((name, value)) if name.starts_with("--") => {
                    (name.to_owned(), Some(value.to_owned()))
                }
                _ => (arg.clone(), None),
            };
            let mut value = |what: &str| {
                inline
                    .clone()
                    .or_else(|| args.next())
                    .ok_or_else(|| OptionsError::Invalid(format!("`{name}` needs {what}")))
            };
            match name.as_str() {
                "-h" | "--help" => return Err(OptionsError::Help),
                "--models" => {
                    let text = value("a number of models")?;
                    options.models = text
                        .parse()
                        .ok()
                        .filter(|n| (1..=1000).contains(n))
                        .ok_or_else(|| {
                            invalid("--models", &text, "a whole number from 1 to 1000")
                        })?;
                }
                "--seed" => {
                    let text = value("a seed")?;
                    options.seed = text
                        .parse()
                        .map_err(|_| invalid("--seed", &text, "a whole number"))?;
                }
                "--fault-rate" => {
                    let text = value("a rate")?;
                    options.fault_rate = text
                        .parse::<f64>()
                        .ok()
                        .filter(|rate| (0.0..=1.0).contains(rate))
                        .ok_or_else(|| invalid("--fault-rate", &text, "a number from 0 to 1"))?;
                }
                "--report" => {
                    let text = value("a path")?;
                    if text.is_empty() {
                        return Err(invalid("--report", &text, "a path"));
                    }
                    options.report = PathBuf::from(text);
                }
                "--serve" => {
                    let text = value("an address")?;
                    options.serve = Some(text.parse().map_err(|_| {
                        invalid(
                            "--serve",
                            &text,
                            "an IP address and port, like 127.0.0.1:9464",
                        )
                    })?);
                }
                "--linger" => {
                    let text = value("a number of seconds")?;
                    let secs = text
                        .parse::<u64>()
                        .ok()
                        .filter(|secs| *secs <= 86_400)
                        .ok_or_else(|| {
                            invalid("--linger", &text, "whole seconds from 0 to 86400")
                        })?;
                    options.linger = Duration::from_secs(secs);
                }
                "--prometheus" | "--monitor" if inline.is_some() => {
                    return Err(OptionsError::Invalid(format!("`{name}` takes no value")));
                }
                "--prometheus" => options.prometheus = true,
                "--monitor" => options.monitor = true,
                _ => return Err(OptionsError::Invalid(format!("unknown option `{arg}`"))),
            }
        }
        if options.serve.is_none() && !options.linger.is_zero() {
            return Err(OptionsError::Invalid(
                "`--linger` keeps the endpoint up: it needs `--serve`".into(),
            ));
        }
        Ok(options)
    }
}

fn invalid(name: &str, text: &str, expected: &str) -> OptionsError {
    OptionsError::Invalid(format!("`{name}` expects {expected}, got `{text}`"))
}

/// The example's whole `main`: parse, run, report.
pub fn cli(args: impl IntoIterator<Item = String>) -> ExitCode {
    let options = match Options::parse(args) {
        Ok(options) => options,
        Err(OptionsError::Help) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(OptionsError::Invalid(message)) => {
            eprintln!("model_downloader: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(&options) {
        Ok(_) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("model_downloader: {error}");
            ExitCode::FAILURE
        }
    }
}

/// What happened to one model.
#[derive(Debug, Clone)]
pub struct ModelStory {
    pub model: Model,
    /// Where the bytes came from, when the download succeeded.
    pub source: Option<Source>,
    /// The download's recovery, when it needed one.
    pub download: Option<RecoverySession>,
    /// The install's path (relative to the install root), when it succeeded.
    pub installed: Option<PathBuf>,
    /// The install's recovery, when it needed one.
    pub install: Option<RecoverySession>,
}

/// What a run did, for the integration test.
#[derive(Debug, Clone)]
pub struct Summary {
    pub stories: Vec<ModelStory>,
    /// The per-model lines, as printed.
    pub lines: Vec<String>,
    /// Every request the hub answered and the fault it injected, in order.
    pub injections: Vec<Injection>,
    /// Indexes of the models whose requests found the primary down.
    pub outage: Range<usize>,
    /// The health table, as printed: a line per component, its methods and
    /// its instances.
    pub table: String,
    /// Where the JSON report went.
    pub report: PathBuf,
    pub elapsed: Duration,
}

/// Runs the demo: prints the story and the tables, writes the report.
pub fn run(options: &Options) -> Result<Summary, Box<dyn Error>> {
    let started = Instant::now();
    manager().set_jitter_seed(options.seed);
    let models = faults::catalog(options.models);
    let plan = faults::FaultPlan::new(options.seed, options.fault_rate, &models);
    let workspace = install::Workspace::create()?;
    let mut warm = Vec::new();
    for (index, model) in models.iter().enumerate() {
        if plan.warm_cache(index, model) {
            workspace.warm(&model.name)?;
            warm.push(model.name.as_str());
        }
    }
    let outage = plan.outage();
    let hub = server::ModelHub::start(plan, models.clone())?;
    // Two instances of one component: the mirror's circuit and bulkhead are
    // its own, so the primary's outage never refuses a request to it.
    let mirror = Arc::new(ModelDownloader::new(
        Host::Mirror,
        hub.addr(Host::Mirror),
        workspace.cache_dir(),
        None,
    ));
    let downloader = ModelDownloader::new(
        Host::Primary,
        hub.addr(Host::Primary),
        workspace.cache_dir(),
        Some(mirror),
    );
    let installer = DependencyManager::new(workspace.install_root());

    print_setting(options, &models, outage.clone(), &warm);
    // Started before the first model, so the page shows the run as it goes.
    let endpoint = options.serve.map(reliability_core::serve).transpose()?;
    if let Some(endpoint) = &endpoint {
        let addr = endpoint.local_addr();
        println!("serving http://{addr}/ (status page), /metrics, /health and /report");
        println!();
    }
    let monitor = options.monitor.then(start_monitor).transpose()?;
    let name_width = models.iter().map(|m| m.name.len()).max().unwrap_or(0);
    let mut stories = Vec::new();
    let mut lines = Vec::new();
    for (index, model) in models.iter().enumerate() {
        if index > 0 {
            thread::sleep(PACE);
        }
        let mark = last_session_id();
        let downloaded = downloader.download(&model.name);
        let download = session_since(mark, "model_downloader", Some(downloader.instance()));
        let (installed, install) = match &downloaded {
            Ok(file) => {
                let mark = last_session_id();
                let installed = installer.install(file, model.family);
                (
                    Some(installed),
                    session_since(mark, "dependency_manager", None),
                )
            }
            Err(_) => (None, None),
        };
        // One evaluation per model: the health timeline and the uptime in
        // the report come from these (and from the monitor, when it runs).
        manager().check_health();
        let line = format!(
            "{:>width$}/{} {:<name_width$} {}  ⇒ {}",
            index + 1,
            models.len(),
            model.name,
            story::fetched(&downloaded, download.as_ref()),
            story::placed(installed.as_ref(), install.as_ref()),
            width = models.len().to_string().len(),
        );
        println!("{line}");
        lines.push(line);
        stories.push(ModelStory {
            model: model.clone(),
            source: downloaded.as_ref().ok().map(|file| file.source),
            download,
            installed: installed.and_then(Result::ok),
            install,
        });
    }
    if let Some(subscription) = monitor {
        manager().shutdown()?;
        drop(subscription);
    }

    let snapshot = reliability_core::snapshot();
    let table = story::health_table(&snapshot);
    println!();
    print!("{table}");
    println!();
    print!("{}", story::strategy_table(&snapshot));
    let timeline = manager().health_timeline();
    if !timeline.is_empty() {
        println!();
        println!("health transitions");
        for transition in &timeline {
            println!("  {}", story::transition(transition));
        }
    }
    let report = manager().export_report(&options.report)?;
    println!();
    println!("report: {}", report.display());
    if options.prometheus {
        println!();
        print!("{}", snapshot.to_prometheus());
    }
    let injections = hub.injections();
    drop(hub);
    drop(workspace);
    let elapsed = started.elapsed();
    println!();
    println!("finished in {}", story::human(elapsed));
    if let Some(endpoint) = endpoint {
        if !options.linger.is_zero() {
            println!(
                "still serving http://{}/ for {} s",
                endpoint.local_addr(),
                options.linger.as_secs()
            );
            thread::sleep(options.linger);
        }
        endpoint.shutdown();
    }
    Ok(Summary {
        stories,
        lines,
        injections,
        outage,
        table,
        report,
        elapsed,
    })
}

/// What the seed decided, before anything runs.
fn print_setting(options: &Options, models: &[Model], outage: Range<usize>, warm: &[&str]) {
    println!(
        "model_downloader: {} models, seed {}, fault rate {:.2}",
        options.models, options.seed, options.fault_rate
    );
    let names = |models: &[Model]| story::list(models.iter().map(|m| m.name.clone()));
    let gated: Vec<Model> = models.iter().filter(|m| m.gated).cloned().collect();
    println!("  gated (403 everywhere): {}", names(&gated));
    println!("  primary down during:    {}", names(&models[outage]));
    println!(
        "  in the local cache:     {}",
        story::list(warm.iter().map(|name| (*name).to_owned()))
    );
    println!(
        "  installs: system/{READ_ONLY_FAMILY} is read-only, {UNCONFIGURED_FAMILY} has no manifest"
    );
    println!();
}

fn last_session_id() -> u64 {
    manager().recovery_history().last().map_or(0, |s| s.id)
}

/// The session `component` (its `instance`, if it has them) left after
/// `mark`, if the call needed recovery. The instance keeps out a session of
/// another instance the call made on the way: the mirror's `fetch`, under the
/// primary's alternative, is recorded before the primary's call ends.
fn session_since(mark: u64, component: &str, instance: Option<&str>) -> Option<RecoverySession> {
    manager()
        .recovery_history()
        .into_iter()
        .find(|s| s.id > mark && s.component == component && s.instance.as_deref() == instance)
}

/// `component` or `component@instance`.
fn named(component: &str, instance: Option<&str>) -> String {
    match instance {
        Some(instance) => format!("{component}@{instance}"),
        None => component.to_owned(),
    }
}

/// What the monitor prints for `event`: health and circuit changes and idle
/// components, each named `component@instance` when it is an instance's.
pub fn monitor_line(event: &ReliabilityEvent) -> Option<String> {
    let name = named(event.component(), event.instance());
    let text = match event {
        ReliabilityEvent::HealthChanged {
            from, to, reason, ..
        } => format!(
            "{name}: {from} → {to}{}",
            reason
                .as_deref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default()
        ),
        ReliabilityEvent::CircuitChanged { state, .. } => format!("{name}: circuit {state}"),
        ReliabilityEvent::ComponentStale { idle, .. } => format!("{name}: no call for {idle:?}"),
        _ => return None,
    };
    Some(text)
}

/// Starts the background monitor and prints what it sees as it sees it.
fn start_monitor() -> std::io::Result<reliability_core::Subscription> {
    let subscription = manager().subscribe(|event: &ReliabilityEvent| {
        if let Some(line) = monitor_line(event) {
            println!("  [monitor] {line}");
        }
    });
    manager().start_monitoring(MonitorConfig::new().with_interval(Duration::from_millis(50)))?;
    Ok(subscription)
}
