//! `--help` is a user's first manual: every command a user runs has examples, and every flag says what it
//! does. Through the real binary.

use std::process::Command;

fn help(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_faultline")).args(args).arg("--help").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{args:?} --help");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn every_command_has_examples_and_every_flag_a_description() {
    let top = help(&[]);
    for command in ["check", "test", "lab", "serve", "node", "synth"] {
        assert!(top.contains(&format!("  {command} ")), "`faultline --help` lists {command}: {top}");
    }
    for command in [&["check"][..], &["test"], &["lab"], &["serve"], &["node"], &["lab", "clean"], &["synth"]] {
        let text = help(command);
        if command != ["synth"] && command != ["lab", "clean"] {
            assert!(text.contains("Example"), "{command:?} --help has no example:\n{text}");
        }
        // Each option's description is on its line (after two spaces) or, in clap's long layout, the next.
        let lines: Vec<&str> = text.lines().take_while(|l| !l.starts_with("Example")).collect();
        for (i, line) in lines.iter().enumerate() {
            let flag = line.trim_start();
            if line.starts_with("  ") && (flag.starts_with("--") || flag.starts_with("-h")) {
                let same_line = flag.split_once("  ").is_some_and(|(_, rest)| !rest.trim().is_empty());
                let next = lines.get(i + 1).map_or("", |l| l.trim());
                let next_line = !next.is_empty() && !next.starts_with('-');
                assert!(same_line || next_line, "{command:?}: {flag} has no description:\n{text}");
            }
        }
    }
}
