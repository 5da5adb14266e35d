//! A receiver instance's own runtime, which a test can kill: its tasks are
//! dropped without another poll, as in a process that dies.
#![allow(dead_code)]

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use smart_router_webhooks::Runtime;

/// What a [`Runtime`] runs.
type Task = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// The runtime of one instance.
pub struct Instance {
    runtime: Option<tokio::runtime::Runtime>,
}

impl Instance {
    /// A new instance with one worker thread.
    pub fn new() -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a runtime");
        Instance {
            runtime: Some(runtime),
        }
    }

    /// The [`Runtime`] to build the instance's receiver with.
    pub fn runtime(&self) -> OnHandle {
        OnHandle(self.runtime.as_ref().expect("alive").handle().clone())
    }

    /// The instance's tokio runtime, to serve it or build its stores on:
    /// they die with it.
    pub fn handle(&self) -> tokio::runtime::Handle {
        self.runtime.as_ref().expect("alive").handle().clone()
    }

    /// Kills the instance: its in-flight processing stops where it is, and
    /// nothing it would do on the way out (a claim's release) runs.
    pub fn kill(mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// Spawns on one instance's runtime.
#[derive(Clone)]
pub struct OnHandle(tokio::runtime::Handle);

impl Runtime for OnHandle {
    fn spawn(&self, task: Task) -> Result<(), Task> {
        drop(self.0.spawn(task));
        Ok(())
    }

    fn sleep(&self, duration: Duration) -> Task {
        let _entered = self.0.enter();
        Box::pin(tokio::time::sleep(duration))
    }
}
