//! Remote hosts over SSH: one multiplexed connection per host (the system's OpenSSH through the
//! `openssh` crate: a ControlMaster faultline starts once, every later command a new channel on it, so a
//! fault costs a round trip and never a handshake), host keys checked as `ssh` checks them, and what
//! faultline needs to know of a host before anything starts there (is `nft` usable, is netem there,
//! where libfaketime is, how the host sees faultline's address).
//!
//! Files are uploaded as `cat > FILE` with the local file as the channel's stdin: it needs nothing on the
//! host but a shell (no sftp subsystem, which some hosts disable and recent `scp` needs), and it goes over
//! the same master connection.

use std::net::{IpAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

use openssh::{ControlPersist, KnownHosts, Session, SessionBuilder, Stdio};

/// How long a master connection stays up with no command on it (ssh's `ControlPersist`).
const MASTER_IDLE: std::num::NonZeroUsize = match std::num::NonZeroUsize::new(60) {
    Some(n) => n,
    None => unreachable!(),
};
/// How often a lab runs a no-op on each host, so that a quiet run keeps its masters.
pub const KEEPALIVE: Duration = Duration::from_secs(20);

/// How to reach the hosts: the `[remote]` table of a cluster spec, less the hosts themselves.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SshOptions {
    /// Default: ssh's own (the current user, or the configuration's).
    pub user: Option<String>,
    /// Default: ssh's own (22, or the configuration's).
    pub port: Option<u16>,
    /// Default: ssh's own keys and agent.
    pub identity: Option<PathBuf>,
    /// Default: ssh's own (`~/.ssh/known_hosts`).
    pub known_hosts: Option<PathBuf>,
    /// Accept (and remember) the key of a host not in known_hosts (`StrictHostKeyChecking=accept-new`);
    /// a changed key is refused either way.
    pub accept_new_host_keys: bool,
    /// Run `nft` and `tc` through `sudo -n` (for a user that is not root but may sudo without a password).
    pub sudo: bool,
    pub connect_timeout: Duration,
}

/// What faultline found on a host before anything started there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Facts {
    /// The address this host sees faultline's connection come from (`$SSH_CONNECTION`): what "the clients"
    /// are, for a fault that cuts them off.
    pub control_ip: Option<IpAddr>,
    /// Why `nft` cannot be used here, if it cannot.
    pub nft: Option<String>,
    /// The host has `tc` and the sch_netem module.
    pub netem: bool,
    /// Where libfaketime is on the host, if it is.
    pub faketime: Option<String>,
    /// Why node processes cannot be started here, if they cannot (no `setsid`).
    pub setsid: Option<String>,
}

/// One host: its name as the spec gives it, its address, and the master connection to it.
pub struct Host {
    pub name: String,
    pub ip: IpAddr,
    pub facts: Facts,
    pub sudo: bool,
    /// The port sshd listens on, which faults never cut.
    pub ssh_port: u16,
    session: Session,
    /// Commands run on the host so far: each is one round trip (a channel on the master connection).
    round_trips: std::sync::atomic::AtomicUsize,
}

impl Host {
    /// Connects to `name` (an address or a host name), checks its host key as ssh does, and learns its
    /// [`Facts`]. The error names the host and the cause: unreachable, authentication, host key.
    pub async fn connect(name: &str, options: &SshOptions) -> Result<Host, String> {
        let port = options.port.unwrap_or(22);
        let ip = match name.parse::<IpAddr>() {
            Ok(ip) => ip,
            Err(_) => (name, port)
                .to_socket_addrs()
                .ok()
                .and_then(|mut a| a.next())
                .map(|a| a.ip())
                .ok_or_else(|| format!("host {name}: unreachable: the name does not resolve"))?,
        };
        let control_dir = own_control_dir();
        std::fs::create_dir_all(&control_dir)
            .map_err(|e| format!("cannot create {} for the SSH connections: {e}", control_dir.display()))?;
        let mut builder = SessionBuilder::default();
        builder
            .known_hosts_check(if options.accept_new_host_keys { KnownHosts::Add } else { KnownHosts::Strict })
            .connect_timeout(options.connect_timeout)
            .server_alive_interval(Duration::from_secs(5))
            // A master outlives a faultline killed with SIGKILL only this long: RemoteLab keeps it busy.
            .control_persist(ControlPersist::IdleFor(MASTER_IDLE))
            .control_directory(&control_dir);
        if let Some(user) = &options.user {
            builder.user(user.clone());
        }
        if let Some(port) = options.port {
            builder.port(port);
        }
        if let Some(identity) = &options.identity {
            builder.keyfile(identity);
        }
        if let Some(file) = &options.known_hosts {
            builder.user_known_hosts_file(file);
        }
        let session = builder.connect(name).await.map_err(|e| connect_error(name, &e))?;
        let mut host = Host {
            name: name.to_string(),
            ip,
            facts: Facts { control_ip: None, nft: None, netem: false, faketime: None, setsid: None },
            sudo: options.sudo,
            ssh_port: port,
            session,
            round_trips: Default::default(),
        };
        host.facts = host.learn_facts().await?;
        Ok(host)
    }

    async fn learn_facts(&self) -> Result<Facts, String> {
        let nft = self.privileged("nft");
        // A user's PATH may lack /usr/sbin; sudo's has it.
        let find = |tool: &str| {
            if self.sudo {
                format!("sudo -n sh -c 'command -v {tool}'")
            } else {
                format!("command -v {tool}")
            }
        };
        let (find_nft, find_tc) = (find("nft"), find("tc"));
        let libraries: Vec<String> = crate::clock::LIBRARY_PATHS.iter().map(|p| quote(p)).collect();
        let script = format!(
            "echo \"control ${{SSH_CONNECTION%% *}}\"\n\
             if {find_nft} >/dev/null 2>&1; then\n\
               if err=$({nft} list tables 2>&1 >/dev/null); then echo 'nft ok'; else echo \"nft denied $err\"; fi\n\
             else echo 'nft missing'; fi\n\
             for f in {}; do [ -e \"$f\" ] && echo \"faketime $f\"; done\n\
             if {find_tc} >/dev/null 2>&1 && {{ [ -d /sys/module/sch_netem ] || modprobe -n -q sch_netem 2>/dev/null; }}; then echo 'netem yes'; fi\n\
             command -v setsid >/dev/null 2>&1 && echo 'setsid yes'\n\
             true\n",
            libraries.join(" ")
        );
        let out = self.run(&script).await?;
        let mut facts = Facts {
            control_ip: None,
            nft: Some("`nft` is not installed (Debian: nftables)".into()),
            netem: false,
            faketime: None,
            setsid: Some("`setsid` is not installed (Debian: util-linux)".into()),
        };
        for line in out.lines() {
            let (what, rest) = line.split_once(' ').unwrap_or((line, ""));
            match what {
                "control" => facts.control_ip = rest.trim().parse().ok(),
                "nft" if rest == "ok" => facts.nft = None,
                "nft" if rest.starts_with("denied") => {
                    let why = rest.trim_start_matches("denied").trim();
                    let hint = if self.sudo { "" } else { " (connect as root, or set sudo = true in [remote])" };
                    facts.nft = Some(format!("`nft` cannot change the firewall here: {why}{hint}"));
                }
                "faketime" => facts.faketime = Some(rest.to_string()),
                "netem" => facts.netem = true,
                "setsid" => facts.setsid = None,
                _ => {}
            }
        }
        Ok(facts)
    }

    /// `program`, through `sudo -n` if the spec asks for it.
    pub fn privileged(&self, program: &str) -> String {
        if self.sudo {
            format!("sudo -n {program}")
        } else {
            program.to_string()
        }
    }

    /// Commands run on the host so far, each one round trip: what a fault costs on the host is the
    /// difference across it.
    pub fn round_trips(&self) -> usize {
        self.round_trips.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Runs `sh -c script` on the host with `stdin`, to its end; an error names the host.
    async fn output(&self, script: &str, stdin: Stdio) -> Result<std::process::Output, String> {
        self.round_trips.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.session
            .command("sh")
            .arg("-c")
            .arg(script)
            .stdin(stdin)
            .output()
            .await
            .map_err(|e| format!("host {}: {}", self.name, describe(&e)))
    }

    /// Runs a shell script on the host; its stdout, or an error naming the host with its stderr.
    pub async fn run(&self, script: &str) -> Result<String, String> {
        let out = self.output(script, Stdio::null()).await?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let first = script.lines().next().unwrap_or("").trim();
            Err(format!("host {}: `{first}` failed ({}): {}", self.name, out.status, stderr.trim()))
        }
    }

    /// Runs a script with the local file `input` as its stdin (how files are uploaded).
    pub async fn run_with_input(&self, script: &str, input: &Path) -> Result<String, String> {
        let file =
            std::fs::File::open(input).map_err(|e| format!("cannot read {} to upload it: {e}", input.display()))?;
        let out = self.output(script, Stdio::from(std::os::fd::OwnedFd::from(file))).await?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(format!("host {}: uploading {}: {}", self.name, input.display(), String::from_utf8_lossy(&out.stderr)))
        }
    }

    /// Runs a script to completion without the async runtime, over the same master connection: for
    /// teardown in `Drop`, where nothing can be awaited.
    pub fn run_blocking(&self, script: &str) -> Result<String, String> {
        let out = std::process::Command::new("ssh")
            .arg("-S")
            .arg(self.session.control_socket())
            .args(["-o", "BatchMode=yes", "-T", "-p", "9", "none", "--", "sh", "-c"])
            .arg(quote(script))
            .stdin(std::process::Stdio::null())
            .output()
            .map_err(|e| format!("host {}: cannot run ssh: {e}", self.name))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(format!("host {}: {}", self.name, String::from_utf8_lossy(&out.stderr).trim()))
        }
    }
}

/// Connects to every host at once; the first refusal (in host order) is the error.
pub async fn connect_all(names: &[String], options: &SshOptions) -> Result<Vec<Host>, String> {
    let attempts = futures_util::future::join_all(names.iter().map(|n| Host::connect(n, options))).await;
    attempts.into_iter().collect()
}

/// Where this faultline's master connections keep their sockets and logs: `TMP/faultline-control-PID`
/// (one `.ssh-connection*` folder per host inside), so that what a SIGKILLed faultline leaves here is
/// found by its pid ([`clean_control_dirs`]).
fn own_control_dir() -> PathBuf {
    std::env::temp_dir().join(format!("{CONTROL_PREFIX}{}", std::process::id()))
}

const CONTROL_PREFIX: &str = "faultline-control-";

/// Removes this faultline's control folder once its connections are closed (it is empty then).
pub fn remove_own_control_dir() {
    let _ = std::fs::remove_dir(own_control_dir());
}

/// Removes the control folders of faultline processes that are gone, first closing the master
/// connections still listening there (else each would outlive its folder until idle for a minute);
/// returns what it removed.
pub fn clean_control_dirs() -> Vec<String> {
    let mut removed = Vec::new();
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else { return removed };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        let Some(pid) = name.strip_prefix(CONTROL_PREFIX).and_then(|p| p.parse::<u32>().ok()) else { continue };
        if crate::probe::process_alive(pid) {
            continue;
        }
        // One folder per connection (openssh's `.ssh-connection*`), its socket `master` inside.
        let sockets: Vec<PathBuf> = std::fs::read_dir(entry.path())
            .into_iter()
            .flatten()
            .flatten()
            .map(|c| c.path().join("master"))
            .filter(|m| m.exists())
            .collect();
        let closed = sockets.iter().filter(|m| close_master(m)).count();
        if std::fs::remove_dir_all(entry.path()).is_ok() {
            let what = if closed > 0 { format!(" (closed {closed} master connections)") } else { String::new() };
            removed.push(format!("SSH control folder {}{what}", entry.path().display()));
        }
    }
    removed
}

/// Asks the master connection listening on `socket` to exit (`ssh -O exit`), waiting at most 5 s.
fn close_master(socket: &Path) -> bool {
    let child = std::process::Command::new("ssh")
        .arg("-S")
        .arg(socket)
        .args(["-O", "exit", "faultline-lab-clean"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    let Ok(mut child) = child else { return false };
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return status.success(),
            Ok(None) if std::time::Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return false;
            }
        }
    }
}

/// A word as a POSIX shell reads it literally.
pub fn quote(word: &str) -> String {
    shell_escape::unix::escape(word.into()).into_owned()
}

fn describe(e: &openssh::Error) -> String {
    match std::error::Error::source(e) {
        Some(source) => format!("{e}: {source}"),
        None => e.to_string(),
    }
}

/// Why a connection failed, as the user can act on it.
fn connect_error(host: &str, e: &openssh::Error) -> String {
    let said = std::error::Error::source(e).map_or_else(|| e.to_string(), |s| s.to_string());
    let said = said.trim().replace('\n', " ");
    let cause = if said.contains("Permission denied") || said.contains("Too many authentication failures") {
        "authentication failed".to_string()
    } else if said.contains("Host key verification failed")
        || said.contains("host key")
        || said.contains("HOST IDENTIFICATION HAS CHANGED")
    {
        "its host key is not known (or has changed): add it to known_hosts, or set accept_new_host_keys = true \
         in [remote] for a host you trust"
            .to_string()
    } else if ["Connection refused", "timed out", "No route", "unreachable", "resolve", "Name or service"]
        .iter()
        .any(|s| said.contains(s))
    {
        "unreachable".to_string()
    } else {
        "cannot connect".to_string()
    };
    format!("host {host}: {cause} (ssh: {said})")
}
