//! The planner's decision for code without the attribute: what to do about
//! one failure, from its category, the component's health and what was tried.

use super::ReliabilityManager;
use crate::classify::classify_chain;
use crate::health::ComponentHealth;
use crate::recovery::plan::{select_strategy, RecoveryAction, RecoveryContext};

impl ReliabilityManager {
    /// Advises what to do about `error`, for code that is not annotated: the
    /// same decision the attribute's recovery makes, from the error's
    /// category, the component's health and what `context` says was tried.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io;
    /// use reliability_core::{manager, ErrorCategory, recovery::RecoveryContext, recovery::RecoveryPlan};
    ///
    /// let error = io::Error::new(io::ErrorKind::ConnectionReset, "reset by peer");
    /// let action = manager().handle_failure("legacy_client", &error, &RecoveryContext::new());
    /// assert_eq!(action.category, ErrorCategory::Network);
    /// assert!(matches!(action.plan, RecoveryPlan::Retry { .. }));
    /// ```
    pub fn handle_failure(
        &self,
        component: &str,
        error: &(dyn std::error::Error + 'static),
        context: &RecoveryContext,
    ) -> RecoveryAction {
        let health = self
            .component_health(component)
            .unwrap_or_else(|| ComponentHealth::empty(component));
        self.advise(health, error, context)
    }

    /// [`handle_failure`](Self::handle_failure) for one instance of a
    /// component: decided on the instance's health.
    pub fn handle_instance_failure(
        &self,
        component: &str,
        id: &str,
        error: &(dyn std::error::Error + 'static),
        context: &RecoveryContext,
    ) -> RecoveryAction {
        let health = self.instance_health(component, id).unwrap_or_else(|| {
            let mut health = ComponentHealth::empty(component);
            health.instance = Some(id.to_owned());
            health
        });
        self.advise(health, error, context)
    }

    fn advise(
        &self,
        health: ComponentHealth,
        error: &(dyn std::error::Error + 'static),
        context: &RecoveryContext,
    ) -> RecoveryAction {
        let classification = classify_chain(error);
        let config = self.env().policy.default_strategies();
        RecoveryAction {
            category: classification.category,
            retry_after: classification.retry_after,
            plan: select_strategy(classification.category, &health, context, &config),
        }
    }
}
