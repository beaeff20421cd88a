//! Bad input never panics: every importer, given thousands of corrupted histories (bytes flipped,
//! deleted, duplicated and spliced from real ones), either parses them or returns an error naming a line,
//! and a history that parses can be checked without panicking.

use faultline_checker::format::{self, Format};
use faultline_checker::linear::{self, Options};
use faultline_checker::model::{CasFail, ModelKind};
use faultline_checker::synth::{self, Spec};
use faultline_rng::Rng;

const SEEDS: &[&str] = &[
    "INFO  jepsen.util - 3\t:invoke\t:cas\t[1 4]\nINFO  jepsen.util - 3\t:fail\t:cas\t[1 4]\nINFO  jepsen.util - 0\t:invoke\t:read\tnil\nINFO  jepsen.util - 0\t:ok\t:read\t2\nINFO  jepsen.util - 2\t:invoke\t:write\t1\nINFO  jepsen.util - 2\t:info\t:write\t:timed-out\n",
    "{:type :invoke, :f :read, :value [7 nil], :process 0, :time 1}\n{:type :ok, :f :read, :value [7 2], :process 0}\n{:type :invoke, :f :cas, :value [8 [1 \"a\\\"b\"]], :process 1}\n{:type :info, :f :start, :value #{:n1}, :process :nemesis}\n",
    "[{:process 9, :type :invoke, :f :append, :key \"0\", :value \"x 9 0 y\"}\n {:process 9, :type :ok, :f :append, :key \"0\", :value \"x 9 0 y\"} #_ {:ignored 1}\n ; comment\n {:process 4, :type :invoke, :f :get, :key \"0\", :value nil}]\n",
];

fn mutate(rng: &mut Rng, text: &str) -> Vec<u8> {
    let mut bytes = text.as_bytes().to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(bytes.len() as u64 + 1) as usize;
        match rng.below(5) {
            0 if at < bytes.len() => bytes[at] = rng.below(256) as u8,
            1 if at < bytes.len() => {
                bytes.remove(at);
            }
            2 => {
                let alphabet = b"{}[]()\"\\:#;, \n\t-09nilNMe";
                bytes.insert(at, alphabet[rng.below(alphabet.len() as u64) as usize]);
            }
            3 => {
                let end = (at + rng.below(40) as usize).min(bytes.len());
                let piece = bytes[at..end].to_vec();
                let to = rng.below(bytes.len() as u64 + 1) as usize;
                bytes.splice(to..to, piece);
            }
            _ => bytes.truncate(at),
        }
    }
    bytes
}

#[test]
fn corrupted_histories_give_errors_not_panics() {
    let mut rng = Rng(42);
    let mut jsonl = Vec::new();
    synth::write(&mut jsonl, &Spec { ops: 12, keys: 2, clients: 3, info_writes: 0.2, stale_read: true, seed: 1 })
        .unwrap();
    let jsonl = String::from_utf8(jsonl).unwrap();
    let seeds: Vec<&str> = SEEDS.iter().copied().chain([jsonl.as_str()]).collect();
    let (mut parsed, mut rejected) = (0, 0);
    for round in 0..4000 {
        let seed = seeds[round % seeds.len()];
        let bytes = mutate(&mut rng, seed);
        let Ok(text) = String::from_utf8(bytes) else { continue };
        for fmt in [None, Some(Format::Jsonl), Some(Format::Edn), Some(Format::PorcupineLog)] {
            match format::parse("fuzz", &text, fmt) {
                Ok(imported) => {
                    parsed += 1;
                    for kind in [None, Some(ModelKind::CasRegister), Some(ModelKind::Kv)] {
                        let opts = Options::new(imported.model_options(kind, None, CasFail::Observe));
                        // Either a verdict or an error for an operation the model does not have.
                        let _ = linear::check(&imported.history, &opts);
                    }
                }
                Err(e) => {
                    rejected += 1;
                    assert!(e.to_string().starts_with("fuzz"), "error does not name the input: {e}");
                }
            }
        }
    }
    assert!(parsed > 500 && rejected > 500, "mutations too tame or too wild: {parsed} parsed, {rejected} rejected");
}
