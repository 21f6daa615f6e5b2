//! Graceful shutdown: the signals that start it, and the tasks that must be
//! given time to finish.
//!
//! Shutdown runs in two steps, driven by [`crate::daemon`]. First the input
//! stops and the pipeline publishes what it had already taken in. Then
//! [`Shutdown::finish`] cancels one [`CancellationToken`] and waits, for a
//! bounded time, for every task spawned with [`Shutdown::spawn`]: HTTP
//! connections finish the response in flight and close; a sink sends what
//! is queued for it. Whatever has not finished by then is dropped, so that
//! the process always exits well within systemd's stop timeout.
//!
//! A task spawned here must watch [`Shutdown::cancelled`] and then end soon
//! on its own: a sink by draining what it already holds (the pipeline has
//! stopped, nothing more will come), a streaming response (SSE, long poll)
//! by ending its body. Sinks are spawned here by
//! [`Sinks::start`](crate::sink::Sinks::start), and learn of the shutdown
//! through their [`Follower`](crate::sink::Follower).

use std::future::Future;
use std::time::Duration;

use anyhow::Context;
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::task::JoinHandle;
use tokio_util::sync::{CancellationToken, WaitForCancellationFuture};
use tokio_util::task::TaskTracker;

/// The shared handle: cheap to clone, one per task that needs it.
#[derive(Clone, Default)]
pub struct Shutdown {
    token: CancellationToken,
    tasks: TaskTracker,
}

impl Shutdown {
    pub fn new() -> Shutdown {
        Shutdown::default()
    }

    /// Spawns a task that shutdown waits for (within its grace period).
    pub fn spawn<F>(&self, task: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.tasks.spawn(task)
    }

    /// Completes once shutdown has begun.
    pub fn cancelled(&self) -> WaitForCancellationFuture<'_> {
        self.token.cancelled()
    }

    /// Tells every task to finish, and waits for them for at most `grace`.
    /// Returns how many were still running then.
    pub async fn finish(&self, grace: Duration) -> usize {
        self.token.cancel();
        self.tasks.close();
        match tokio::time::timeout(grace, self.tasks.wait()).await {
            Ok(()) => 0,
            Err(_) => self.tasks.len(),
        }
    }
}

/// SIGTERM (systemd's stop) and SIGINT (Ctrl-C), watched from start-up on,
/// so that neither can kill the daemon before it is ready to shut down.
pub struct Signals {
    terminate: Signal,
    interrupt: Signal,
}

impl Signals {
    pub fn new() -> anyhow::Result<Signals> {
        Ok(Signals {
            terminate: signal(SignalKind::terminate()).context("cannot watch for SIGTERM")?,
            interrupt: signal(SignalKind::interrupt()).context("cannot watch for SIGINT")?,
        })
    }

    /// Waits for the next signal and names it.
    pub async fn recv(&mut self) -> &'static str {
        tokio::select! {
            _ = self.terminate.recv() => "SIGTERM",
            _ = self.interrupt.recv() => "SIGINT",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn tasks_see_the_cancellation_and_are_waited_for() {
        let shutdown = Shutdown::new();
        let (tx, rx) = tokio::sync::oneshot::channel();
        let watcher = shutdown.clone();
        shutdown.spawn(async move {
            watcher.cancelled().await;
            let _ = tx.send("flushed");
        });
        assert_eq!(shutdown.finish(Duration::from_secs(60)).await, 0);
        assert_eq!(rx.await.unwrap(), "flushed");
    }

    #[tokio::test]
    async fn a_task_that_ignores_the_cancellation_is_given_up_on() {
        let shutdown = Shutdown::new();
        shutdown.spawn(std::future::pending::<()>());
        assert_eq!(shutdown.finish(Duration::from_millis(1)).await, 1);
    }
}
