//! Userspace link proxies: the network faults of a lab that has no namespaces (not root) or no kernel
//! queueing discipline for delay.
//!
//! Every directed peer link `from -> to` gets a TCP proxy: node `from` is told that `to` lives at the
//! proxy's address. A connection through it carries `from`'s requests forward and `to`'s answers back, so
//! a fault on the directed pair (a, b), "a no longer hears b", acts on the forward half of link b -> a and
//! on the backward half of link a -> b. A cut half stalls: nothing is read from its source, exactly as a
//! kernel that drops packets makes TCP wait and retransmit, and everything flows again once healed. Loss is
//! what TCP makes of it above the kernel: a segment that must be retransmitted, i.e. held for a
//! retransmission timeout. Delay holds every chunk for the delay plus a uniform jitter, keeping order.
//!
//! Client traffic does not pass through these proxies, so this mode cannot cut clients off.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// What TCP's retransmission costs a lost segment on a fast link: Linux's minimum RTO.
pub const RETRANSMISSION_TIMEOUT: Duration = Duration::from_millis(200);

/// The fault state of one direction of traffic: data sent by `source` to `sink`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PathState {
    pub cut: bool,
    pub loss_percent: u32,
    pub delay: Duration,
    pub jitter: Duration,
}

/// The fault state of every directed pair of nodes, keyed (sender, receiver).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Links {
    pub paths: BTreeMap<(usize, usize), PathState>,
}

impl Links {
    pub fn path(&self, sender: usize, receiver: usize) -> PathState {
        self.paths.get(&(sender, receiver)).cloned().unwrap_or_default()
    }
}

/// The proxies of one lab: one listener per directed link, all sharing the fault state.
pub struct Proxies {
    state: watch::Sender<Links>,
    /// `addresses[(from, to)]`: where node `from` must send to reach node `to`.
    pub addresses: BTreeMap<(usize, usize), SocketAddr>,
    targets: Vec<SocketAddr>,
    listeners: BTreeMap<(usize, usize), tokio::task::JoinHandle<()>>,
    seed: Arc<Mutex<u64>>,
}

impl Proxies {
    /// Starts a proxy for every ordered pair of `nodes` (their real peer addresses), on free loopback ports.
    pub async fn start(nodes: &[SocketAddr]) -> std::io::Result<Proxies> {
        let (state, _) = watch::channel(Links::default());
        let mut proxies = Proxies {
            state,
            addresses: BTreeMap::new(),
            targets: nodes.to_vec(),
            listeners: BTreeMap::new(),
            seed: Arc::new(Mutex::new(0x5eed_u64)),
        };
        for from in 0..nodes.len() {
            for to in (0..nodes.len()).filter(|to| *to != from) {
                let listener = TcpListener::bind("127.0.0.1:0").await?;
                proxies.addresses.insert((from, to), listener.local_addr()?);
                proxies.serve(from, to, listener);
            }
        }
        Ok(proxies)
    }

    fn serve(&mut self, from: usize, to: usize, listener: TcpListener) {
        let (target, watch, seed) = (self.targets[to], self.state.subscribe(), self.seed.clone());
        let task = tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                let (watch, seed) = (watch.clone(), seed.clone());
                tokio::spawn(async move {
                    if let Ok(outbound) = TcpStream::connect(target).await {
                        let _ = inbound.set_nodelay(true);
                        let _ = outbound.set_nodelay(true);
                        let (ir, iw) = inbound.into_split();
                        let (or, ow) = outbound.into_split();
                        let forward = pump(ir, ow, (from, to), watch.clone(), seed.clone());
                        let backward = pump(or, iw, (to, from), watch, seed);
                        tokio::join!(forward, backward);
                    }
                });
            }
        });
        if let Some(old) = self.listeners.insert((from, to), task) {
            old.abort();
        }
    }

    /// A node that is down refuses connections, as its host's kernel would: the proxies to it stop
    /// listening, so a peer learns at once that nothing was sent (rather than from a connection that
    /// closes after it sent its request, which would leave it not knowing).
    pub fn target_down(&mut self, to: usize) {
        for ((_, t), task) in &self.listeners {
            if *t == to {
                task.abort();
            }
        }
    }

    /// Listens again (on the same addresses) for a node that is back.
    pub async fn target_up(&mut self, to: usize) -> std::io::Result<()> {
        let links: Vec<(usize, usize)> = self.addresses.keys().copied().filter(|(_, t)| *t == to).collect();
        for (from, to) in links {
            let listener = TcpListener::bind(self.addresses[&(from, to)]).await?;
            self.serve(from, to, listener);
        }
        Ok(())
    }

    /// Replaces the fault state of every link at once.
    pub fn set(&self, links: Links) {
        self.state.send_replace(links);
    }

    pub fn links(&self) -> Links {
        self.state.borrow().clone()
    }

    /// Applies `f` to the current state.
    pub fn update(&self, f: impl FnOnce(&mut Links)) {
        self.state.send_modify(f);
    }
}

impl Drop for Proxies {
    fn drop(&mut self) {
        for task in self.listeners.values() {
            task.abort();
        }
    }
}

/// Copies `source` to `sink` for traffic from node `path.0` to node `path.1`, under that path's faults.
async fn pump(
    mut source: tokio::net::tcp::OwnedReadHalf,
    mut sink: tokio::net::tcp::OwnedWriteHalf,
    path: (usize, usize),
    mut state: watch::Receiver<Links>,
    seed: Arc<Mutex<u64>>,
) {
    // Chunks wait in a queue with their release time, so that delay keeps order and does not slow reading.
    let (queue, mut released) = tokio::sync::mpsc::unbounded_channel::<(tokio::time::Instant, Vec<u8>)>();
    let mut writer_state = state.clone();
    let writer = tokio::spawn(async move {
        while let Some((at, chunk)) = released.recv().await {
            tokio::time::sleep_until(at).await;
            // A chunk still held (delayed) when a cut begins is dropped by the network as any other: it
            // goes out, as TCP's retransmission would, only once the path heals.
            if until_open(&mut writer_state, path).await.is_none() || sink.write_all(&chunk).await.is_err() {
                return;
            }
        }
        let _ = sink.shutdown().await;
    });
    let mut buf = vec![0u8; 64 * 1024];
    let mut last_release = tokio::time::Instant::now();
    loop {
        // A cut path is not read from at all until it heals.
        if until_open(&mut state, path).await.is_none() {
            return;
        }
        let n = match source.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        // A read that was already waiting when a cut began returns the data sent across the cut: it
        // waits for the heal too (a kernel would have dropped those packets), and takes the faults in
        // force when it moves on.
        let Some(current) = until_open(&mut state, path).await else {
            return;
        };
        let mut hold = current.delay;
        if !current.jitter.is_zero() {
            hold += current.jitter.mul_f64(random_unit(&seed));
        }
        if current.loss_percent > 0 && random_unit(&seed) * 100.0 < current.loss_percent as f64 {
            hold += RETRANSMISSION_TIMEOUT;
        }
        last_release = last_release.max(tokio::time::Instant::now() + hold);
        if queue.send((last_release, buf[..n].to_vec())).is_err() {
            break;
        }
    }
    drop(queue);
    let _ = writer.await;
}

/// Waits until the path from `path.0` to `path.1` is not cut, and says its faults; `None` once the
/// lab is gone.
async fn until_open(state: &mut watch::Receiver<Links>, path: (usize, usize)) -> Option<PathState> {
    loop {
        let current = state.borrow_and_update().path(path.0, path.1);
        if !current.cut {
            return Some(current);
        }
        state.changed().await.ok()?;
    }
}

fn random_unit(seed: &Mutex<u64>) -> f64 {
    let mut s = seed.lock().unwrap_or_else(|p| p.into_inner());
    let mut rng = faultline_rng::Rng(*s);
    let x = rng.unit();
    *s = rng.0;
    x
}

/// The directed paths a grudge stops: `victim` no longer hears `source`, so data from source to victim stalls.
pub fn cut_paths(grudge: &BTreeMap<usize, BTreeSet<usize>>) -> Vec<(usize, usize)> {
    grudge.iter().flat_map(|(victim, sources)| sources.iter().map(move |source| (*source, *victim))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Accepts one connection at `listener` and reports every chunk it receives.
    fn receiver(listener: TcpListener) -> tokio::sync::mpsc::UnboundedReceiver<Vec<u8>> {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 1024];
            while let Ok(n) = stream.read(&mut buf).await {
                if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                    return;
                }
            }
        });
        rx
    }

    #[tokio::test]
    async fn data_sent_across_a_cut_waits_for_the_heal_even_when_a_read_was_already_waiting() {
        let (l0, l1) =
            (TcpListener::bind("127.0.0.1:0").await.unwrap(), TcpListener::bind("127.0.0.1:0").await.unwrap());
        let nodes = [l0.local_addr().unwrap(), l1.local_addr().unwrap()];
        drop(l0);
        let mut at_node1 = receiver(l1);
        let proxies = Proxies::start(&nodes).await.unwrap();
        // Node 0's connection to node 1; the proxy's read of it is waiting before the cut begins.
        let mut from0 = TcpStream::connect(proxies.addresses[&(0, 1)]).await.unwrap();
        from0.write_all(b"before").await.unwrap();
        assert_eq!(at_node1.recv().await.unwrap(), b"before");
        proxies.update(|links| links.paths.entry((0, 1)).or_default().cut = true);
        from0.write_all(b"across the cut").await.unwrap();
        let crossed = tokio::time::timeout(Duration::from_millis(300), at_node1.recv()).await;
        assert!(crossed.is_err(), "data crossed a cut path: {crossed:?}");
        proxies.set(Links::default());
        let healed = tokio::time::timeout(Duration::from_secs(5), at_node1.recv()).await;
        assert_eq!(healed.expect("nothing arrived after the heal").unwrap(), b"across the cut");
    }
}
