//! The model downloader demo (`examples/model_downloader`), run with a fixed
//! seed: every fault the hub injects is recovered, or escalated, the way the
//! demo's design says, the report is a valid `ReliabilityReport`, and a
//! second run with the same seed tells the same story.
//!
//! The demo drives the global manager, so its runs share one test function.

#[path = "../examples/model_downloader/demo/mod.rs"]
mod demo;

use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use demo::client::Source;
use demo::faults::Fault;
use demo::install::{READ_ONLY_FAMILY, UNCONFIGURED_FAMILY};
use demo::server::Host;
use demo::{ModelStory, Options, OptionsError, Summary};
use reliability_core::{
    manager, recovery::RecoveryOutcome, recovery::RecoverySession, recovery::StepOutcome,
    CircuitState, ErrorCategory, ReliabilityEvent, ReliabilityReport, Strategy,
};

const SEED: u64 = 8;

/// The first request the primary got for `model`, and what it did to it.
fn first_fault(summary: &Summary, model: &str) -> Fault {
    summary
        .injections
        .iter()
        .find(|i| i.host == Host::Primary && i.model == model)
        .map_or(Fault::None, |i| i.fault)
}

fn session(story: &ModelStory) -> &RecoverySession {
    story
        .download
        .as_ref()
        .unwrap_or_else(|| panic!("{} needed no recovery", story.model.name))
}

#[test]
fn injected_faults_are_recovered_as_designed() {
    let events = Arc::new(Mutex::new(Vec::new()));
    let _subscription = {
        let events = Arc::clone(&events);
        manager().subscribe(move |event: &ReliabilityEvent| {
            events.lock().unwrap().push(event.clone());
        })
    };
    let report =
        std::env::temp_dir().join(format!("model-downloader-test-{}.json", std::process::id()));
    let options = Options {
        seed: SEED,
        report: report.clone(),
        ..Options::default()
    };
    let summary = demo::run(&options).expect("the demo runs");
    assert_eq!(summary.stories.len(), 12);
    assert!(summary.elapsed.as_secs() < 10, "took {:?}", summary.elapsed);

    let outage: Vec<&ModelStory> = summary.stories[summary.outage.clone()].iter().collect();
    let others = summary
        .stories
        .iter()
        .enumerate()
        .filter(|(i, s)| !summary.outage.contains(i) && !s.model.gated)
        .map(|(_, s)| s);

    // Transient faults on a first request are retried by `network`.
    let mut retried = 0;
    for story in others.clone() {
        let category = match first_fault(&summary, &story.model.name) {
            Fault::Reset => ErrorCategory::Network,
            Fault::Unavailable => ErrorCategory::ResourceExhausted,
            Fault::Slow => ErrorCategory::Timeout,
            _ => continue,
        };
        let session = session(story);
        assert_eq!(session.category, category, "{}", story.model.name);
        assert_eq!(session.steps[0].strategy, Strategy::Network, "{session:#?}");
        assert_eq!(session.outcome, RecoveryOutcome::Recovered, "{session:#?}");
        retried += 1;
    }
    assert!(retried >= 3, "seed {SEED} injects several transient faults");
    let recovered_by = |strategy: Strategy| {
        summary
            .stories
            .iter()
            .filter(|s| s.download.as_ref().and_then(|d| d.recovered_by) == Some(strategy))
            .count()
    };
    assert!(recovered_by(Strategy::Network) >= 3);

    // A corrupt body is repaired: the cache is cleared, and the next request
    // asks for a fresh copy, which is never corrupt.
    let mut corrupt = 0;
    for story in others.clone() {
        let requests: Vec<Fault> = summary
            .injections
            .iter()
            .filter(|i| i.host == Host::Primary && i.model == story.model.name)
            .map(|i| i.fault)
            .collect();
        let Some(at) = requests.iter().position(|f| *f == Fault::Corrupt) else {
            continue;
        };
        let session = session(story);
        let repair = session
            .steps
            .iter()
            .position(|s| s.strategy == Strategy::Repair && s.target == "clear_cache")
            .unwrap_or_else(|| panic!("no repair in {session:#?}"));
        assert_eq!(session.steps[repair].outcome, StepOutcome::Succeeded);
        assert_ne!(requests.get(at + 1), Some(&Fault::Corrupt), "{requests:?}");
        assert_eq!(session.outcome, RecoveryOutcome::Recovered);
        corrupt += 1;
    }
    assert!(corrupt >= 2, "seed {SEED} corrupts several bodies");
    assert!(recovered_by(Strategy::Repair) >= 1);

    // The gated model is refused everywhere and escalated, without retries.
    let gated = summary
        .stories
        .iter()
        .find(|s| s.model.gated)
        .expect("a gated model");
    let session = session(gated);
    assert_eq!(session.category, ErrorCategory::Permission);
    assert_eq!(session.outcome, RecoveryOutcome::Escalated);
    let steps: Vec<(Strategy, &str, StepOutcome)> = session
        .steps
        .iter()
        .map(|s| (s.strategy, s.target.as_str(), s.outcome))
        .collect();
    assert_eq!(
        steps,
        [
            (Strategy::Alternatives, "mirror", StepOutcome::Failed),
            (Strategy::Fallback, "local_cache", StepOutcome::Failed),
            (Strategy::Escalate, "model_downloader", StepOutcome::Failed),
        ]
    );
    assert_eq!(gated.source, None);

    // Every model line reads the primary's own session: the mirror's, left
    // by its `fetch` under the primary's alternative, never stands in for it.
    for session in summary.stories.iter().filter_map(|s| s.download.as_ref()) {
        assert_eq!(session.instance.as_deref(), Some("primary"), "{session:#?}");
        assert_eq!(session.method, "download", "{session:#?}");
    }

    // During the outage the primary serves nothing and only its circuit
    // opens, and closes again once it is back. The mirror, an instance of
    // the same component, keeps its own circuit closed and is never refused:
    // every outage model comes from the mirror or the local cache.
    assert_eq!(outage.len(), 3);
    for story in &outage {
        assert!(
            matches!(story.source, Some(Source::Mirror | Source::LocalCache)),
            "{} came from {:?}",
            story.model.name,
            story.source
        );
        assert!(summary
            .injections
            .iter()
            .filter(|i| i.host == Host::Primary && i.model == story.model.name)
            .all(|i| i.fault == Fault::Down));
    }
    assert!(outage.iter().any(|s| s.source == Some(Source::Mirror)));
    for session in summary.stories.iter().filter_map(|s| s.download.as_ref()) {
        for step in session.steps.iter().filter(|s| s.target == "mirror") {
            let error = step.error.as_deref().unwrap_or_default();
            assert!(
                !error.contains("refused"),
                "the mirror refused: {session:#?}"
            );
        }
    }
    let events = events.lock().unwrap();
    let circuit: Vec<(Option<&str>, CircuitState)> = events
        .iter()
        .filter_map(|e| match e {
            ReliabilityEvent::CircuitChanged {
                component,
                instance,
                state,
                ..
            } if component == "model_downloader" => Some((instance.as_deref(), *state)),
            _ => None,
        })
        .collect();
    assert!(
        circuit
            .iter()
            .all(|(instance, _)| *instance == Some("primary")),
        "{circuit:?}"
    );
    assert_eq!(
        circuit.first().map(|c| c.1),
        Some(CircuitState::Open),
        "{circuit:?}"
    );
    assert_eq!(
        circuit.last().map(|c| c.1),
        Some(CircuitState::Closed),
        "{circuit:?}"
    );
    // The monitor's lines name the instance.
    let lines: Vec<String> = events
        .iter()
        .filter(|e| matches!(e, ReliabilityEvent::CircuitChanged { .. }))
        .filter_map(demo::monitor_line)
        .collect();
    assert_eq!(
        lines.first().map(String::as_str),
        Some("model_downloader@primary: circuit open")
    );
    drop(events);

    let snapshot = reliability_core::snapshot();
    let downloader = snapshot.component("model_downloader").unwrap();
    let primary = downloader
        .instance("primary")
        .expect("the primary's instance");
    let mirror = downloader
        .instance("mirror")
        .expect("the mirror's instance");
    assert!(
        primary.rejected_by.circuit_open > 0,
        "a call was refused while open"
    );
    assert!(primary.health.needs_attention);
    assert_eq!(mirror.rejected, 0, "{mirror:#?}");
    assert_eq!(mirror.in_flight, 0, "the bulkhead gave every place back");
    assert_eq!(mirror.health.circuit, Some(CircuitState::Closed));
    assert!(!mirror.health.needs_attention);
    // The mirror's calls count on the mirror's instance; the component
    // counts each call once.
    let fetch = mirror.method("fetch").expect("the mirror served");
    assert!(fetch.successes >= 1, "{fetch:#?}");
    assert!(primary.method("fetch").is_none());
    assert_eq!(downloader.method("fetch").unwrap().calls, fetch.calls);
    assert_eq!(
        downloader.health.calls,
        primary.health.calls + mirror.health.calls
    );
    assert_eq!(
        manager()
            .instance_health("model_downloader", "mirror")
            .and_then(|h| h.circuit),
        Some(CircuitState::Closed)
    );
    // The printed table has a line per instance under its component.
    let table: Vec<&str> = summary.table.lines().collect();
    let row = |start: &str| {
        table
            .iter()
            .position(|line| line.starts_with(start))
            .unwrap_or_else(|| panic!("no `{start}` line in\n{}", summary.table))
    };
    let (component, at_primary, at_mirror) = (
        row("model_downloader "),
        row("  @primary "),
        row("  @mirror "),
    );
    assert!(
        component < at_primary && component < at_mirror,
        "{}",
        summary.table
    );
    assert!(
        table[at_mirror].contains(" closed "),
        "{}",
        table[at_mirror]
    );

    // Installs: a read-only directory falls back to the user's, a missing
    // manifest is escalated.
    for story in summary.stories.iter().filter(|s| s.source.is_some()) {
        let install = story.install.as_ref();
        if story.model.family == READ_ONLY_FAMILY {
            let install = install.expect("a read-only directory needs recovery");
            assert_eq!(install.category, ErrorCategory::Permission);
            assert_eq!(install.recovered_by, Some(Strategy::Fallback));
            assert!(story.installed.as_ref().unwrap().starts_with("user"));
        } else if story.model.family == UNCONFIGURED_FAMILY {
            let install = install.expect("a missing manifest needs recovery");
            assert_eq!(install.category, ErrorCategory::Configuration);
            assert_eq!(install.outcome, RecoveryOutcome::Escalated);
            assert_eq!(story.installed, None);
        } else {
            assert!(install.is_none(), "{install:#?}");
            assert!(story.installed.as_ref().unwrap().starts_with("system"));
        }
    }

    // The report is whole and reads back.
    assert_eq!(summary.report, report);
    let text = std::fs::read_to_string(&report).expect("the report was written");
    let parsed: ReliabilityReport = serde_json::from_str(&text).expect("a ReliabilityReport");
    let names: Vec<&str> = parsed.components.iter().map(|c| c.name.as_str()).collect();
    assert!(names.contains(&"model_downloader") && names.contains(&"dependency_manager"));
    assert_eq!(parsed.recovery_history, manager().recovery_history());
    assert!(!parsed.health_timeline.is_empty());
    std::fs::remove_file(&report).unwrap();

    // The same seed, from a clean manager, tells the same story.
    manager().reset();
    let again = demo::run(&options).expect("the demo runs again");
    std::fs::remove_file(&report).unwrap();
    assert_eq!(summary.lines, again.lines);
    assert_eq!(summary.injections, again.injections);
}

#[test]
fn bad_options_are_refused() {
    let parse = |args: &[&str]| Options::parse(args.iter().copied());
    let ok = parse(&[
        "--models",
        "5",
        "--seed=3",
        "--fault-rate",
        "1",
        "--prometheus",
    ])
    .unwrap();
    assert_eq!(
        (ok.models, ok.seed, ok.fault_rate, ok.prometheus),
        (5, 3, 1.0, true)
    );
    for bad in [
        &["--models", "0"][..],
        &["--models"],
        &["--seed", "-1"],
        &["--fault-rate", "1.5"],
        &["--fault-rate", "NaN"],
        &["--monitor=yes"],
        &["--verbose"],
    ] {
        assert!(
            matches!(parse(bad), Err(OptionsError::Invalid(_))),
            "{bad:?} was accepted"
        );
    }
    assert_eq!(parse(&["--help"]), Err(OptionsError::Help));
    assert_ne!(
        demo::cli(["--models".to_owned(), "x".to_owned()]),
        ExitCode::SUCCESS
    );
}
