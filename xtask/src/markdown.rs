//! Reading the project's Markdown: fenced code blocks, sections, headings'
//! anchors and links (the README's Quickstart and the guide are checked
//! from their own text).

use super::Result;

/// One fenced code block: its info string and its text.
pub struct Block {
    /// What follows the opening fence (`rust`, `rust,ignore`, `dart`).
    pub info: String,
    /// The lines between the fences.
    pub text: String,
    /// The line before the opening fence (a provenance comment, if any).
    pub before: String,
}

impl Block {
    /// The language: the info string up to its first comma.
    pub fn lang(&self) -> &str {
        self.info.split(',').next().unwrap_or("").trim()
    }

    /// Whether the info string carries `attribute` (`ignore`, `no_run`).
    pub fn has(&self, attribute: &str) -> bool {
        self.info.split(',').skip(1).any(|a| a.trim() == attribute)
    }
}

/// Every fenced code block of `text`.
pub fn fenced_blocks(text: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut before = "";
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if let Some(info) = line.strip_prefix("```") {
            let mut body = String::new();
            for l in lines.by_ref() {
                if l.starts_with("```") {
                    break;
                }
                body.push_str(l);
                body.push('\n');
            }
            out.push(Block {
                info: info.trim().to_string(),
                text: body,
                before: before.to_string(),
            });
        }
        before = line;
    }
    out
}

/// The body of the section headed `## {name}` (up to the next `## `).
pub fn section<'a>(text: &'a str, name: &str) -> Result<&'a str> {
    let heading = format!("\n## {name}\n");
    let start = text
        .find(&heading)
        .ok_or_else(|| format!("no `## {name}` section"))?;
    let body = &text[start + heading.len()..];
    Ok(&body[..body.find("\n## ").unwrap_or(body.len())])
}

/// The anchors of a page's headings, as GitHub and mdBook derive them:
/// lower case, punctuation other than `-` and `_` dropped, spaces to `-`.
pub fn anchors(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_code = false;
    for line in text.lines() {
        if line.starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if in_code || !line.starts_with('#') {
            continue;
        }
        let title = line.trim_start_matches('#').trim();
        let anchor: String = title
            .to_lowercase()
            .chars()
            .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
            .map(|c| if c == ' ' { '-' } else { c })
            .collect();
        out.push(anchor);
    }
    out
}

/// The targets of a page's inline links (`[text](target)`), outside code.
pub fn links(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_code = false;
    for line in text.lines() {
        if line.starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if in_code {
            continue;
        }
        let mut rest = line;
        while let Some(i) = rest.find("](") {
            let after = &rest[i + 2..];
            match after.find(')') {
                Some(j) => {
                    out.push(after[..j].to_string());
                    rest = &after[j..];
                }
                None => break,
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchors_follow_the_renderers() {
        let page = "# The C ABI (version 1)\n```sh\n# not a heading\n```\n## `proto2ffi-build`\n### One library, one state\n";
        assert_eq!(
            anchors(page),
            [
                "the-c-abi-version-1",
                "proto2ffi-build",
                "one-library-one-state"
            ]
        );
    }

    #[test]
    fn links_outside_code_and_blocks_with_what_precedes_them() {
        let page = "See [a](x.md#y) and [b](#c).\n<!-- checked against f.rs -->\n```rust,ignore\nfn f() [no](link)\n```\n";
        assert_eq!(links(page), ["x.md#y", "#c"]);
        let blocks = fenced_blocks(page);
        assert_eq!(blocks.len(), 1);
        assert_eq!(blocks[0].lang(), "rust");
        assert!(blocks[0].has("ignore") && !blocks[0].has("no_run"));
        assert_eq!(blocks[0].before, "<!-- checked against f.rs -->");
        assert_eq!(section("x\n## A\none\n## B\ntwo\n", "A").unwrap(), "one");
    }
}
