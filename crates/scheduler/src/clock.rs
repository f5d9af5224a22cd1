//! Time, sleeping and cancellation, behind a trait so tests never sleep for real.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

/// A cancellation handle: cloneable, shareable across threads, and cheap to check.
///
/// The [`Runner`](crate::Runner) stops at its next step once [`cancel`](Self::cancel) is
/// called; a sleeping runner wakes immediately. Wire it to SIGTERM/SIGINT with any signal
/// library, e.g. `ctrlc::set_handler(move || handle.cancel())`.
#[derive(Clone, Debug, Default)]
pub struct CancelHandle {
    inner: Arc<(Mutex<bool>, Condvar)>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl CancelHandle {
    /// A fresh, not yet cancelled handle.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks everything holding a clone of this handle to stop.
    pub fn cancel(&self) {
        let (flag, condvar) = &*self.inner;
        *lock(flag) = true;
        condvar.notify_all();
    }

    /// Whether [`cancel`](Self::cancel) was called.
    pub fn is_cancelled(&self) -> bool {
        *lock(&self.inner.0)
    }

    /// Waits up to `timeout` (real time) for cancellation; returns whether it was cancelled.
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        let (flag, condvar) = &*self.inner;
        let guard = lock(flag);
        let (guard, _) = condvar
            .wait_timeout_while(guard, timeout, |cancelled| !*cancelled)
            .unwrap_or_else(PoisonError::into_inner);
        *guard
    }
}

/// A source of the current time that can also wait.
pub trait Clock {
    /// The current instant.
    fn now(&self) -> DateTime<Utc>;
    /// Waits for `duration`, or less if `cancel` is cancelled meanwhile.
    fn sleep(&self, duration: Duration, cancel: &CancelHandle);
}

impl<C: Clock + ?Sized> Clock for &C {
    fn now(&self) -> DateTime<Utc> {
        (**self).now()
    }
    fn sleep(&self, duration: Duration, cancel: &CancelHandle) {
        (**self).sleep(duration, cancel);
    }
}

impl<C: Clock + ?Sized> Clock for Arc<C> {
    fn now(&self) -> DateTime<Utc> {
        (**self).now()
    }
    fn sleep(&self, duration: Duration, cancel: &CancelHandle) {
        (**self).sleep(duration, cancel);
    }
}

/// The real clock: [`Utc::now`] and a real, cancellable sleep.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
    fn sleep(&self, duration: Duration, cancel: &CancelHandle) {
        cancel.wait_timeout(duration);
    }
}

/// A clock for tests: time moves only when told to.
///
/// In the default *advancing* mode, [`sleep`](Clock::sleep) moves the clock forward by the
/// requested duration and returns at once, so a runner can live through days of simulated
/// time in milliseconds. Queued [`suspend_on_next_sleep`](Self::suspend_on_next_sleep) jumps
/// simulate a machine that was suspended (the clock lands later than the sleep asked for).
///
/// In *blocking* mode ([`ManualClock::blocking`]), `sleep` waits until another thread moves
/// the clock past the wake-up time or cancels, which lets a test act while a runner waits.
#[derive(Clone, Debug)]
pub struct ManualClock {
    inner: Arc<(Mutex<ManualState>, Condvar)>,
}

#[derive(Debug)]
struct ManualState {
    now: DateTime<Utc>,
    blocking: bool,
    sleeping: usize,
    sleeps: Vec<Duration>,
    jumps: VecDeque<DateTime<Utc>>,
}

fn delta(duration: Duration) -> TimeDelta {
    TimeDelta::from_std(duration).unwrap_or(TimeDelta::MAX)
}

/// An amount of time a [`ManualClock`] can be moved by: [`Duration`] or [`TimeDelta`].
pub trait ClockStep {
    /// The amount as a (possibly negative) [`TimeDelta`].
    fn to_delta(self) -> TimeDelta;
}

impl ClockStep for Duration {
    fn to_delta(self) -> TimeDelta {
        delta(self)
    }
}

impl ClockStep for TimeDelta {
    fn to_delta(self) -> TimeDelta {
        self
    }
}

impl ManualClock {
    /// An advancing manual clock starting at `start`.
    pub fn new(start: DateTime<Utc>) -> Self {
        Self::with_mode(start, false)
    }

    /// A blocking manual clock starting at `start`.
    pub fn blocking(start: DateTime<Utc>) -> Self {
        Self::with_mode(start, true)
    }

    fn with_mode(start: DateTime<Utc>, blocking: bool) -> Self {
        ManualClock {
            inner: Arc::new((
                Mutex::new(ManualState {
                    now: start,
                    blocking,
                    sleeping: 0,
                    sleeps: Vec::new(),
                    jumps: VecDeque::new(),
                }),
                Condvar::new(),
            )),
        }
    }

    /// Sets the current time (it may go backwards, like a corrected system clock).
    pub fn set(&self, now: DateTime<Utc>) {
        let (state, condvar) = &*self.inner;
        lock(state).now = now;
        condvar.notify_all();
    }

    /// Moves the current time by `by`: a [`std::time::Duration`] or a [`chrono::TimeDelta`]
    /// (which may be negative, like a clock corrected backwards).
    pub fn advance(&self, by: impl ClockStep) {
        let (state, condvar) = &*self.inner;
        let mut state = lock(state);
        state.now = state
            .now
            .checked_add_signed(by.to_delta())
            .unwrap_or(state.now);
        condvar.notify_all();
    }

    /// Makes the next sleep end at `wake` whatever it asked for (a suspended machine).
    pub fn suspend_on_next_sleep(&self, wake: DateTime<Utc>) {
        lock(&self.inner.0).jumps.push_back(wake);
    }

    /// Every sleep requested so far, in order.
    pub fn sleeps(&self) -> Vec<Duration> {
        lock(&self.inner.0).sleeps.clone()
    }

    /// How many threads are sleeping on this clock right now (blocking mode).
    pub fn sleeping(&self) -> usize {
        lock(&self.inner.0).sleeping
    }

    /// Waits (real time, at most `timeout`) until at least one thread sleeps on this clock;
    /// returns whether one does.
    pub fn wait_for_sleeper(&self, timeout: Duration) -> bool {
        let (state, condvar) = &*self.inner;
        let guard = lock(state);
        let (guard, _) = condvar
            .wait_timeout_while(guard, timeout, |s| s.sleeping == 0)
            .unwrap_or_else(PoisonError::into_inner);
        guard.sleeping > 0
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        lock(&self.inner.0).now
    }

    fn sleep(&self, duration: Duration, cancel: &CancelHandle) {
        let (state, condvar) = &*self.inner;
        let mut guard = lock(state);
        guard.sleeps.push(duration);
        if cancel.is_cancelled() {
            return;
        }
        let target = guard
            .now
            .checked_add_signed(delta(duration))
            .unwrap_or(guard.now);
        if let Some(wake) = guard.jumps.pop_front() {
            guard.now = wake;
            return;
        }
        if !guard.blocking {
            guard.now = guard.now.max(target);
            return;
        }
        guard.sleeping += 1;
        condvar.notify_all();
        // Poll the cancel flag every millisecond: the cancel handle has its own condvar.
        while guard.now < target && !cancel.is_cancelled() {
            guard = condvar
                .wait_timeout(guard, Duration::from_millis(1))
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        guard.sleeping -= 1;
    }
}
