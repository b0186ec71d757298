//! `cargo xtask docs`: the user guide under `docs/` (an mdBook). Checks
//! that every link of the guide and the README resolves (files and heading
//! anchors), that `SUMMARY.md` lists every page, and that every Rust block
//! is either a doctest of the facade crate (which includes each page:
//! `cargo test --doc -p proto2ffi` compiles them) or says where it is
//! checked: `<!-- checked against <file> -->` (each of its lines must be in
//! that file) or `<!-- built by cargo xtask quickstart -->`. Then builds
//! the book into `<target>/book` with mdBook (installed on demand).

use super::markdown::{anchors, fenced_blocks, links};
use super::{root, run, target_dir, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The mdBook the guide is built with (installed without its server and
/// search features: the build alone needs neither).
const MDBOOK: &str = "^0.4";

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
}

fn pages() -> Result<Vec<PathBuf>> {
    let dir = root().join("docs/src");
    let mut pages: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    pages.sort();
    Ok(pages)
}

/// `line` with runs of whitespace collapsed and a trailing `;` or `{`
/// dropped: a signature in prose and in code compare equal.
fn normalized(line: &str) -> String {
    let joined = line.split_whitespace().collect::<Vec<_>>().join(" ");
    joined.trim_end_matches(['{', ';']).trim_end().to_string()
}

/// Every problem with the guide's links and code blocks.
pub fn problems() -> Result<Vec<String>> {
    let mut problems = Vec::new();
    let pages = pages()?;
    let mut all = pages.clone();
    all.push(root().join("README.md"));
    for page in &all {
        let text = read(page)?;
        let name = page
            .strip_prefix(root())
            .unwrap_or(page)
            .display()
            .to_string();
        for link in links(&text) {
            if link.starts_with("http://") || link.starts_with("https://") {
                continue;
            }
            let (path, anchor) = match link.split_once('#') {
                Some((p, a)) => (p, Some(a)),
                None => (link.as_str(), None),
            };
            let target = if path.is_empty() {
                page.clone()
            } else {
                page.parent().unwrap_or(&root()).join(path)
            };
            if !target.exists() {
                problems.push(format!("{name}: link to {link}: no such file"));
                continue;
            }
            if let Some(anchor) = anchor {
                if target.extension().is_some_and(|e| e == "md")
                    && !anchors(&read(&target)?).iter().any(|a| a == anchor)
                {
                    problems.push(format!("{name}: link to {link}: no such heading"));
                }
            }
        }
    }
    let summary = read(&root().join("docs/src/SUMMARY.md"))?;
    let listed = links(&summary);
    for page in &pages {
        let file = page.file_name().unwrap_or_default().to_string_lossy();
        if file != "SUMMARY.md" && !listed.iter().any(|l| *l == file) {
            problems.push(format!("docs/src/{file} is not in SUMMARY.md"));
        }
    }
    let facade = read(&root().join("proto2ffi/src/lib.rs"))?;
    let quickstart = read(&root().join("xtask/src/quickstart.rs"))?;
    for page in &pages {
        let file = page.file_name().unwrap_or_default().to_string_lossy();
        let text = read(page)?;
        for block in fenced_blocks(&text).iter().filter(|b| b.lang() == "rust") {
            let first = block
                .text
                .lines()
                .find(|l| !l.starts_with('#'))
                .unwrap_or("");
            let what = format!("docs/src/{file}: the Rust block `{}`", first.trim());
            if !block.has("ignore") {
                if !facade.contains(&format!("docs/src/{file}")) {
                    problems.push(format!(
                        "{what} is not a doctest: proto2ffi/src/lib.rs does not include the page"
                    ));
                }
                continue;
            }
            let before = block.before.trim();
            if let Some(source) = before
                .strip_prefix("<!-- checked against ")
                .and_then(|r| r.strip_suffix("-->"))
            {
                let source = read(&root().join(source.trim()))?;
                let code: Vec<String> = source.lines().map(normalized).collect();
                for line in block.text.lines().filter(|l| !l.trim().is_empty()) {
                    if !code.iter().any(|c| c.contains(&normalized(line))) {
                        problems.push(format!("{what}: `{}` is not in the code", line.trim()));
                    }
                }
            } else if before == "<!-- built by cargo xtask quickstart -->" {
                if !quickstart.contains(&format!("docs/src/{file}")) {
                    problems.push(format!(
                        "{what}: xtask/src/quickstart.rs does not read the page"
                    ));
                }
            } else {
                problems.push(format!(
                    "{what} is ignored and says nowhere where it is checked"
                ));
            }
        }
    }
    Ok(problems)
}

/// The checks, then the book.
pub fn docs() -> Result {
    let problems = problems()?;
    if !problems.is_empty() {
        return Err(format!("the guide:\n  {}", problems.join("\n  ")));
    }
    eprintln!("docs: links, pages and code blocks check out");
    let mdbook = ensure_mdbook()?;
    let out = target_dir().join("book");
    run(Command::new(mdbook)
        .arg("build")
        .arg(root().join("docs"))
        .arg("--dest-dir")
        .arg(&out))?;
    eprintln!("docs: the guide is at {}", out.join("index.html").display());
    Ok(())
}

/// `mdbook` on `PATH` or in cargo's bin folder, installed when missing.
fn ensure_mdbook() -> Result<PathBuf> {
    let cargo_bin = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .map(|h| h.join("bin/mdbook"));
    let works = |p: &Path| {
        Command::new(p)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if works(Path::new("mdbook")) {
        return Ok(PathBuf::from("mdbook"));
    }
    if let Some(p) = cargo_bin.as_ref().filter(|p| works(p)) {
        return Ok(p.clone());
    }
    run(
        Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())).args([
            "install",
            "mdbook",
            "--locked",
            "--no-default-features",
            "--version",
            MDBOOK,
        ]),
    )?;
    cargo_bin
        .filter(|p| works(p))
        .ok_or_else(|| "mdbook was installed but cannot be found".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_compare_whatever_their_layout() {
        assert_eq!(
            normalized("    fn step(&self,  request: &P) -> Result<(), Status> {"),
            normalized("fn step(&self, request: &P) -> Result<(), Status>;")
        );
    }

    #[test]
    fn the_guide_as_committed_has_no_problems() {
        assert_eq!(problems().unwrap(), Vec::<String>::new());
    }
}
