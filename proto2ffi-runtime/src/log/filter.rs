//! The log filter: which records a library's sink receives.
//!
//! The syntax is `tracing-subscriber`'s `Targets` (and `RUST_LOG`'s without
//! regexes): comma-separated directives, each a level (`info`: the default
//! for every target), `target=level`, or a bare `target` (every level of
//! it). A record's target is matched against the directive targets as a
//! prefix; the longest match decides, then the default level; without
//! either the record is off. Levels are `off`, `error`, `warn`, `info`,
//! `debug`, `trace` (any case) or `0`–`5`.

use tracing::level_filters::LevelFilter;
use tracing::Metadata;

/// A parsed filter (see the module docs).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Filter {
    /// `(target prefix, level)`, longest prefix first.
    targets: Vec<(String, LevelFilter)>,
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
        let mut filter = Filter {
            targets: Vec::new(),
            default: LevelFilter::OFF,
        };
        for directive in text.split(',').map(str::trim).filter(|d| !d.is_empty()) {
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
        filter
            .targets
            .sort_by_key(|(t, _)| std::cmp::Reverse(t.len()));
        Ok(filter)
    }

    /// A later directive for the same target replaces an earlier one.
    fn set(&mut self, target: &str, level: LevelFilter) {
        match self.targets.iter_mut().find(|(t, _)| t == target) {
            Some(entry) => entry.1 = level,
            None => self.targets.push((target.to_string(), level)),
        }
    }

    /// The level that applies to `target`.
    pub(crate) fn level_of(&self, target: &str) -> LevelFilter {
        self.targets
            .iter()
            .find(|(t, _)| target.starts_with(t.as_str()))
            .map_or(self.default, |(_, l)| *l)
    }

    /// Whether a span or event with this metadata passes.
    pub(crate) fn enables(&self, meta: &Metadata<'_>) -> bool {
        self.level_of(meta.target()) >= *meta.level()
    }

    /// The most verbose level any directive lets through.
    pub(crate) fn max_level(&self) -> LevelFilter {
        self.targets
            .iter()
            .map(|(_, l)| *l)
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
    fn max_level_covers_every_directive() {
        let f = Filter::parse("warn,a=trace,b=off").unwrap();
        assert_eq!(f.max_level(), LevelFilter::TRACE);
        assert_eq!(Filter::parse("").unwrap().max_level(), LevelFilter::OFF);
    }
}
