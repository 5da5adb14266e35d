//! [`Runtime`]: how the receiver runs processing apart from the request
//! that started it, and waits; plus the small runtime-agnostic pieces the
//! detached processing is built of (a one-shot slot, a race of two
//! futures, a last-resort poll).

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

/// A future the receiver hands to a [`Runtime`].
pub(crate) type Task = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// What the receiver needs of an async runtime: to run a task apart from
/// the request that started it, and to wait.
///
/// With one (the default, tokio's, when the `tokio` feature is on,
/// which the adapters, `redis` and `testing` features turn on), once an
/// event is claimed its processing runs to completion whatever happens to
/// the request's future; the delivery is answered by the answer deadline;
/// handlers are timed out; the claim's lease is renewed while handlers
/// run.
///
/// Without one ([`ReceiverBuilder::no_runtime`](super::ReceiverBuilder::no_runtime),
/// or no `tokio` feature and none given), processing runs inside the
/// request's future: there is no answer deadline, no handler timeout and
/// no lease renewal (give a lease longer than your handlers take), and a
/// future dropped mid-processing gives its claim up (once, without
/// waiting: a store whose release must wait lets the lease end instead).
/// Handler panics are caught either way.
pub trait Runtime: Send + Sync + 'static {
    /// Runs `task` to completion in the background, or gives it back when
    /// it cannot (no runtime running on this thread): the receiver then
    /// runs it in the request's future.
    ///
    /// # Errors
    ///
    /// The task, when it was not spawned.
    fn spawn(&self, task: Task) -> Result<(), Task>;

    /// A future ready after `duration`.
    fn sleep(&self, duration: Duration) -> Task;
}

/// The [`Runtime`] of tokio: spawns on the runtime the call is made from.
///
/// Requires the `tokio` feature.
#[cfg(feature = "tokio")]
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct TokioRuntime;

#[cfg(feature = "tokio")]
impl Runtime for TokioRuntime {
    fn spawn(&self, task: Task) -> Result<(), Task> {
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                drop(handle.spawn(task));
                Ok(())
            }
            Err(_) => Err(task),
        }
    }

    fn sleep(&self, duration: Duration) -> Task {
        Box::pin(tokio::time::sleep(duration))
    }
}

/// Runs `task` apart from the caller when `runtime` can; otherwise polls
/// it once, without waiting (a store on memory answers at once).
pub(crate) fn run_apart(runtime: Option<&Arc<dyn Runtime>>, task: Task) {
    let task = match runtime {
        Some(runtime) => match runtime.spawn(task) {
            Ok(()) => return,
            Err(task) => task,
        },
        None => task,
    };
    let mut task = task;
    let _ = task.as_mut().poll(&mut Context::from_waker(Waker::noop()));
}

/// Which of two futures finished first.
pub(crate) enum Either<A, B> {
    Left(A),
    Right(B),
}

/// Polls `a` then `b` until one is ready; `a` wins a tie.
pub(crate) async fn first<A: Future, B: Future>(a: A, b: B) -> Either<A::Output, B::Output> {
    let (mut a, mut b) = (std::pin::pin!(a), std::pin::pin!(b));
    std::future::poll_fn(|cx| {
        if let Poll::Ready(out) = a.as_mut().poll(cx) {
            return Poll::Ready(Either::Left(out));
        }
        b.as_mut().poll(cx).map(Either::Right)
    })
    .await
}

type Late<T> = Box<dyn FnOnce(T) + Send>;

enum State<T> {
    Empty(Option<Waker>),
    Full(T),
    /// The task ended without a value (it was dropped: aborted, or a
    /// runtime shutting down).
    Lost,
    Abandoned,
    Taken,
}

/// Where a detached task leaves its result for the request waiting on it.
/// If the request stops waiting first, the result goes to `late` instead.
pub(crate) struct Slot<T> {
    shared: Arc<Mutex<Shared<T>>>,
}

/// The slot's state, and where a value nobody waits for goes.
type Shared<T> = (State<T>, Option<Late<T>>);

impl<T> Clone for Slot<T> {
    fn clone(&self) -> Self {
        Slot {
            shared: self.shared.clone(),
        }
    }
}

impl<T: Send + 'static> Slot<T> {
    /// An empty slot; `late` takes a result nobody waits for any more.
    pub(crate) fn new(late: impl FnOnce(T) + Send + 'static) -> Self {
        Slot {
            shared: Arc::new(Mutex::new((State::Empty(None), Some(Box::new(late))))),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Shared<T>> {
        self.shared.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// What the task holds to leave its value: dropped without one, it
    /// tells the waiter the value will never come.
    pub(crate) fn filler(&self) -> Filler<T> {
        Filler {
            slot: Some(self.clone()),
        }
    }

    /// Leaves `value` for the waiter, or hands it to `late` if the waiter
    /// is gone.
    fn fill(&self, value: T) {
        let mut shared = self.lock();
        match std::mem::replace(&mut shared.0, State::Taken) {
            State::Empty(waker) => {
                shared.0 = State::Full(value);
                drop(shared);
                if let Some(waker) = waker {
                    waker.wake();
                }
            }
            State::Abandoned => {
                let late = shared.1.take();
                drop(shared);
                if let Some(late) = late {
                    late(value);
                }
            }
            other => shared.0 = other,
        }
    }

    /// Stops waiting: the value if it is there already, else `None` (and
    /// the value will go to `late`).
    pub(crate) fn abandon(&self) -> Option<T> {
        let mut shared = self.lock();
        match std::mem::replace(&mut shared.0, State::Abandoned) {
            State::Full(value) => {
                shared.0 = State::Taken;
                Some(value)
            }
            State::Taken => {
                shared.0 = State::Taken;
                None
            }
            _ => None,
        }
    }

    /// Waits for the value (`None` if the task was dropped without one).
    /// Dropped before it came, the wait abandons the slot; dropped after it
    /// came but before it was taken, the value goes to `late`.
    pub(crate) fn wait(&self) -> Wait<T> {
        Wait { slot: self.clone() }
    }
}

/// The task's end of a [`Slot`].
pub(crate) struct Filler<T: Send + 'static> {
    slot: Option<Slot<T>>,
}

impl<T: Send + 'static> Filler<T> {
    /// Leaves `value` for the waiter, or hands it to `late`.
    pub(crate) fn fill(mut self, value: T) {
        if let Some(slot) = self.slot.take() {
            slot.fill(value);
        }
    }
}

impl<T: Send + 'static> Drop for Filler<T> {
    fn drop(&mut self) {
        let Some(slot) = self.slot.take() else {
            return;
        };
        let mut shared = slot.lock();
        if let State::Empty(waker) = &mut shared.0 {
            let waker = waker.take();
            shared.0 = State::Lost;
            drop(shared);
            if let Some(waker) = waker {
                waker.wake();
            }
        }
    }
}

/// The future of [`Slot::wait`].
pub(crate) struct Wait<T: Send + 'static> {
    slot: Slot<T>,
}

impl<T: Send + 'static> Future for Wait<T> {
    type Output = Option<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let mut shared = self.slot.lock();
        match std::mem::replace(&mut shared.0, State::Taken) {
            State::Full(value) => Poll::Ready(Some(value)),
            State::Lost => Poll::Ready(None),
            State::Empty(_) => {
                shared.0 = State::Empty(Some(cx.waker().clone()));
                Poll::Pending
            }
            other => {
                shared.0 = other;
                Poll::Pending
            }
        }
    }
}

impl<T: Send + 'static> Drop for Wait<T> {
    fn drop(&mut self) {
        if let Some(value) = self.slot.abandon() {
            let late = self.slot.lock().1.take();
            if let Some(late) = late {
                late(value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn a_value_nobody_waits_for_goes_to_late() {
        let late = Arc::new(AtomicUsize::new(0));
        let seen = late.clone();
        let slot = Slot::new(move |v: usize| seen.store(v, Ordering::SeqCst));
        drop(slot.wait());
        slot.filler().fill(7);
        assert_eq!(late.load(Ordering::SeqCst), 7);
    }

    #[test]
    fn a_value_filled_then_abandoned_is_handed_back() {
        let slot = Slot::new(|_: usize| panic!("not late"));
        slot.filler().fill(3);
        assert_eq!(slot.abandon(), Some(3));
    }

    #[test]
    fn a_task_dropped_without_a_value_ends_the_wait() {
        let slot = Slot::new(|_: usize| panic!("not late"));
        let mut wait = slot.wait();
        drop(slot.filler());
        let mut cx = Context::from_waker(Waker::noop());
        assert_eq!(Pin::new(&mut wait).poll(&mut cx), Poll::Ready(None));
    }

    #[test]
    fn a_wait_dropped_after_the_fill_hands_the_value_to_late() {
        let late = Arc::new(AtomicUsize::new(0));
        let seen = late.clone();
        let slot = Slot::new(move |v: usize| seen.store(v, Ordering::SeqCst));
        let wait = slot.wait();
        slot.filler().fill(5);
        drop(wait);
        assert_eq!(late.load(Ordering::SeqCst), 5);
    }
}
