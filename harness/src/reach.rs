//! Whether the targets of a run answer at all, asked before anything is created: a target that cannot
//! even be connected to would only turn every operation sent to it into a failure, and a run against no
//! live node at all would spend its whole time limit recording nothing. One TCP connection per target,
//! all at once, each within a timeout.

use std::time::Duration;

/// A target that did not answer, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unreachable {
    pub name: String,
    pub url: String,
    pub error: String,
}

impl Unreachable {
    /// "n2 (http://127.0.0.1:1): connection refused".
    pub fn describe(&self) -> String {
        format!("{} ({}): {}", self.name, self.url, self.error)
    }
}

/// Connects to every target (name, base URL) at once; returns those that did not answer within `timeout`.
pub async fn probe(targets: &[(String, String)], timeout: Duration) -> Vec<Unreachable> {
    let mut tasks = tokio::task::JoinSet::new();
    for (i, (_, url)) in targets.iter().enumerate() {
        let url = url.clone();
        tasks.spawn(async move { (i, connect(&url, timeout).await) });
    }
    let mut errors: Vec<Option<String>> = vec![None; targets.len()];
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((i, result)) => errors[i] = result.err(),
            // A probe task cannot panic short of a bug in tokio; were it to, its target counts as live.
            Err(e) => eprintln!("faultline test: a reachability probe failed: {e}"),
        }
    }
    targets
        .iter()
        .zip(errors)
        .filter_map(|((name, url), error)| Some(Unreachable { name: name.clone(), url: url.clone(), error: error? }))
        .collect()
}

async fn connect(url: &str, timeout: Duration) -> Result<(), String> {
    let address = address(url)?;
    match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(&address)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no connection within {} ms", timeout.as_millis())),
    }
}

/// `host:port` of a base URL, the scheme's port where it names none.
fn address(url: &str) -> Result<String, String> {
    let (rest, port) = match (url.strip_prefix("http://"), url.strip_prefix("https://")) {
        (Some(rest), _) => (rest, 80),
        (None, Some(rest)) => (rest, 443),
        (None, None) => return Err("expected an http:// or https:// URL".into()),
    };
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    if authority.is_empty() {
        return Err("expected a host (and port) after the scheme".into());
    }
    // A port follows the last colon, unless that colon is inside an IPv6 address's brackets.
    let has_port = authority.rfind(':').is_some_and(|colon| !authority[colon..].contains(']'));
    Ok(if has_port { authority.to_string() } else { format!("{authority}:{port}") })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_take_the_schemes_port_where_the_url_names_none() {
        assert_eq!(address("http://10.0.0.1:2379").unwrap(), "10.0.0.1:2379");
        assert_eq!(address("https://db.example/kv").unwrap(), "db.example:443");
        assert_eq!(address("http://[::1]").unwrap(), "[::1]:80");
        assert_eq!(address("http://[::1]:7000/").unwrap(), "[::1]:7000");
        assert!(address("ftp://x").is_err());
    }

    #[test]
    fn a_closed_port_is_named_with_its_error_and_a_listening_one_is_not() {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let live = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let live = format!("http://{}", live.local_addr().unwrap());
            // Port 1 on loopback: nothing listens there on a test machine, so the connection is refused.
            let targets = vec![("n1".to_string(), live), ("n2".to_string(), "http://127.0.0.1:1".to_string())];
            let dead = probe(&targets, Duration::from_secs(2)).await;
            assert_eq!(dead.len(), 1, "{dead:?}");
            assert_eq!(dead[0].name, "n2");
            assert!(dead[0].describe().starts_with("n2 (http://127.0.0.1:1): "), "{}", dead[0].describe());
            assert!(dead[0].error.to_lowercase().contains("refused"), "{}", dead[0].error);
        });
    }
}
