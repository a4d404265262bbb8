//! Group commit for new tokens and codes: the hot write of the token path.
//!
//! Every issued token is a row, and a request is answered only after its
//! row is committed (a token the server answered with survives `kill -9`).
//! One commit per request makes the database write the same few pages (the
//! table's last leaf, each index's last leaf) again for every token: on
//! SQLite that is several 4 KiB WAL frames per token, on PostgreSQL a WAL
//! flush per token. Here a single committer thread takes every insert
//! waiting at that moment and commits them in one transaction, then answers
//! each caller: under load, dozens of tokens share one commit; alone, a
//! request waits for nothing but its own.
//!
//! A caller either blocks until its rows are durable
//! ([`crate::Store::insert_grants`], for code on blocking threads) or gets a
//! [`PendingCommit`] to await ([`crate::Store::submit_grants`], for the
//! token endpoint's hot path on the event loop, which then parks no thread
//! while the commit runs).
//!
//! A batch that fails as a whole (one row breaks a uniqueness rule, the
//! database hiccups) is retried row group by row group, so each caller gets
//! its own answer and nobody's token is lost or wrongly refused.

use std::future::Future;
use std::pin::Pin;
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::task::{Context, Poll};

use futures_channel::oneshot;

use diesel::prelude::*;

use crate::db::{Pools, StoreError};
use crate::models::NewGrant;
use crate::schema::grants;

/// At most this many callers share one transaction (bounds its length).
const MAX_BATCH: usize = 256;

/// One caller's rows (inserted together, all or none) and where the
/// answer goes.
struct Job {
    rows: Vec<NewGrant>,
    answer: Answer,
}

/// Where a caller waits for its commit.
enum Answer {
    /// A thread blocked in [`GroupCommit::insert`].
    Blocking(SyncSender<Result<(), StoreError>>),
    /// A [`PendingCommit`] being awaited.
    Awaited(oneshot::Sender<Result<(), StoreError>>),
}

impl Answer {
    fn send(self, result: Result<(), StoreError>) {
        // A caller that went away (its request was dropped) needs no answer.
        match self {
            Answer::Blocking(tx) => {
                let _ = tx.send(result);
            }
            Answer::Awaited(tx) => {
                let _ = tx.send(result);
            }
        }
    }
}

/// Rows handed to the committer and not yet known to be durable: await it
/// before telling anyone about them (a token is answered only once its row
/// is committed). Dropping it does not cancel the insert.
#[must_use = "rows are durable only once this resolves to Ok"]
pub struct PendingCommit(PendingState);

enum PendingState {
    Waiting(oneshot::Receiver<Result<(), StoreError>>),
    Failed(Option<StoreError>),
}

fn committer_stopped() -> StoreError {
    StoreError::Pool("the committer stopped".into())
}

impl Future for PendingCommit {
    type Output = Result<(), StoreError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.0 {
            PendingState::Waiting(rx) => {
                Pin::new(rx).poll(cx).map(|answer| answer.unwrap_or_else(|_| Err(committer_stopped())))
            }
            PendingState::Failed(e) => Poll::Ready(Err(e.take().unwrap_or_else(committer_stopped))),
        }
    }
}

/// The handle callers submit through; the committer thread ends when the
/// last handle is dropped.
pub(crate) struct GroupCommit {
    jobs: Sender<Job>,
}

impl GroupCommit {
    /// Starts the committer thread on the store's writing pool.
    pub(crate) fn start(pools: Pools) -> GroupCommit {
        let (jobs, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("gatehouse-commit".into())
            .spawn(move || committer(pools, rx))
            .expect("spawn the group-commit thread");
        GroupCommit { jobs }
    }

    /// Inserts `rows` in one transaction shared with whoever else is
    /// inserting now; returns once they are committed.
    pub(crate) fn insert(&self, rows: Vec<NewGrant>) -> Result<(), StoreError> {
        let (answer, wait) = mpsc::sync_channel(1);
        self.jobs.send(Job { rows, answer: Answer::Blocking(answer) }).map_err(|_| committer_stopped())?;
        wait.recv().map_err(|_| committer_stopped())?
    }

    /// Hands `rows` to the committer without waiting (never blocks); the
    /// answer is to be awaited.
    pub(crate) fn submit(&self, rows: Vec<NewGrant>) -> PendingCommit {
        let (answer, wait) = oneshot::channel();
        match self.jobs.send(Job { rows, answer: Answer::Awaited(answer) }) {
            Ok(()) => PendingCommit(PendingState::Waiting(wait)),
            Err(_) => PendingCommit(PendingState::Failed(Some(committer_stopped()))),
        }
    }
}

fn committer(pools: Pools, jobs: Receiver<Job>) {
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(j) => batch.push(j),
                Err(_) => break,
            }
        }
        if batch.len() > 1 {
            metrics::histogram!("gatehouse_group_commit_batch").record(batch.len() as f64);
        }
        let counts: Vec<usize> = batch.iter().map(|j| j.rows.len()).collect();
        let mut rows: Vec<NewGrant> = batch.iter_mut().flat_map(|j| j.rows.drain(..)).collect();
        let started = std::time::Instant::now();
        let inserted = insert_all(&pools, &rows);
        metrics::histogram!("gatehouse_group_commit_seconds").record(started.elapsed().as_secs_f64());
        match inserted {
            Ok(()) => {
                for job in batch {
                    job.answer.send(Ok(()));
                }
            }
            // A lone caller's failure is its own; an unreachable database
            // fails everyone alike (retrying each would wait out the pool's
            // timeout once per caller).
            Err(e) if batch.len() == 1 || e.is_unavailable() => {
                let reason = e.to_string();
                let mut first = Some(e);
                for job in batch {
                    job.answer.send(Err(first.take().unwrap_or_else(|| StoreError::Pool(reason.clone()))));
                }
            }
            // One caller's rows may be the cause: each on its own.
            Err(_) => {
                for (job, n) in batch.into_iter().zip(counts) {
                    let mine: Vec<NewGrant> = rows.drain(..n).collect();
                    job.answer.send(insert_all(&pools, &mine));
                }
            }
        }
    }
}

/// One multi-row INSERT per [`ROWS_PER_STATEMENT`] rows, on either
/// backend's connection (a macro: diesel's bounds for a generic function
/// over both connections do not hold for borrowed rows).
macro_rules! insert_chunks {
    ($conn:expr, $rows:expr) => {
        $rows
            .chunks(ROWS_PER_STATEMENT)
            .try_for_each(|chunk| diesel::insert_into(grants::table).values(chunk).execute($conn).map(drop))
    };
}

/// Inserts the rows in one transaction.
fn insert_all(pools: &Pools, rows: &[NewGrant]) -> Result<(), StoreError> {
    match pools {
        Pools::Sqlite { write, .. } => {
            let mut c = write.get()?;
            // IMMEDIATE: take the write lock up front (another process may
            // hold it: busy_timeout waits) rather than fail on upgrade.
            c.immediate_transaction(|c| insert_chunks!(c, rows))?;
        }
        Pools::Postgres(pool) => {
            let mut c = pool.get()?;
            c.transaction(|c| insert_chunks!(c, rows))?;
        }
    }
    Ok(())
}

/// Rows per multi-row INSERT: 15 parameters each stay far below SQLite's
/// and PostgreSQL's limits on one statement's parameters (32766, 65535).
const ROWS_PER_STATEMENT: usize = 1000;
