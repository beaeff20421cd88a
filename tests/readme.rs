//! The README's samples against what the commands print today: its sample output of `faultline check`,
//! its progress line, and its `faultline test` options table against `faultline test --help`. A change
//! to what faultline prints fails here until the README says it too.

use std::process::Command;

fn readme() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("README.md")
}

fn faultline(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_faultline")).args(args).output().expect("faultline runs")
}

/// The indented block that starts with `    $ COMMAND`, without its prompt line, unindented.
fn sample_output(readme: &str, command: &str) -> Vec<String> {
    let prompt = format!("    $ {command}\n");
    let start = readme.find(&prompt).unwrap_or_else(|| panic!("the README has no sample of `{command}`"));
    readme[start + prompt.len()..].lines().take_while(|l| l.starts_with("    ")).map(|l| l[4..].to_string()).collect()
}

/// Times differ from run to run: "1065.9 ms" reads "N ms".
fn without_times(line: &str) -> String {
    let words: Vec<&str> = line.split(' ').collect();
    let mut out = Vec::with_capacity(words.len());
    for (i, w) in words.iter().enumerate() {
        let is_time = words.get(i + 1).is_some_and(|next| next.starts_with("ms")) && w.parse::<f64>().is_ok();
        out.push(if is_time { "N" } else { w });
    }
    out.join(" ")
}

#[test]
fn the_sample_check_prints_what_the_readme_shows() {
    let readme = readme();
    // The README says how it made stale.jsonl: `faultline synth ... > stale.jsonl`.
    let made = readme.find("(`faultline synth").expect("the README says how stale.jsonl is made");
    let command = &readme[made + 2..];
    let command = &command[..command.find("> stale.jsonl`").expect("synth's output goes to stale.jsonl")];
    let args: Vec<&str> = command.split_whitespace().skip(1).collect();
    let synth = faultline(&args);
    assert_eq!(synth.status.code(), Some(0), "{command}");
    let dir = std::env::temp_dir().join(format!("faultline-readme-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("stale.jsonl"), &synth.stdout).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["check", "stale.jsonl"])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let printed: Vec<String> = String::from_utf8_lossy(&out.stdout).lines().map(without_times).collect();
    let shown: Vec<String> =
        sample_output(&readme, "faultline check stale.jsonl").iter().map(|l| without_times(l)).collect();
    assert_eq!(shown, printed, "the README's sample output of `faultline check stale.jsonl` is not what it prints");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_sample_progress_line_is_the_one_a_run_prints() {
    let readme = readme();
    let line = readme
        .split('`')
        .find(|quoted| quoted.starts_with("faultline test: ") && quoted.contains("ops/s"))
        .expect("the README shows a progress line");
    // Rebuild it from its own figures: the same text is what a run prints for them.
    let figure = |name: &str| -> u64 {
        let at = line.find(&format!("{name} ")).unwrap_or_else(|| panic!("{name} in {line}")) + name.len() + 1;
        line[at..].split(',').next().unwrap().parse().unwrap()
    };
    let seconds: f64 = line["faultline test: ".len()..].split(' ').next().unwrap().parse().unwrap();
    let fault = line.split("fault in force: ").nth(1).expect("the fault in force");
    let printed = faultline_reports::summary::progress_line(
        std::time::Duration::from_secs_f64(seconds),
        (figure("ok"), figure("fail"), figure("info")),
        fault,
    );
    assert_eq!(line, format!("faultline test: {printed}"));
}

#[test]
fn the_options_table_has_every_flag_and_store_mode_of_faultline_test() {
    let readme = readme();
    let section = &readme[readme.find("## `faultline test`").unwrap()..];
    let table: String = section
        .lines()
        .skip_while(|l| !l.starts_with("| option"))
        .take_while(|l| l.starts_with('|'))
        .collect::<Vec<_>>()
        .join("\n");
    let help = String::from_utf8(faultline(&["test", "--help"]).stdout).unwrap();
    let flags: Vec<&str> = help
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("--"))
        .map(|l| l.split([' ', ',', '=']).next().unwrap())
        .filter(|f| *f != "help")
        .collect();
    assert!(flags.len() > 30, "{help}");
    let missing: Vec<&&str> = flags.iter().filter(|f| !table.contains(&format!("`--{f}"))).collect();
    assert!(missing.is_empty(), "faultline test has flags the README's options table lacks: {missing:?}");
    // Every mode the reference cluster has (as an unknown mode's error lists them) is in --store-mode's row.
    let err = String::from_utf8(faultline(&["test", "--store-mode", "nonsense"]).stderr).unwrap();
    let modes = err.split("expected ").nth(1).expect("the modes").lines().next().unwrap();
    let row = table.lines().find(|l| l.starts_with("| `--store-mode`")).expect("a --store-mode row");
    for mode in modes.split([',', ' ']).filter(|m| !m.is_empty() && *m != "or") {
        assert!(row.contains(&format!("`{mode}`")), "--store-mode {mode} is not in the README: {row}");
    }
}
