//! The runner: concurrent clients driving a cluster through an adapter, recording every operation.
//!
//! Each client runs one operation at a time, as a Jepsen process does, and by default talks to one node
//! only (client `i` to node `i mod n`, [`ClientBinding`]). After an indeterminate result the client goes on
//! under a new process number, on the same node (its old process may still have an operation in flight
//! at the store). A run stops at its time limit, its operation limit, or when told to; then, if asked, every key
//! that was used is read from every node, for the convergence checks.
//!
//! A client whose operation failed fast, without the store doing anything (`not-sent`: refused, no
//! connection; `not-applied`: no quorum), backs off before its next operation, as a real client would:
//! jittered, doubling from [`Backoff::FIRST`] to at most [`Backoff::MOST`], reset by any answer from the
//! store. A dead node or a lost quorum so costs a few operations a second instead of every one the
//! machine can send, and the history and report stay proportionate to the work done.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use faultline_checker::history::{NOT_APPLIED, NOT_SENT};
use faultline_checker::{EventKind, Process, Value};
use faultline_rng::Rng;

use crate::adapter::{Adapter, Op, Outcome};
use crate::generator::Generator;
use crate::recorder::{Record, Recorder};
use crate::tls::Tls;
use crate::transport::{self, ClientKind, HttpClient};
use crate::workload::Workload;

/// A node of the target: its name in the history, and its base URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    pub name: String,
    pub url: String,
}

#[derive(Clone, Debug)]
pub struct RunSpec {
    pub nodes: Vec<Node>,
    pub adapter: Adapter,
    /// What the clients send: the run's one workload, asked for its generator.
    pub workload: Workload,
    pub clients: usize,
    /// Operations per second across all clients; `None` for as fast as the target answers.
    pub rate: Option<f64>,
    pub time_limit: Duration,
    pub op_limit: Option<u64>,
    pub request_timeout: Duration,
    /// Which node each client's operations go to.
    pub binding: ClientBinding,
    pub final_reads: bool,
    /// Threads the clients run on (default: one per core).
    pub threads: Option<usize>,
    pub http_client: ClientKind,
    /// What `https://` nodes are spoken to with.
    pub tls: Option<Tls>,
}

/// Which node a client's operations go to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ClientBinding {
    /// Client `i` talks only to node `i mod n`, as in Jepsen, and so does the process it continues as after
    /// an indeterminate result. A silent node (paused, cut off) stalls only the clients bound to it; the
    /// rest of the cluster keeps its pace.
    #[default]
    Bound,
    /// Each client sends its operations to the nodes in turn: every client meets every node, and one
    /// silent node stalls every client for as long as it is silent.
    Spread,
}

impl ClientBinding {
    /// Its name in a run's `config.json`.
    pub fn as_str(self) -> &'static str {
        match self {
            ClientBinding::Bound => "bound",
            ClientBinding::Spread => "spread",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunSummary {
    /// Operations invoked by the clients (not counting final reads).
    pub operations: u64,
    /// Every key the clients used, for the final reads.
    pub keys: Vec<String>,
    pub elapsed: Duration,
}

/// Runs the workload until a limit or `stop`; returns once every client has finished.
pub async fn run(spec: &RunSpec, recorder: &Recorder, stop: Arc<AtomicBool>) -> RunSummary {
    assert!(!spec.nodes.is_empty(), "a run needs at least one node");
    let started = Instant::now();
    let deadline = started + spec.time_limit;
    let generator = Arc::new(Mutex::new(spec.workload.generator()));
    let invoked = Arc::new(AtomicU64::new(0));
    let pace = Arc::new(Mutex::new(started));
    let clients = spec.clients.max(1);
    // Clients are dealt to one single-threaded runtime per core, each with its own connections (or, with
    // reqwest, one pool per thread): a request and its answer are handled on the thread that sent it, with
    // no wake-ups handed between threads, and no lock shared by every client. The first share runs on the
    // caller's runtime.
    let threads = spec.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let threads = threads.clamp(1, clients);
    let mut shares: Vec<Vec<Client>> = (0..threads).map(|_| Vec::new()).collect();
    let pools: Vec<Option<reqwest::Client>> = (0..threads)
        .map(|_| {
            (spec.http_client == ClientKind::Reqwest)
                .then(|| transport::reqwest_pool(spec.request_timeout, spec.tls.as_ref()))
        })
        .collect();
    for c in 0..clients {
        shares[c % threads].push(Client {
            index: c,
            spec: spec.clone(),
            recorder: recorder.clone(),
            http: HttpClient::new(
                spec.http_client,
                spec.request_timeout,
                spec.tls.as_ref(),
                pools[c % threads].as_ref(),
            ),
            generator: generator.clone(),
            invoked: invoked.clone(),
            pace: pace.clone(),
            stop: stop.clone(),
            deadline,
        });
    }
    let mut local = tokio::task::JoinSet::new();
    let mut elsewhere = Vec::new();
    for (i, share) in shares.into_iter().enumerate() {
        if i == 0 {
            for client in share {
                local.spawn(client.run());
            }
            continue;
        }
        // The share is handed over once the thread runs, so that if it cannot be started, the share still
        // runs here.
        let (hand_over, receive) = std::sync::mpsc::channel::<Vec<Client>>();
        let (done, finished) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new().name(format!("faultline-clients-{i}")).spawn(move || {
            let (Ok(share), Ok(runtime)) =
                (receive.recv(), tokio::runtime::Builder::new_current_thread().enable_all().build())
            else {
                return;
            };
            runtime.block_on(async move {
                let mut running = tokio::task::JoinSet::new();
                for client in share {
                    running.spawn(client.run());
                }
                while running.join_next().await.is_some() {}
            });
            let _ = done.send(());
        });
        match thread {
            Ok(_) => {
                let _ = hand_over.send(share);
                elsewhere.push(finished);
            }
            Err(_) => {
                for client in share {
                    local.spawn(client.run());
                }
            }
        }
    }
    // Flush regularly, so that a crash loses at most a moment of history even while clients are quiet.
    let flusher = {
        let recorder = recorder.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(crate::recorder::FLUSH_EVERY).await;
                recorder.flush();
            }
        })
    };
    while local.join_next().await.is_some() {}
    for finished in elsewhere {
        let _ = finished.await;
    }
    flusher.abort();
    let operations = invoked.load(Ordering::Relaxed).min(spec.op_limit.unwrap_or(u64::MAX));
    let keys = generator.lock().unwrap_or_else(|p| p.into_inner()).used_keys();
    let elapsed = started.elapsed();
    if spec.final_reads && !stop.load(Ordering::Relaxed) {
        final_reads(spec, recorder, &keys).await;
    }
    RunSummary { operations, keys, elapsed }
}

struct Client {
    index: usize,
    spec: RunSpec,
    recorder: Recorder,
    http: HttpClient,
    generator: Arc<Mutex<Generator>>,
    invoked: Arc<AtomicU64>,
    pace: Arc<Mutex<Instant>>,
    stop: Arc<AtomicBool>,
    deadline: Instant,
}

impl Client {
    async fn run(mut self) {
        let c = self.index;
        let clients = self.spec.clients.max(1) as u64;
        let mut process = c as u64;
        let mut turn = c;
        let mut backoff = Backoff::new(self.spec.workload.seed() ^ (c as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
        loop {
            if self.stop.load(Ordering::Relaxed) || Instant::now() >= self.deadline {
                return;
            }
            if self.invoked.fetch_add(1, Ordering::Relaxed) >= self.spec.op_limit.unwrap_or(u64::MAX) {
                return;
            }
            if let Some(rate) = self.spec.rate {
                let at = {
                    let mut next = self.pace.lock().unwrap_or_else(|p| p.into_inner());
                    let at = (*next).max(Instant::now());
                    *next = at + Duration::from_secs_f64(1.0 / rate.max(1e-3));
                    at
                };
                if at >= self.deadline {
                    // Counted above, never invoked: the run's operation count is what the history holds.
                    self.invoked.fetch_sub(1, Ordering::Relaxed);
                    return;
                }
                tokio::time::sleep_until(at.into()).await;
            }
            let (key, op) = self.generator.lock().unwrap_or_else(|p| p.into_inner()).next_op();
            let node = match self.spec.binding {
                ClientBinding::Bound => c,
                ClientBinding::Spread => turn,
            };
            let node = &self.spec.nodes[node % self.spec.nodes.len()];
            turn += 1;
            let ended = perform(&self.spec.adapter, &mut self.http, &self.recorder, process, node, &key, &op).await;
            match ended {
                Ended::Indeterminate => process += clients,
                Ended::Refused => {
                    let wait = backoff.next_wait().min(self.deadline.saturating_duration_since(Instant::now()));
                    tokio::time::sleep(wait).await;
                }
                Ended::Answered => backoff.reset(),
            }
        }
    }
}

/// How an operation ended, for what the client does next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ended {
    /// The store answered (ok, or a fail it judged, such as a cas mismatch).
    Answered,
    /// A fail without the store doing anything: never sent, or not applied.
    Refused,
    /// It may or may not have happened.
    Indeterminate,
}

/// The waits of a client after fast failures: jittered (each between half and all of the current step),
/// doubling from [`Backoff::FIRST`] to [`Backoff::MOST`].
#[derive(Clone, Debug)]
pub struct Backoff {
    step: Duration,
    rng: Rng,
}

impl Backoff {
    pub const FIRST: Duration = Duration::from_millis(10);
    pub const MOST: Duration = Duration::from_secs(1);

    pub fn new(seed: u64) -> Backoff {
        Backoff { step: Backoff::FIRST, rng: Rng(seed) }
    }

    /// The wait before the next operation, and the step doubled for the one after.
    pub fn next_wait(&mut self) -> Duration {
        let wait = self.step.mul_f64(0.5 + self.rng.unit() / 2.0);
        self.step = (self.step * 2).min(Backoff::MOST);
        wait
    }

    pub fn reset(&mut self) {
        self.step = Backoff::FIRST;
    }
}

/// Records the invocation, performs the operation, records its completion; says how it ended.
async fn perform(
    adapter: &Adapter,
    http: &mut HttpClient,
    recorder: &Recorder,
    process: u64,
    node: &Node,
    key: &str,
    op: &Op,
) -> Ended {
    let invoked_value = match op {
        Op::Read => Value::Null,
        Op::Write(v) => v.clone(),
        Op::Cas(from, to) => Value::List(vec![from.clone(), to.clone()].into()),
    };
    let record = |kind, value, error| Record {
        kind,
        process: Process::Client(process),
        f: op.f(),
        key: Some(key),
        value,
        error,
        node: Some(&node.name),
    };
    recorder.record(record(EventKind::Invoke, invoked_value.clone(), None));
    let outcome = adapter.invoke(http, &node.url, key, op).await;
    let ended = match &outcome {
        Outcome::Info { .. } => Ended::Indeterminate,
        Outcome::Fail { error } if error.starts_with(NOT_SENT) || error.starts_with(NOT_APPLIED) => Ended::Refused,
        _ => Ended::Answered,
    };
    let completion = match outcome {
        Outcome::Ok(read) if *op == Op::Read => record(EventKind::Ok, read, None),
        Outcome::Ok(_) => record(EventKind::Ok, invoked_value, None),
        Outcome::Fail { error } => record(EventKind::Fail, invoked_value, Some(error)),
        Outcome::Info { error } => record(EventKind::Info, invoked_value, Some(error)),
    };
    recorder.record(completion);
    ended
}

/// Reads every key from every node, one reader per node, under process numbers no client uses. A run
/// with faults calls it itself (with `spec.final_reads` off) once the faults are healed.
pub async fn final_reads(spec: &RunSpec, recorder: &Recorder, keys: &[String]) {
    let base = faultline_checker::history::FINAL_READ_PROCESS_BASE;
    let readers = spec.nodes.iter().enumerate().map(|(n, node)| {
        let mut process = base + n as u64 * 1_000_000;
        let mut http = HttpClient::new(spec.http_client, spec.request_timeout, spec.tls.as_ref(), None);
        async move {
            for key in keys {
                if perform(&spec.adapter, &mut http, recorder, process, node, key, &Op::Read).await
                    == Ended::Indeterminate
                {
                    process += 1;
                }
            }
        }
    });
    futures_util::future::join_all(readers).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_up_to_its_cap_and_resets() {
        let mut b = Backoff::new(7);
        let mut step = Backoff::FIRST;
        for _ in 0..12 {
            let wait = b.next_wait();
            assert!(wait >= step / 2 && wait <= step, "{wait:?} for a step of {step:?}");
            step = (step * 2).min(Backoff::MOST);
        }
        assert_eq!(step, Backoff::MOST);
        b.reset();
        assert!(b.next_wait() <= Backoff::FIRST);
        // Jitter: two clients do not wait in lockstep.
        let (mut x, mut y) = (Backoff::new(1), Backoff::new(2));
        assert_ne!(
            (0..4).map(|_| x.next_wait()).collect::<Vec<_>>(),
            (0..4).map(|_| y.next_wait()).collect::<Vec<_>>()
        );
    }
}
