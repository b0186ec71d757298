//! The log filter: which records a library's sink receives.
//!
//! The syntax is `tracing-subscriber`'s `Targets` (and `RUST_LOG`'s without
//! regexes): comma-separated directives, each a level (`info`: the default
//! for every target), `target=level`, or a bare `target` (every level of
//! it). A record's target is matched against the directive targets as a
//! prefix; the longest match decides, then the default level; without
//! either the record is off. Levels are `off`, `error`, `warn`, `info`,
//! `debug`, `trace` (any case) or `0`–`5`.
//!
//! A filter holds at most [`MAX_DIRECTIVES`] directives in at most
//! [`MAX_FILTER_BYTES`] bytes (a host passing a megabyte of directives gets
//! `INVALID_ARGUMENT`, not seconds of parsing). Parsing is linear; a lookup
//! (once per event: the library's dispatcher shares callsites with a no-op
//! one, so interest is "sometimes") is one hash probe per distinct
//! directive length, longest first — independent of the directive count.

use std::collections::HashMap;
use tracing::level_filters::LevelFilter;
use tracing::Metadata;

/// The most directives a filter may hold.
pub(crate) const MAX_DIRECTIVES: usize = 256;
/// The longest filter text accepted, in bytes.
pub(crate) const MAX_FILTER_BYTES: usize = 16 * 1024;

/// A parsed filter (see the module docs).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Filter {
    /// Target prefix → level (a later directive for a target wins).
    targets: HashMap<String, LevelFilter>,
    /// The distinct lengths of those prefixes, longest first: a lookup
    /// probes the target's prefix of each length.
    lengths: Vec<usize>,
    /// The level of targets no directive names.
    default: LevelFilter,
}

fn level(text: &str) -> Result<LevelFilter, String> {
    Ok(match text.to_ascii_lowercase().as_str() {
        "off" | "0" => LevelFilter::OFF,
        "error" | "1" => LevelFilter::ERROR,
        "warn" | "2" => LevelFilter::WARN,
        "info" | "3" => LevelFilter::INFO,
        "debug" | "4" => LevelFilter::DEBUG,
        "trace" | "5" => LevelFilter::TRACE,
        _ => {
            return Err(format!(
                "unknown level {text:?} (one of off, error, warn, info, debug, trace, or 0-5)"
            ))
        }
    })
}

fn is_target(text: &str) -> bool {
    !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | ':' | '-' | '.'))
}

impl Filter {
    /// Parses a filter; the error names the directive it could not read.
    pub(crate) fn parse(text: &str) -> Result<Filter, String> {
        if text.len() > MAX_FILTER_BYTES {
            return Err(format!(
                "the filter is {} bytes long; at most {MAX_FILTER_BYTES} are accepted",
                text.len()
            ));
        }
        let mut filter = Filter {
            targets: HashMap::new(),
            lengths: Vec::new(),
            default: LevelFilter::OFF,
        };
        for (n, directive) in text
            .split(',')
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .enumerate()
        {
            if n == MAX_DIRECTIVES {
                return Err(format!(
                    "the filter has more than {MAX_DIRECTIVES} directives"
                ));
            }
            let bad = |why: String| format!("directive {directive:?}: {why}");
            match directive.split_once('=') {
                Some((target, lvl)) => {
                    let target = target.trim();
                    if !is_target(target) {
                        return Err(bad(format!("{target:?} is not a target")));
                    }
                    filter.set(target, level(lvl.trim()).map_err(bad)?);
                }
                None => match level(directive) {
                    Ok(lvl) => filter.default = lvl,
                    Err(_) if is_target(directive) => filter.set(directive, LevelFilter::TRACE),
                    Err(e) => return Err(bad(e)),
                },
            }
        }
        // Longest first: the first prefix that matches is the most specific.
        filter.lengths = filter.targets.keys().map(String::len).collect();
        filter.lengths.sort_unstable_by(|a, b| b.cmp(a));
        filter.lengths.dedup();
        Ok(filter)
    }

    /// A later directive for the same target replaces an earlier one.
    fn set(&mut self, target: &str, level: LevelFilter) {
        self.targets.insert(target.to_string(), level);
    }

    /// The level that applies to `target`.
    pub(crate) fn level_of(&self, target: &str) -> LevelFilter {
        self.lengths
            .iter()
            .filter(|&&len| len <= target.len() && target.is_char_boundary(len))
            .find_map(|&len| self.targets.get(&target[..len]))
            .map_or(self.default, |l| *l)
    }

    /// Whether a span or event with this metadata passes.
    pub(crate) fn enables(&self, meta: &Metadata<'_>) -> bool {
        self.level_of(meta.target()) >= *meta.level()
    }

    /// The most verbose level any directive lets through.
    pub(crate) fn max_level(&self) -> LevelFilter {
        self.targets
            .values()
            .copied()
            .fold(self.default, LevelFilter::max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(filter: &str, target: &str) -> LevelFilter {
        Filter::parse(filter).unwrap().level_of(target)
    }

    #[test]
    fn levels_targets_and_the_longest_prefix() {
        assert_eq!(of("info", "anything"), LevelFilter::INFO);
        assert_eq!(of("", "anything"), LevelFilter::OFF);
        assert_eq!(
            of("warn,my_crate=debug", "my_crate::db"),
            LevelFilter::DEBUG
        );
        assert_eq!(of("warn,my_crate=debug", "other"), LevelFilter::WARN);
        assert_eq!(
            of("my_crate=debug,my_crate::db=error", "my_crate::db::pool"),
            LevelFilter::ERROR
        );
        assert_eq!(
            of("my_crate::db=error,my_crate=debug", "my_crate::api"),
            LevelFilter::DEBUG
        );
        // A bare target: every level; no default: everything else is off.
        assert_eq!(of("my_crate", "my_crate"), LevelFilter::TRACE);
        assert_eq!(of("my_crate", "other"), LevelFilter::OFF);
        // Case, digits, spaces, empty directives, a later directive wins.
        assert_eq!(of(" WARN , , a = 4 ", "a"), LevelFilter::DEBUG);
        assert_eq!(of("a=off", "a"), LevelFilter::OFF);
        assert_eq!(of("a=error,a=trace", "a"), LevelFilter::TRACE);
        assert_eq!(of("info,warn", "x"), LevelFilter::WARN);
    }

    #[test]
    fn bad_directives_are_named() {
        for bad in [
            "info,=nonsense==",
            "a=loud",
            "=info",
            "a b=info",
            "a=info=debug",
        ] {
            let err = Filter::parse(bad).unwrap_err();
            assert!(err.starts_with("directive "), "{bad}: {err}");
        }
        assert!(Filter::parse("a=loud")
            .unwrap_err()
            .contains("unknown level \"loud\""));
    }

    #[test]
    fn size_is_bounded_and_parsing_is_linear() {
        let many: Vec<String> = (0..MAX_DIRECTIVES).map(|i| format!("t{i}=debug")).collect();
        let f = Filter::parse(&many.join(",")).unwrap();
        assert_eq!(f.level_of("t17::x"), LevelFilter::DEBUG);
        assert_eq!(f.level_of("u"), LevelFilter::OFF);
        let too_many = format!("{},x=info", many.join(","));
        assert!(Filter::parse(&too_many)
            .unwrap_err()
            .contains("more than 256 directives"));
        let too_long = "a".repeat(MAX_FILTER_BYTES + 1);
        assert!(Filter::parse(&too_long).unwrap_err().contains("bytes long"));
        // Multibyte targets: a prefix length inside a character is skipped.
        assert_eq!(of("é=warn,éa=debug", "éa::b"), LevelFilter::DEBUG);
        assert_eq!(of("é=warn", "éb"), LevelFilter::WARN);
    }

    #[test]
    fn max_level_covers_every_directive() {
        let f = Filter::parse("warn,a=trace,b=off").unwrap();
        assert_eq!(f.max_level(), LevelFilter::TRACE);
        assert_eq!(Filter::parse("").unwrap().max_level(), LevelFilter::OFF);
    }
}
