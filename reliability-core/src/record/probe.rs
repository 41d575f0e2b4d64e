//! The outcome probe: whether a method's return value is a failure, and its
//! error's text, found without knowing the value's type in advance.

use super::call::Observed;
use super::outcome::ErrorRef;

/// Classifies a method's return value without knowing its type in advance:
/// `(&&&&Probe(&value)).__reliable_observe()` picks the most specific of the
/// impls below (autoref specialization, on stable Rust).
pub struct Probe<'a, T>(pub &'a T);

impl<T> core::fmt::Debug for Probe<'_, T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Probe")
    }
}

/// `Result<T, E>` with `E: Display`: the error's text is kept.
pub trait ObserveDisplay {
    /// The outcome of the probed value.
    fn __reliable_observe(&self) -> Observed<'_>;
}

/// `Result<T, E>` with `E: Debug` only.
pub trait ObserveDebug {
    /// The outcome of the probed value.
    fn __reliable_observe(&self) -> Observed<'_>;
}

/// Any other `Result<T, E>`: the error is named by its type.
pub trait ObserveResult {
    /// The outcome of the probed value.
    fn __reliable_observe(&self) -> Observed<'_>;
}

/// Any other type: always a success.
pub trait ObserveValue {
    /// The outcome of the probed value.
    fn __reliable_observe(&self) -> Observed<'_>;
}

impl<T, E: core::fmt::Display> ObserveDisplay for &&&Probe<'_, Result<T, E>> {
    #[inline(always)]
    fn __reliable_observe(&self) -> Observed<'_> {
        match self.0 {
            Ok(_) => Observed::Success,
            Err(error) => Observed::Failure(ErrorRef::Display(error), None),
        }
    }
}

impl<T, E: core::fmt::Debug> ObserveDebug for &&Probe<'_, Result<T, E>> {
    #[inline(always)]
    fn __reliable_observe(&self) -> Observed<'_> {
        match self.0 {
            Ok(_) => Observed::Success,
            Err(error) => Observed::Failure(ErrorRef::Debug(error), None),
        }
    }
}

impl<T, E> ObserveResult for &Probe<'_, Result<T, E>> {
    #[inline(always)]
    fn __reliable_observe(&self) -> Observed<'_> {
        match self.0 {
            Ok(_) => Observed::Success,
            Err(_) => Observed::Failure(ErrorRef::TypeName(core::any::type_name::<E>()), None),
        }
    }
}

impl<T> ObserveValue for Probe<'_, T> {
    #[inline(always)]
    fn __reliable_observe(&self) -> Observed<'_> {
        Observed::Success
    }
}

#[cfg(test)]
// The borrows are the mechanism: each level of `&` selects one impl.
#[allow(clippy::needless_borrow)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct OnlyDebug;
    struct Opaque;

    fn text(observed: Observed<'_>) -> Option<String> {
        match observed {
            Observed::Success => None,
            Observed::Failure(error, _) => Some(format!("{error:?}")),
        }
    }

    #[test]
    fn probe_picks_the_most_specific_description() {
        let display: Result<(), &str> = Err("boom");
        assert_eq!(
            text((&&&&Probe(&display)).__reliable_observe()).as_deref(),
            Some("boom")
        );
        let debug: Result<(), OnlyDebug> = Err(OnlyDebug);
        assert_eq!(
            text((&&&&Probe(&debug)).__reliable_observe()).as_deref(),
            Some("OnlyDebug")
        );
        let opaque: Result<(), Opaque> = Err(Opaque);
        let named = text((&&&&Probe(&opaque)).__reliable_observe()).unwrap();
        assert!(named.ends_with("Opaque"), "{named}");
        let ok: Result<u8, Opaque> = Ok(1);
        assert!(text((&&&&Probe(&ok)).__reliable_observe()).is_none());
        assert!(text((&&&&Probe(&5u8)).__reliable_observe()).is_none());
    }
}
