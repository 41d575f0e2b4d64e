//! What the manager sets for the whole runtime or one component: health
//! thresholds, error text, spans, the clock, retry settings, limits on
//! instances and the strategies `handle_failure` plans with.

use std::sync::Arc;

use super::ReliabilityManager;
use crate::health::{ThresholdError, Thresholds};
use crate::record::clock::Clock;
use crate::recovery::strategy::{RetryBudget, StrategyConfig};

impl ReliabilityManager {
    /// The thresholds of components that set none of their own.
    pub fn thresholds(&self) -> Thresholds {
        self.env().policy.thresholds()
    }

    /// Sets the thresholds of every component that sets none of its own.
    pub fn set_thresholds(&self, thresholds: Thresholds) -> Result<(), ThresholdError> {
        thresholds.validate()?;
        self.env().policy.set_thresholds(thresholds);
        Ok(())
    }

    /// Sets one component's thresholds, overriding the attribute's and the global ones.
    pub fn set_component_thresholds(
        &self,
        component: &str,
        thresholds: Thresholds,
    ) -> Result<(), ThresholdError> {
        thresholds.validate()?;
        self.runtime.component(component).set_thresholds(thresholds);
        Ok(())
    }

    /// Passes every error text through `redact` before it is kept (in the
    /// snapshot, the recovery history, the report and events), for errors
    /// that may carry secrets, such as URLs with tokens.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use reliability_core::manager;
    ///
    /// manager().set_error_redactor(|text: &str| {
    ///     text.split(' ').map(|w| if w.contains("token=") { "[redacted]" } else { w })
    ///         .collect::<Vec<_>>().join(" ")
    /// });
    /// manager().record_error("doc_redact", "get", &"GET https://x/?token=s3cret failed", Duration::ZERO);
    /// let kept = manager().component_health("doc_redact").unwrap().last_error.unwrap();
    /// assert_eq!(kept, "GET [redacted] failed");
    /// # manager().set_keep_error_text(true);
    /// ```
    pub fn set_error_redactor(&self, redact: impl Fn(&str) -> String + Send + Sync + 'static) {
        self.runtime
            .records()
            .error_text()
            .redact_with(Arc::new(redact));
    }

    /// Whether error texts are kept at all (they are by default). Setting it
    /// again, either way, removes a redactor.
    pub fn set_keep_error_text(&self, keep: bool) {
        self.runtime.records().error_text().keep(keep);
    }

    /// Gives every instrumented call a `tracing` span (`reliable_call`, target
    /// `reliability`, fields `component` and `method`), entered for the
    /// call (for each poll of an async call). Off by default: a span per
    /// call costs more than the rest of the call path.
    pub fn set_call_spans(&self, on: bool) {
        crate::record::call::set_call_spans(on);
    }

    /// The clock recovery waits on.
    pub fn clock(&self) -> Arc<dyn Clock> {
        self.env().policy.clock()
    }

    /// Replaces the clock recovery waits on: backoff delays, circuit
    /// cool-downs, retry budgets. Tests install a [`ManualClock`](crate::ManualClock).
    pub fn set_clock(&self, clock: Arc<dyn Clock>) {
        self.env().policy.set_clock(clock);
    }

    /// The retry budget of components whose attribute sets none.
    pub fn retry_budget(&self) -> RetryBudget {
        self.env().policy.retry_budget()
    }

    /// Sets the retry budget of components whose attribute sets none.
    pub fn set_retry_budget(&self, budget: RetryBudget) {
        self.env().policy.set_retry_budget(budget);
    }

    /// Seeds the jitter of retry delays, for runs that must repeat exactly.
    pub fn set_jitter_seed(&self, seed: u64) {
        self.env().policy.set_jitter_seed(seed);
    }

    /// How many recovery sessions the history keeps; the oldest go first.
    pub fn set_history_capacity(&self, capacity: usize) {
        self.env().set_history_capacity(capacity);
    }

    /// Sets how many instances every component keeps apart (1,000 unless
    /// set). Calls of instances first seen past the limit are counted under
    /// [`Instance::OVERFLOW_ID`](crate::Instance::OVERFLOW_ID); an instance
    /// already counted there stays there.
    pub fn set_instance_limit(&self, limit: usize) {
        self.runtime.records().set_instance_limit(limit);
    }

    /// Sets which series the instances of the component called `component`
    /// have in the exposition (Prometheus text and both bridges); by
    /// default a handful each, summed over their methods (see
    /// [`InstanceSeries`](crate::export::InstanceSeries)). The next snapshot follows.
    pub fn set_instance_series(&self, component: &str, series: crate::export::InstanceSeries) {
        crate::export::instance_series::set(component, series);
    }

    /// Sets how many instances the component called `component` keeps apart.
    pub fn set_component_instance_limit(&self, component: &str, limit: usize) {
        self.runtime
            .records()
            .component(component)
            .set_instance_limit(limit);
    }

    /// The strategies [`handle_failure`](Self::handle_failure) plans with.
    pub fn set_default_strategies(&self, config: StrategyConfig) {
        self.env().policy.set_default_strategies(config);
    }
}
