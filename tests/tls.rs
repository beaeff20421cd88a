//! `faultline test` against a real etcd serving clients over TLS, with certificates this test makes
//! (rcgen): both HTTP clients record valid histories with `--ca-cert`, and with `--client-cert` and
//! `--client-key` when etcd asks for client certificates; a wrong CA, or a missing client certificate, is
//! an error before the run; a handshake that fails during a run is `fail` (never sent) in both clients.
//! Without etcd installed the test says so and passes; in CI (`CI` set) that fails.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use faultline_workloads::adapter::Outcome;
use faultline_workloads::tls::{Tls, TlsFiles};
use faultline_workloads::transport::{ClientKind, HttpClient, Request};
use rcgen::{BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, KeyPair};

mod common;
use common::{etcd_installed, Etcd};

/// A CA and what it signed, as PEM files in `dir`.
struct Certificates {
    dir: PathBuf,
}

impl Certificates {
    fn make(dir: &Path) -> Certificates {
        std::fs::create_dir_all(dir).unwrap();
        let ca = |name: &str| {
            let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            params.distinguished_name.push(rcgen::DnType::CommonName, name);
            let key = KeyPair::generate().unwrap();
            let cert = params.self_signed(&key).unwrap();
            (cert, key)
        };
        let (ca_cert, ca_key) = ca("faultline test CA");
        let (other_ca, _) = ca("some other CA");
        let write = |name: &str, text: String| std::fs::write(dir.join(name), text).unwrap();
        write("ca.pem", ca_cert.pem());
        write("other-ca.pem", other_ca.pem());
        // etcd's v3 gateway connects to etcd itself with the server's certificate: it needs client use too.
        let signed = |name: &str, sans: &[&str], uses: Vec<ExtendedKeyUsagePurpose>| {
            let mut params = CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
            params.distinguished_name.push(rcgen::DnType::CommonName, name);
            params.extended_key_usages = uses;
            let key = KeyPair::generate().unwrap();
            let cert = params.signed_by(&key, &ca_cert, &ca_key).unwrap();
            write(&format!("{name}.pem"), cert.pem());
            write(&format!("{name}-key.pem"), key.serialize_pem());
        };
        use ExtendedKeyUsagePurpose::{ClientAuth, ServerAuth};
        signed("server", &["127.0.0.1", "localhost"], vec![ServerAuth, ClientAuth]);
        signed("client", &[], vec![ClientAuth]);
        Certificates { dir: dir.to_path_buf() }
    }

    fn file(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }
}

/// A single etcd node serving clients on https://127.0.0.1:PORT; with `client_auth`, only to clients
/// with a certificate from the test's CA. Ready once a TCP connection is accepted (the node elects itself
/// within a second; the runs below wait for their first answer through their readiness check).
fn start_etcd(certs: &Certificates, name: &str, client_auth: bool) -> Etcd {
    let log = std::fs::File::create(certs.dir.join(format!("etcd-{name}.log"))).unwrap();
    let (server, key, ca) = (certs.file("server.pem"), certs.file("server-key.pem"), certs.file("ca.pem"));
    let mut flags = vec!["--cert-file", &server, "--key-file", &key];
    if client_auth {
        flags.extend(["--client-cert-auth", "--trusted-ca-file", &ca]);
    }
    Etcd::start(certs.dir.join(format!("data-{name}")), "https", &flags, log.into())
}

fn faultline(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_faultline")).args(args).output().unwrap()
}

/// `faultline test` of `ops` operations against `etcd` with the TLS flags `tls`; waits (up to 20 s) for
/// the node to have a leader first.
fn run(etcd: &Etcd, store: &Path, client: &str, ops: &str, tls: &[&str]) -> Output {
    let store = store.to_str().unwrap();
    let base = ["test", "--target", &etcd.url, "--adapter", "etcd-v3", "--http-client", client, "--store", store];
    let started = Instant::now();
    loop {
        let out = faultline(&[&base[..], &["--ops", "1", "--no-final-reads"], tls].concat());
        let answered = std::fs::read_to_string(Path::new(store).join("latest/history.jsonl"))
            .is_ok_and(|h| h.contains(r#""type":"ok""#));
        if answered || out.status.code() == Some(3) || started.elapsed() > Duration::from_secs(20) {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    faultline(&[&base[..], &["--ops", ops, "--clients", "4", "--time-limit", "20s"], tls].concat())
}

fn text(out: &Output) -> String {
    format!("{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

#[test]
fn etcd_over_tls_with_and_without_client_certificates() {
    if !etcd_installed() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("faultline-tls-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir); // (left by a test process of the same pid)
    let certs = Certificates::make(&dir);
    let store = dir.join("store");
    let ca = certs.file("ca.pem");
    let mutual =
        ["--ca-cert", &ca, "--client-cert", &certs.file("client.pem"), "--client-key", &certs.file("client-key.pem")];

    // Server certificates only.
    let etcd = start_etcd(&certs, "tls", false);
    for client in ["hyper", "reqwest"] {
        let out = run(&etcd, &store, client, "300", &["--ca-cert", &ca]);
        assert_eq!(out.status.code(), Some(0), "{client}: {}", text(&out));
        assert!(
            text(&out).contains("VALID") && text(&out).contains("300 workload operations"),
            "{client}: {}",
            text(&out)
        );
        let history = std::fs::read_to_string(store.join("latest/history.jsonl")).unwrap();
        assert!(history.contains(r#""f":"write","key""#) && history.contains(r#""type":"ok""#), "{client}");
        assert!(!history.contains(r#""type":"info""#), "{client}: indeterminate operations without faults");
    }
    // A CA that did not sign etcd's certificate, or none (the system's, which did not either): an error
    // before the run, naming the target and the reason.
    for wrong in [&["--ca-cert", &certs.file("other-ca.pem")][..], &[]] {
        let out = run(&etcd, &store, "hyper", "50", wrong);
        assert_eq!(out.status.code(), Some(3), "{wrong:?}: {}", text(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        // A machine without CA certificates at all says so instead.
        if wrong.is_empty() && stderr.contains("no CA certificates in the system's trust store") {
            continue;
        }
        assert!(stderr.contains(&etcd.url) && stderr.contains("TLS handshake failed"), "{wrong:?}: {stderr}");
        assert!(stderr.contains("UnknownIssuer"), "{wrong:?}: {stderr}");
    }
    // During a run (the probe passed, then the certificate stopped being trusted, say), a failed handshake
    // proves the request never left: `fail`, in both clients.
    let wrong = Tls::load(&TlsFiles { ca_cert: Some(certs.dir.join("other-ca.pem")), ..TlsFiles::default() }).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    for kind in [ClientKind::Hyper, ClientKind::Reqwest] {
        let mut http = HttpClient::new(kind, Duration::from_secs(5), Some(&wrong), None);
        let request = Request::new(reqwest::Method::POST, format!("{}/v3/kv/range", etcd.url)).body("{}".into());
        match runtime.block_on(async { http.send(request).await }) {
            Err(Outcome::Fail { error }) => assert!(error.starts_with("not-sent") && error.contains("TLS"), "{error}"),
            other => panic!("{kind:?}: expected a fail, got {other:?}"),
        }
    }
    // TLS files for http:// targets protect nothing: said, not ignored.
    let out =
        faultline(&["test", "--target", "http://127.0.0.1:9", "--ca-cert", &ca, "--store", store.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("are for https:// targets"), "{}", text(&out));
    drop(etcd);

    // Mutual TLS: etcd asks for a client certificate signed by the test's CA.
    let etcd = start_etcd(&certs, "mutual", true);
    for client in ["hyper", "reqwest"] {
        let out = run(&etcd, &store, client, "300", &mutual);
        assert_eq!(out.status.code(), Some(0), "{client}: {}", text(&out));
        assert!(
            text(&out).contains("VALID") && text(&out).contains("300 workload operations"),
            "{client}: {}",
            text(&out)
        );
    }
    let out = run(&etcd, &store, "hyper", "50", &["--ca-cert", &ca]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("the server refused the TLS connection"), "{stderr}");
    drop(etcd);

    // The same etcd as a cluster faultline starts, its clients' TLS from the spec's [tls] (paths beside
    // the spec), the server's certificates in its command.
    let spec = certs.dir.join("etcd-tls.toml");
    std::fs::write(
        &spec,
        format!(
            r#"command = ["etcd", "--name", "{{name}}", "--data-dir", "{{data_dir}}",
  "--listen-client-urls", "{{client_url}}", "--advertise-client-urls", "{{client_url}}",
  "--listen-peer-urls", "{{peer_url}}", "--initial-advertise-peer-urls", "{{peer_url}}",
  "--initial-cluster", "{{initial_cluster}}",
  "--cert-file", "{server}", "--key-file", "{server_key}", "--client-cert-auth", "--trusted-ca-file", "{ca}"]
adapter = "etcd-v3"
client_port = 2379
peer_port = 2380
ready = {{ tcp = "{{listen}}", timeout = "20s" }}
[tls]
ca_cert = "ca.pem"
client_cert = "client.pem"
client_key = "client-key.pem"
"#,
            server = certs.file("server.pem"),
            server_key = certs.file("server-key.pem"),
        ),
    )
    .unwrap();
    let out = faultline(&[
        "test",
        "--cluster",
        spec.to_str().unwrap(),
        "--nodes",
        "1",
        "--lab",
        "none",
        "--nemesis",
        "none",
        "--ops",
        "200",
        "--clients",
        "4",
        "--request-timeout",
        "5s",
        "--store",
        store.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("VALID") && text(&out).contains("200 workload operations"), "{}", text(&out));
    let config = std::fs::read_to_string(store.join("latest/config.json")).unwrap();
    assert!(config.contains("\"https://127.0.0.1:"), "the clients spoke https: {config}");
    let _ = std::fs::remove_dir_all(&dir);
}
