//! `reset()` zeroes every counter; it gets a test binary of its own because it
//! touches every component of the process.

use reliability_core::{manager, reliable, HealthStatus};

struct Service;

#[reliable(component = "reset_service")]
impl Service {
    fn call(&self, ok: bool) -> Result<(), String> {
        if ok {
            Ok(())
        } else {
            Err("failed".into())
        }
    }
}

#[test]
fn reset_zeroes_counters_and_keeps_components() {
    for _ in 0..3 {
        let _ = Service.call(false);
    }
    assert_eq!(
        manager().component_health("reset_service").unwrap().status,
        HealthStatus::Unhealthy
    );
    manager().reset();
    let health = manager().component_health("reset_service").unwrap();
    assert_eq!((health.calls, health.failures), (0, 0));
    assert_eq!(health.status, HealthStatus::Healthy);
    assert_eq!(health.last_error, None);
    let snapshot = reliability_core::snapshot();
    let method = snapshot
        .component("reset_service")
        .unwrap()
        .method("call")
        .unwrap();
    assert_eq!((method.calls, method.last_error.as_deref()), (0, None));
    assert_eq!(method.latency.max.as_nanos(), 0);
    // The call site is still registered and counts again.
    let _ = Service.call(true);
    let health = manager().component_health("reset_service").unwrap();
    assert_eq!((health.calls, health.successes), (1, 1));
}
