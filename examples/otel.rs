//! Exports this library's figures through OpenTelemetry: a meter provider
//! with the SDK's stdout exporter stands in for an OTLP pipeline to a
//! collector. The figures are observable instruments, read when the reader
//! collects; nothing is added to the instrumented calls.
//!
//! Run it with `cargo run --example otel --features opentelemetry`.

use std::fmt;

use opentelemetry::metrics::MeterProvider as _;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
use reliability_core::{reliable, Classify, ErrorCategory};

#[derive(Debug)]
struct LookupError(u32);

impl fmt::Display for LookupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "user {} not found", self.0)
    }
}

impl Classify for LookupError {
    fn category(&self) -> ErrorCategory {
        ErrorCategory::NotFound
    }
}

/// A directory in which every seventh user is missing.
struct Directory;

#[reliable(component = "directory")]
impl Directory {
    fn lookup(&self, id: u32) -> Result<String, LookupError> {
        if id.is_multiple_of(7) {
            Err(LookupError(id))
        } else {
            Ok(format!("user-{id}"))
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // In production: opentelemetry-otlp's exporter in place of stdout's.
    let reader = PeriodicReader::builder(opentelemetry_stdout::MetricExporter::default()).build();
    let provider = SdkMeterProvider::builder().with_reader(reader).build();
    reliability_core::export::register_opentelemetry(&provider.meter("otel-example"));

    let directory = Directory;
    let found = (1..=50).filter(|id| directory.lookup(*id).is_ok()).count();
    println!("{found} of 50 users found; exporting:");

    // Shutting down collects and exports once more, now, instead of at the
    // reader's next interval.
    provider.shutdown()?;
    Ok(())
}
