//! Owns keyword ignore rules as values: how a keyword is compared (case-folded, whitespace
//! collapsed) and whether a rule covers a transaction — its keyword inside the counterparty name,
//! the remittance text or the description, and the money going the rule's way.

use super::transaction::Direction;

/// The shortest and longest keyword accepted, in characters.
pub const KEYWORD_CHARS: std::ops::RangeInclusive<usize> = 2..=100;

/// The most rules one organization may keep.
pub const MAX_RULES: usize = 200;

/// What a keyword is compared as: trimmed, inner whitespace collapsed to one space, lower case.
pub fn keyword_key(keyword: &str) -> String {
    keyword
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// How a rule's direction is stored: `ANY` for both ways.
pub fn direction_word(d: Option<Direction>) -> &'static str {
    match d {
        None => "ANY",
        Some(Direction::Incoming) => "INCOMING",
        Some(Direction::Outgoing) => "OUTGOING",
    }
}

/// Reads a stored direction back; `None` for an unknown word.
pub fn parse_direction(word: &str) -> Option<Option<Direction>> {
    [None, Some(Direction::Incoming), Some(Direction::Outgoing)]
        .into_iter()
        .find(|d| direction_word(*d) == word)
}

/// One rule, as the engine applies it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// `keyword_key` of the keyword.
    pub key: String,
    /// Only money going this way; `None` for both.
    pub direction: Option<Direction>,
}

impl Rule {
    /// Whether the rule covers a transaction of this signed amount and these texts.
    pub fn covers(&self, amount_minor: i64, texts: &[Option<&str>]) -> bool {
        let way_ok = match self.direction {
            None => true,
            Some(Direction::Incoming) => amount_minor > 0,
            Some(Direction::Outgoing) => amount_minor < 0,
        };
        way_ok
            && !self.key.is_empty()
            && texts
                .iter()
                .flatten()
                .any(|t| keyword_key(t).contains(&self.key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(k: &str, direction: Option<Direction>) -> Rule {
        Rule {
            key: keyword_key(k),
            direction,
        }
    }

    #[test]
    fn keywords_compare_without_case_or_spacing() {
        assert_eq!(keyword_key("  Bank   FEES\t"), "bank fees");
        let r = rule("bank fees", None);
        assert!(r.covers(-250, &[None, Some("Monthly BANK\n fees  November")]));
        assert!(!r.covers(-250, &[Some("bank fee"), Some("fees bank")]));
        assert!(!r.covers(-250, &[None, None]));
    }

    #[test]
    fn a_direction_limits_the_rule_to_that_way() {
        let r = rule("RSZ", Some(Direction::Outgoing));
        assert!(r.covers(-100, &[Some("RSZ kwartaal 3")]));
        assert!(!r.covers(100, &[Some("RSZ terugbetaling")]));
        let r = rule("refund", Some(Direction::Incoming));
        assert!(r.covers(100, &[Some("Refund order 7")]));
        assert!(!r.covers(-100, &[Some("Refund order 7")]));
    }

    #[test]
    fn directions_read_back_as_written() {
        for d in [None, Some(Direction::Incoming), Some(Direction::Outgoing)] {
            assert_eq!(parse_direction(direction_word(d)), Some(d));
        }
        assert_eq!(parse_direction("any"), None);
    }

    #[test]
    fn an_empty_key_covers_nothing() {
        assert!(!rule("   ", None).covers(-1, &[Some("anything")]));
    }
}
