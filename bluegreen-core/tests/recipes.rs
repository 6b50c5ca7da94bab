//! docs/architecture.md's recipes, checked against the tree (issue 22): the code that names `linear` and
//! `elb-5xx-rate` lives in the files the recipes list and nowhere else. Comments and `#[cfg(test)]` modules
//! are not code here; tests, docs and data files (the `init` template) are the recipes' "then tests and
//! docs".

use std::path::{Path, PathBuf};

/// Every `.rs` file under each crate's `src/`, with its code: lines that are not comments, up to the
/// file's test module.
fn sources() -> Vec<(PathBuf, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut out = Vec::new();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path().join("src")))
        .filter(|p| p.is_dir() && p.parent().is_some_and(|c| c.join("Cargo.toml").is_file()))
        .collect();
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                let lines: Vec<&str> = text.lines().collect();
                let tests = lines
                    .windows(2)
                    .position(|w| w[0] == "#[cfg(test)]" && w[1].starts_with("mod "))
                    .unwrap_or(lines.len());
                let code: Vec<&str> = lines[..tests]
                    .iter()
                    .copied()
                    .filter(|l| !l.trim_start().starts_with("//"))
                    .collect();
                let rel = path.strip_prefix(&root).unwrap().to_path_buf();
                out.push((rel, code.join("\n")));
            }
        }
    }
    out
}

/// The files whose code contains any of `words`, sorted.
fn naming(words: &[&str]) -> Vec<String> {
    let mut files: Vec<String> = sources()
        .into_iter()
        .filter(|(_, code)| words.iter().any(|w| code.contains(w)))
        .map(|(p, _)| p.display().to_string())
        .collect();
    files.sort();
    files
}

#[test]
fn the_linear_strategy_lives_in_the_three_files_of_the_recipe() {
    assert_eq!(
        naming(&["Linear", "linear_step", "\"linear\"", "LINEAR"]),
        [
            "bluegreen-core/src/strategy/mod.rs",
            "bluegreen-core/src/strategy/schedule.rs",
            "bluegreen-core/src/strategy/settings.rs",
        ]
    );
}

#[test]
fn the_load_balancer_gate_lives_in_the_three_sites_of_the_recipe_and_the_simulated_world() {
    assert_eq!(
        naming(&[
            "ElbErrorRate",
            "elb_error_rate",
            "elb-5xx-rate",
            "max_elb_5xx_rate",
            "connection_error",
            "TargetConnectionError",
        ]),
        [
            "bluegreen-core/src/gate/checks/elb_error_rate.rs",
            "bluegreen-core/src/gate/checks/mod.rs",
            "bluegreen-core/src/provider/health.rs",
            "bluegreen-testkit/src/world/traffic.rs",
        ]
    );
}
