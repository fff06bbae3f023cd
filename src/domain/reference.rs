//! Owns structured payment references: the Belgian structured communication (OGM/VCS,
//! `+++090/9337/55493+++`, mod-97) and the ISO 11649 RF creditor reference (`RF18 5390 0754
//! 7034`, mod 97-10): parsing every form people and banks write, validation, and one
//! normalized form for storage and comparison.

use std::fmt;

/// A valid structured reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum StructuredReference {
    /// Belgian OGM/VCS: 12 digits, the last two being the mod-97 check of the first ten.
    Ogm(String),
    /// ISO 11649: `RF`, two check digits, 1–21 alphanumerics (stored uppercase, no spaces).
    Rf(String),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    #[error("not a structured reference (expected +++123/4567/89012+++ or RF…)")]
    Malformed,
    #[error("the check digits of this structured communication are wrong")]
    BadOgmCheck,
    #[error("the check digits of this RF creditor reference are wrong")]
    BadRfCheck,
}

impl StructuredReference {
    /// Parses one reference written in any usual form: `+++090/9337/55493+++`,
    /// `***090/9337/55493***`, `090/9337/55493`, twelve bare digits, `RF18 5390 0754 7034`,
    /// with or without spaces.
    pub fn parse(input: &str) -> Result<Self, ReferenceError> {
        let compact: String = input.chars().filter(|c| !c.is_whitespace()).collect();
        if compact
            .get(..2)
            .is_some_and(|p| p.eq_ignore_ascii_case("RF"))
        {
            return parse_rf(&compact.to_ascii_uppercase());
        }
        parse_ogm(&compact)
    }

    /// The normalized form: 12 digits for OGM, `RF…` uppercase for RF.
    pub fn normalized(&self) -> &str {
        match self {
            Self::Ogm(s) | Self::Rf(s) => s,
        }
    }

    /// Rebuilds from a normalized form (as stored). `None` if it is not one.
    pub fn from_normalized(s: &str) -> Option<Self> {
        match Self::parse(s) {
            Ok(r) if r.normalized() == s => Some(r),
            _ => None,
        }
    }
}

impl fmt::Display for StructuredReference {
    /// The form people read: `+++090/9337/55493+++`, or RF in groups of four.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ogm(d) => write!(f, "+++{}/{}/{}+++", &d[..3], &d[3..7], &d[7..]),
            Self::Rf(s) => {
                let groups: Vec<&str> = s
                    .as_bytes()
                    .chunks(4)
                    .map(|c| std::str::from_utf8(c).expect("ASCII"))
                    .collect();
                f.write_str(&groups.join(" "))
            }
        }
    }
}

fn parse_ogm(compact: &str) -> Result<StructuredReference, ReferenceError> {
    let inner = ["+++", "***"]
        .iter()
        .find_map(|d| compact.strip_prefix(d).and_then(|s| s.strip_suffix(d)))
        .unwrap_or(compact);
    let digits: String = if inner.contains('/') {
        let parts: Vec<&str> = inner.split('/').collect();
        if parts.len() != 3 || parts[0].len() != 3 || parts[1].len() != 4 || parts[2].len() != 5 {
            return Err(ReferenceError::Malformed);
        }
        parts.concat()
    } else {
        inner.to_owned()
    };
    if digits.len() != 12 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ReferenceError::Malformed);
    }
    if !ogm_check_ok(&digits) {
        return Err(ReferenceError::BadOgmCheck);
    }
    Ok(StructuredReference::Ogm(digits))
}

/// First ten digits mod 97 must equal the last two, where remainder 0 is written 97.
fn ogm_check_ok(digits: &str) -> bool {
    let base: u64 = digits[..10].parse().expect("ten digits");
    let check: u64 = digits[10..].parse().expect("two digits");
    let expected = match base % 97 {
        0 => 97,
        r => r,
    };
    check == expected
}

fn parse_rf(upper: &str) -> Result<StructuredReference, ReferenceError> {
    if upper.len() < 5 || !upper.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(ReferenceError::Malformed);
    }
    let body = &upper[4..];
    let check_digits = &upper[2..4];
    if body.is_empty()
        || body.len() > 21
        || !check_digits.bytes().all(|b| b.is_ascii_digit())
        || !body.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        return Err(ReferenceError::Malformed);
    }
    // Move "RFkk" to the end, letters become 10..35, the number mod 97 must be 1.
    let rearranged = format!("{body}{}", &upper[..4]);
    if mod97(&rearranged) != Some(1) {
        return Err(ReferenceError::BadRfCheck);
    }
    Ok(StructuredReference::Rf(upper.to_owned()))
}

/// ISO 7064 mod 97-10 over alphanumerics (A=10 … Z=35), as used by RF and IBAN checks.
pub(crate) fn mod97(s: &str) -> Option<u32> {
    let mut rem: u32 = 0;
    for c in s.chars() {
        let v = c.to_digit(36)?;
        rem = if v < 10 {
            (rem * 10 + v) % 97
        } else {
            (rem * 100 + v) % 97
        };
    }
    Some(rem)
}

impl StructuredReference {
    /// The structured reference a bank transaction carries: the whole remittance when the bank
    /// marks it `structured`, else the first valid one written inside free text
    /// (`+++…+++`, `***…***` or an `RF…` token). Invalid candidates are ignored.
    pub fn from_remittance(text: &str, structured: bool) -> Option<Self> {
        if structured && let Ok(r) = Self::parse(text) {
            return Some(r);
        }
        Self::find_in(text)
    }

    fn find_in(text: &str) -> Option<Self> {
        for delim in ["+++", "***"] {
            let mut rest = text;
            while let Some(start) = rest.find(delim) {
                let after = &rest[start + 3..];
                if let Some(end) = after.find(delim)
                    && let Ok(r) = Self::parse(&after[..end])
                {
                    return Some(r);
                }
                rest = after;
            }
        }
        text.split(|c: char| !c.is_ascii_alphanumeric())
            .filter(|t| t.len() >= 5 && t.get(..2).is_some_and(|p| p.eq_ignore_ascii_case("RF")))
            .find_map(|t| Self::parse(t).ok())
    }
}

/// Check digits for an OGM base of ten digits (used by tests and fixtures).
pub fn ogm_from_base(base: u64) -> StructuredReference {
    let base = base % 10_000_000_000;
    let check = match base % 97 {
        0 => 97,
        r => r,
    };
    StructuredReference::Ogm(format!("{base:010}{check:02}"))
}

/// Builds a valid RF reference around `body` (1–21 alphanumerics).
pub fn rf_from_body(body: &str) -> Option<StructuredReference> {
    let body = body.to_ascii_uppercase();
    if body.is_empty() || body.len() > 21 || !body.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    let check = 98 - mod97(&format!("{body}RF00"))?;
    Some(StructuredReference::Rf(format!("RF{check:02}{body}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn every_written_form_of_an_ogm() {
        for form in [
            "+++090/9337/55493+++",
            "***090/9337/55493***",
            "090/9337/55493",
            "090933755493",
            "+++ 090 / 9337 / 55493 +++",
            " 0909 3375 5493 ",
        ] {
            let r = StructuredReference::parse(form).unwrap_or_else(|e| panic!("{form}: {e}"));
            assert_eq!(r.normalized(), "090933755493");
            assert_eq!(r.to_string(), "+++090/9337/55493+++");
        }
    }

    #[test]
    fn remainder_zero_means_check_97() {
        // 0000000097 % 97 == 0, so its check digits are 97.
        assert!(StructuredReference::parse("000000009797").is_ok());
        assert_eq!(
            StructuredReference::parse("000000009700"),
            Err(ReferenceError::BadOgmCheck)
        );
    }

    #[test]
    fn bad_ogms() {
        assert_eq!(
            StructuredReference::parse("+++090/9337/55494+++"),
            Err(ReferenceError::BadOgmCheck)
        );
        assert_eq!(
            StructuredReference::parse("+++090/9337/5549+++"),
            Err(ReferenceError::Malformed)
        );
        assert_eq!(
            StructuredReference::parse("09093375549a"),
            Err(ReferenceError::Malformed)
        );
        assert_eq!(
            StructuredReference::parse("0909/337/55493"),
            Err(ReferenceError::Malformed)
        );
        assert_eq!(
            StructuredReference::parse(""),
            Err(ReferenceError::Malformed)
        );
        assert_eq!(
            StructuredReference::parse("+++090/9337/55493***"),
            Err(ReferenceError::Malformed)
        );
    }

    #[test]
    fn rf_references() {
        let r = StructuredReference::parse("RF18 5390 0754 7034").unwrap();
        assert_eq!(r.normalized(), "RF18539007547034");
        assert_eq!(r.to_string(), "RF18 5390 0754 7034");
        assert_eq!(StructuredReference::parse("rf18539007547034").unwrap(), r);
        assert_eq!(
            StructuredReference::parse("RF19539007547034"),
            Err(ReferenceError::BadRfCheck)
        );
        assert_eq!(
            StructuredReference::parse("RF18"),
            Err(ReferenceError::Malformed)
        );
        assert_eq!(
            StructuredReference::parse("RF18-5390"),
            Err(ReferenceError::Malformed)
        );
        assert_eq!(rf_from_body("539007547034"), Some(r));
        let short = rf_from_body("A").unwrap();
        assert_eq!(
            StructuredReference::parse(short.normalized()).unwrap(),
            short
        );
    }

    #[test]
    fn references_inside_remittance_text() {
        let ogm = StructuredReference::parse("090933755493").unwrap();
        assert_eq!(
            StructuredReference::from_remittance("Invoice 12 +++090/9337/55493+++ thanks", false),
            Some(ogm.clone())
        );
        assert_eq!(
            StructuredReference::from_remittance("***090/9337/55493***", false),
            Some(ogm.clone())
        );
        assert_eq!(
            StructuredReference::from_remittance("090933755493", true),
            Some(ogm)
        );
        assert_eq!(
            StructuredReference::from_remittance("090933755493", false),
            None,
            "bare digits only when structured"
        );
        assert_eq!(
            StructuredReference::from_remittance("+++090/9337/55494+++", false),
            None,
            "bad check digits"
        );
        let rf = StructuredReference::parse("RF18539007547034").unwrap();
        assert_eq!(
            StructuredReference::from_remittance("pay RF18 5390 0754 7034", false),
            None,
            "spaced RF needs structured"
        );
        assert_eq!(
            StructuredReference::from_remittance("pay RF18539007547034, thx", false),
            Some(rf)
        );
        assert_eq!(
            StructuredReference::from_remittance("RFC 2616 +++ nothing +++", false),
            None
        );
    }

    /// An OGM built here, independently of the code under test: ten digits, then their
    /// remainder modulo 97 (97 when it is 0) in two digits.
    fn independent_ogm(base: u64) -> String {
        let check = match base % 97 {
            0 => 97,
            r => r,
        };
        format!("{base:010}{check:02}")
    }

    /// An RF reference built here, independently (ISO 11649): letters become 10–35, the body is
    /// followed by "RF00", and the check digits are 98 minus the remainder modulo 97.
    fn independent_rf(body: &str) -> String {
        let digits: String = format!("{body}RF00")
            .chars()
            .map(|c| c.to_digit(36).unwrap().to_string())
            .collect();
        let rem = digits
            .bytes()
            .fold(0u64, |r, b| (r * 10 + u64::from(b - b'0')) % 97);
        format!("RF{:02}{body}", 98 - rem)
    }

    #[test]
    fn the_independent_constructions_agree_with_published_examples() {
        assert_eq!(independent_ogm(909337554), "090933755493");
        assert_eq!(
            independent_rf("539007547034"),
            "RF18539007547034",
            "ISO 11649's example"
        );
    }

    proptest! {
        #[test]
        fn any_valid_ogm_parses_in_every_form(base in 0u64..10_000_000_000) {
            let d = independent_ogm(base);
            let r = StructuredReference::parse(&d).unwrap();
            prop_assert_eq!(r.normalized(), d.as_str());
            prop_assert_eq!(&r, &ogm_from_base(base), "the constructor agrees");
            for form in [d.clone(), r.to_string(), format!("***{}/{}/{}***", &d[..3], &d[3..7], &d[7..]),
                         format!("{}/{}/{}", &d[..3], &d[3..7], &d[7..])] {
                prop_assert_eq!(StructuredReference::parse(&form).unwrap(), r.clone());
            }
            prop_assert_eq!(StructuredReference::from_normalized(&d), Some(r));
        }

        #[test]
        fn a_changed_ogm_digit_is_caught(base in 0u64..10_000_000_000, pos in 0usize..12, delta in 1u8..10) {
            let d = independent_ogm(base);
            let mut bytes = d.into_bytes();
            bytes[pos] = b'0' + (bytes[pos] - b'0' + delta) % 10;
            let changed = String::from_utf8(bytes).unwrap();
            prop_assert!(StructuredReference::parse(&changed).is_err());
        }

        #[test]
        fn any_valid_rf_round_trips(body in "[A-Z0-9]{1,21}") {
            let text = independent_rf(&body);
            let r = StructuredReference::parse(&text).unwrap();
            prop_assert_eq!(r.normalized(), text.as_str());
            prop_assert_eq!(&r, &rf_from_body(&body).unwrap(), "the constructor agrees");
            prop_assert_eq!(StructuredReference::parse(&r.to_string()).unwrap(), r.clone());
            prop_assert_eq!(StructuredReference::parse(&r.normalized().to_lowercase()).unwrap(), r);
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,40}") {
            let _ = StructuredReference::parse(&s);
        }
    }
}
