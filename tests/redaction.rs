//! Secrets in error text stay out of every export when redaction is on.
//! A binary of its own: the redaction policy is process-wide.

use reliability_core::{manager, reliable};

struct Client;

#[reliable(component = "redacted_client", strategies = [escalate])]
impl Client {
    fn get(&self, url: &str) -> Result<(), String> {
        Err(format!("GET {url} failed: connection refused"))
    }
}

#[test]
fn redacted_text_never_reaches_the_snapshot_history_or_report() {
    manager().set_error_redactor(|text: &str| {
        text.split(' ')
            .map(|word| {
                if word.contains("token=") {
                    "[redacted]"
                } else {
                    word
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    });
    let _ = Client.get("https://models.example/bert?token=s3cret");
    let snapshot = reliability_core::snapshot();
    let component = snapshot.component("redacted_client").unwrap();
    assert_eq!(
        component.method("get").unwrap().last_error.as_deref(),
        Some("GET [redacted] failed: connection refused")
    );
    let report = manager().report().to_json();
    assert!(report.contains("[redacted]"));
    assert!(
        !report.contains("s3cret"),
        "the secret leaked into the report"
    );
    assert!(!snapshot.to_prometheus().contains("s3cret"));

    manager().set_keep_error_text(false);
    let _ = Client.get("https://models.example/gpt?token=other");
    let report = manager().report().to_json();
    assert!(!report.contains("other"));
    assert!(report.contains("(error text not kept)"));
}
