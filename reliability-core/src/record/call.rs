//! The guard that times one call and reports how it ended.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use crate::classify::ErrorCategory;
use crate::record::clock;
use crate::record::outcome::ErrorRef;
use crate::record::site::CallSite;

/// How a completed call ended, as the attribute's expansion saw it.
#[doc(hidden)]
#[derive(Debug, Clone, Copy)]
pub enum Observed<'a> {
    /// A success.
    Success,
    /// A failure, with its error and, once classified, its category.
    Failure(ErrorRef<'a>, Option<ErrorCategory>),
}

/// Whether each call gets a `tracing` span (off by default: a span per call
/// would cost more than all the rest of the call path).
static CALL_SPANS: AtomicBool = AtomicBool::new(false);

pub(crate) fn set_call_spans(on: bool) {
    CALL_SPANS.store(on, Ordering::Relaxed);
}

/// A call's span; entered for the whole call when the call is sync, for
/// each poll when it is async.
struct CallSpan {
    span: tracing::Span,
    entered: bool,
}

impl CallSpan {
    #[cold]
    #[inline(never)]
    fn open(site: &'static CallSite, enter: bool) -> Self {
        let meta = site.meta();
        let span = tracing::info_span!(
            target: "reliability",
            "reliable_call",
            component = meta.component,
            instance = site.component().instance_id,
            method = meta.method
        );
        if enter {
            span.with_subscriber(|(id, dispatch)| dispatch.enter(id));
        }
        CallSpan {
            span,
            entered: enter,
        }
    }
}

impl Drop for CallSpan {
    fn drop(&mut self) {
        if self.entered {
            self.span
                .with_subscriber(|(id, dispatch)| dispatch.exit(id));
        }
    }
}

/// Times one call. `finish` reports the outcome; dropping the guard without
/// finishing reports a panic (when its own code panicked) or a cancellation.
#[doc(hidden)]
#[must_use = "a call that is not finished is reported as cancelled"]
pub struct Call {
    site: &'static CallSite,
    /// Clock ticks (see `clock::now`).
    start: u64,
    reported: AtomicBool,
    /// An async call's watched body returned `Pending` on its last poll: the
    /// future is parked at an await, so whoever drops it cancels it, even
    /// while the thread unwinds from a panic elsewhere.
    suspended: AtomicBool,
    /// Boxed: a call without a span then moves one word, not a span.
    span: Option<Box<CallSpan>>,
}

impl fmt::Debug for Call {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Call")
            .field("site", self.site)
            .field("start", &self.start)
            .finish()
    }
}

impl Call {
    /// Starts timing a sync call of `site`.
    #[inline(always)]
    pub fn start(site: &'static CallSite) -> Self {
        Self::begin(site, true)
    }

    /// Starts timing an async call of `site` (its span, if any, is entered
    /// on each poll, not across awaits).
    #[inline(always)]
    pub fn start_async(site: &'static CallSite) -> Self {
        Self::begin(site, false)
    }

    #[inline(always)]
    fn begin(site: &'static CallSite, sync: bool) -> Self {
        let span = if CALL_SPANS.load(Ordering::Relaxed) {
            Some(Box::new(CallSpan::open(site, sync)))
        } else {
            None
        };
        Call {
            site,
            start: clock::now(),
            reported: AtomicBool::new(false),
            suspended: AtomicBool::new(false),
            span,
        }
    }

    /// The call site this call reports to.
    #[inline(always)]
    pub(crate) fn site(&self) -> &'static CallSite {
        self.site
    }

    /// When the call started, in call-clock ticks.
    #[inline(always)]
    pub(crate) fn started(&self) -> u64 {
        self.start
    }

    /// Reports how the call ended.
    #[inline(always)]
    pub fn finish(mut self, observed: Observed<'_>) {
        let nanos = clock::nanos_since(self.start);
        // Closed before the guard is forgotten, so the span is not leaked.
        drop(self.span.take());
        let site = self.site;
        let reported = self.reported.load(Ordering::Relaxed);
        std::mem::forget(self);
        if reported {
            return;
        }
        match observed {
            Observed::Success => site.record_success(nanos),
            Observed::Failure(error, category) => site.record_failure(nanos, error, category),
        }
    }

    /// Reports how an async call ended, reading the guard where it lies in
    /// the future's state; the guard's drop then only reads `reported`.
    ///
    /// `finish` takes the guard by value, and moving it out of the future
    /// copies it with 16-byte loads right after the poll stored its one-byte
    /// flags: a store-forwarding stall on every call.
    #[inline(always)]
    pub fn finish_in_place(&self, observed: Observed<'_>) {
        let nanos = clock::nanos_since(self.start);
        // Set before reporting: a panic while the error is read (its
        // `Display`) must not be reported again by the drop. A load and a
        // store, not a `swap` (a locked `xchg`): only the future that owns
        // the guard reaches it, and a future is polled by one thread at a
        // time.
        if self.reported.load(Ordering::Relaxed) {
            return;
        }
        self.reported.store(true, Ordering::Relaxed);
        match observed {
            Observed::Success => self.site.record_success(nanos),
            Observed::Failure(error, category) => self.site.record_failure(nanos, error, category),
        }
    }

    /// Wraps an async body so that a panic while it is polled is reported
    /// as one, even if the future is dropped only later.
    #[inline(always)]
    pub fn watch<F: Future>(&self, body: F) -> Watched<'_, F> {
        Watched { call: self, body }
    }

    #[cold]
    fn report_panic(&self) {
        if !self.reported.swap(true, Ordering::Relaxed) {
            self.site
                .record_failure(clock::nanos_since(self.start), ErrorRef::Panic, None);
        }
    }
}

impl Drop for Call {
    #[inline(always)]
    fn drop(&mut self) {
        // After `finish_in_place` this load is all the drop does.
        if !*self.reported.get_mut() {
            self.unfinished();
        }
    }
}

impl Call {
    /// The drop of a call that was not reported: a panic or a cancellation.
    #[cold]
    #[inline(never)]
    fn unfinished(&mut self) {
        // Unwinding while not parked at an await: the panic came from this
        // call's own code (a sync body, or the part of an async call that
        // `Watched` does not cover). A panic in a watched poll was reported
        // by the poll itself; a parked future dropped by someone else's
        // unwinding is cancelled, like any dropped future.
        if std::thread::panicking() && !*self.suspended.get_mut() {
            self.report_panic();
        } else {
            *self.reported.get_mut() = true;
            self.site.record_cancelled();
        }
    }
}

/// An async body whose polls are watched for panics.
#[doc(hidden)]
#[must_use = "futures do nothing unless polled"]
pub struct Watched<'a, F> {
    call: &'a Call,
    body: F,
}

impl<F> fmt::Debug for Watched<'_, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Watched").field("call", self.call).finish()
    }
}

struct UnwindSentinel<'a>(&'a Call);

impl Drop for UnwindSentinel<'_> {
    fn drop(&mut self) {
        self.0.report_panic();
    }
}

impl<F: Future> Future for Watched<'_, F> {
    type Output = F::Output;

    // Inlined into the method's own future: a few loads and a store do
    // not pay for a call.
    #[inline(always)]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: `body` is structurally pinned: it is never moved out of
        // `Watched`, `Watched` has no `Drop` impl that could move it, and
        // `Watched` is `Unpin` only when `F` is.
        let this = unsafe { self.get_unchecked_mut() };
        let call = this.call;
        let _in_span = call.span.as_ref().map(|span| span.span.enter());
        let body = unsafe { Pin::new_unchecked(&mut this.body) };
        let sentinel = UnwindSentinel(call);
        let poll = body.poll(cx);
        std::mem::forget(sentinel);
        call.suspended.store(poll.is_pending(), Ordering::Relaxed);
        poll
    }
}

/// Runs a method's body, moved into a closure so that `return` and `?` keep
/// their meaning. Taking `FnOnce` lets the body hand out borrows of what it
/// captured (`&mut self.field`).
#[inline(always)]
pub fn call_once<R>(body: impl FnOnce() -> R) -> R {
    body()
}

/// `?` in a `#[track_caller]` body written in place: the expansion turns
/// `value?` into `match branch(value) { Continue(v) => v, Break(r) => break
/// 'body from_residual(r) }`, which means what `?` means for the `Result`s
/// and `Option`s it is used on (the std traits behind `?` are unstable).
pub trait Branch {
    /// The value `?` gives on success.
    type Output;
    /// What `?` passes on: the error, or `None`.
    type Residual;
    /// Whether to go on with the value or leave with the residual.
    fn branch(self) -> core::ops::ControlFlow<Self::Residual, Self::Output>;
}

impl<T, E> Branch for Result<T, E> {
    type Output = T;
    type Residual = Result<core::convert::Infallible, E>;

    #[inline(always)]
    fn branch(self) -> core::ops::ControlFlow<Self::Residual, T> {
        match self {
            Ok(value) => core::ops::ControlFlow::Continue(value),
            Err(error) => core::ops::ControlFlow::Break(Err(error)),
        }
    }
}

impl<T> Branch for Option<T> {
    type Output = T;
    type Residual = Option<core::convert::Infallible>;

    #[inline(always)]
    fn branch(self) -> core::ops::ControlFlow<Self::Residual, T> {
        match self {
            Some(value) => core::ops::ControlFlow::Continue(value),
            None => core::ops::ControlFlow::Break(None),
        }
    }
}

/// The value a method returns when `?` leaves it with `residual`.
#[diagnostic::on_unimplemented(
    message = "`?` couldn't convert the error: `{Self}` cannot be made from `{R}`",
    label = "the method's error type needs a `From` impl for this error",
    note = "this `?` is in a `#[track_caller]` method that `#[reliable]` wrote in place"
)]
pub trait FromResidual<R> {
    /// `Err(From::from(error))`, or `None`.
    fn from_residual(residual: R) -> Self;
}

impl<T, E, F: From<E>> FromResidual<Result<core::convert::Infallible, E>> for Result<T, F> {
    #[inline(always)]
    fn from_residual(residual: Result<core::convert::Infallible, E>) -> Self {
        match residual {
            Err(error) => Err(F::from(error)),
            Ok(never) => match never {},
        }
    }
}

impl<T> FromResidual<Option<core::convert::Infallible>> for Option<T> {
    #[inline(always)]
    fn from_residual(_: Option<core::convert::Infallible>) -> Self {
        None
    }
}

/// See [`Branch`].
#[inline(always)]
pub fn branch<T: Branch>(value: T) -> core::ops::ControlFlow<T::Residual, T::Output> {
    value.branch()
}

/// See [`Branch`].
#[inline(always)]
pub fn from_residual<R, T: FromResidual<R>>(residual: R) -> T {
    T::from_residual(residual)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::site::SiteMeta;
    use std::panic::{catch_unwind, AssertUnwindSafe};
    use std::pin::pin;
    use std::task::Waker;

    fn counts(site: &CallSite) -> (u64, u64, u64, u64) {
        let reading = site.read();
        (
            reading.successes,
            reading.failures,
            reading.panics,
            reading.cancelled,
        )
    }

    #[test]
    fn an_async_call_finished_in_place_is_one_success_and_its_drop_reports_nothing() {
        static META: SiteMeta = SiteMeta {
            component: "call_tests_in_place",
            method: "m",
            thresholds: None,
            recovery: None,
            may_cancel: true,
        };
        static SITE: CallSite = CallSite::new(&META);
        let call = Call::start_async(&SITE);
        let polled = pin!(call.watch(async { 7 })).poll(&mut Context::from_waker(Waker::noop()));
        assert_eq!(polled, Poll::Ready(7));
        call.finish_in_place(Observed::Success);
        drop(call);
        assert_eq!(counts(&SITE), (1, 0, 0, 0));
    }

    #[test]
    fn a_panic_while_the_error_is_read_is_not_reported_again_by_the_drop() {
        static META: SiteMeta = SiteMeta {
            component: "call_tests_loud_error",
            method: "m",
            thresholds: None,
            recovery: None,
            may_cancel: true,
        };
        static SITE: CallSite = CallSite::new(&META);
        struct Loud;
        impl fmt::Display for Loud {
            fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
                panic!("the error's Display panics")
            }
        }
        let finished = catch_unwind(AssertUnwindSafe(|| {
            let call = Call::start_async(&SITE);
            call.finish_in_place(Observed::Failure(ErrorRef::Display(&Loud), None));
        }));
        assert!(finished.is_err());
        assert_eq!(counts(&SITE), (0, 1, 0, 0));
    }
}
