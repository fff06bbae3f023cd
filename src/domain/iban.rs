//! Owns IBAN validation (ISO 13616: country length and mod 97-10) and its normalized form
//! (uppercase, no spaces), used for counterparty matching.

use super::reference::mod97;
use std::fmt;

/// Lengths of IBANs per country (SWIFT IBAN registry).
const LENGTHS: &[(&str, usize)] = &[
    ("AD", 24),
    ("AE", 23),
    ("AL", 28),
    ("AT", 20),
    ("AZ", 28),
    ("BA", 20),
    ("BE", 16),
    ("BG", 22),
    ("BH", 22),
    ("BI", 27),
    ("BR", 29),
    ("BY", 28),
    ("CH", 21),
    ("CR", 22),
    ("CY", 28),
    ("CZ", 24),
    ("DE", 22),
    ("DJ", 27),
    ("DK", 18),
    ("DO", 28),
    ("EE", 20),
    ("EG", 29),
    ("ES", 24),
    ("FI", 18),
    ("FK", 18),
    ("FO", 18),
    ("FR", 27),
    ("GB", 22),
    ("GE", 22),
    ("GI", 23),
    ("GL", 18),
    ("GR", 27),
    ("GT", 28),
    ("HN", 28),
    ("HR", 21),
    ("HU", 28),
    ("IE", 22),
    ("IL", 23),
    ("IQ", 23),
    ("IS", 26),
    ("IT", 27),
    ("JO", 30),
    ("KW", 30),
    ("KZ", 20),
    ("LB", 28),
    ("LC", 32),
    ("LI", 21),
    ("LT", 20),
    ("LU", 20),
    ("LV", 21),
    ("LY", 25),
    ("MC", 27),
    ("MD", 24),
    ("ME", 22),
    ("MK", 19),
    ("MN", 20),
    ("MR", 27),
    ("MT", 31),
    ("MU", 30),
    ("NI", 28),
    ("NL", 18),
    ("NO", 15),
    ("OM", 23),
    ("PK", 24),
    ("PL", 28),
    ("PS", 29),
    ("PT", 25),
    ("QA", 29),
    ("RO", 24),
    ("RS", 22),
    ("RU", 33),
    ("SA", 24),
    ("SC", 31),
    ("SD", 18),
    ("SE", 24),
    ("SI", 19),
    ("SK", 24),
    ("SM", 27),
    ("SO", 23),
    ("ST", 25),
    ("SV", 28),
    ("TL", 23),
    ("TN", 24),
    ("TR", 26),
    ("UA", 29),
    ("VA", 22),
    ("VG", 24),
    ("XK", 20),
    ("YE", 30),
];

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Iban(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IbanError {
    #[error("not an IBAN")]
    Malformed,
    #[error("unknown IBAN country {0}")]
    UnknownCountry(String),
    #[error("an IBAN of {country} has {expected} characters")]
    WrongLength { country: String, expected: usize },
    #[error("the check digits of this IBAN are wrong")]
    BadCheck,
}

impl Iban {
    pub fn parse(input: &str) -> Result<Self, IbanError> {
        let compact: String = input
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .to_ascii_uppercase();
        if compact.len() < 5 || !compact.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(IbanError::Malformed);
        }
        let country = &compact[..2];
        if !country.bytes().all(|b| b.is_ascii_uppercase())
            || !compact[2..4].bytes().all(|b| b.is_ascii_digit())
        {
            return Err(IbanError::Malformed);
        }
        let expected = LENGTHS
            .iter()
            .find(|(c, _)| *c == country)
            .map(|(_, n)| *n)
            .ok_or_else(|| IbanError::UnknownCountry(country.to_owned()))?;
        if compact.len() != expected {
            return Err(IbanError::WrongLength {
                country: country.to_owned(),
                expected,
            });
        }
        let rearranged = format!("{}{}", &compact[4..], &compact[..4]);
        if mod97(&rearranged) != Some(1) {
            return Err(IbanError::BadCheck);
        }
        Ok(Self(compact))
    }

    /// Uppercase, no spaces.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Iban {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn valid_and_invalid() {
        assert_eq!(
            Iban::parse("BE68 5390 0754 7034").unwrap().as_str(),
            "BE68539007547034"
        );
        assert_eq!(
            Iban::parse("be68539007547034").unwrap().as_str(),
            "BE68539007547034"
        );
        assert!(Iban::parse("GB82 WEST 1234 5698 7654 32").is_ok());
        assert!(Iban::parse("NL91ABNA0417164300").is_ok());
        assert_eq!(Iban::parse("BE69539007547034"), Err(IbanError::BadCheck));
        assert!(matches!(
            Iban::parse("BE6853900754703"),
            Err(IbanError::WrongLength { .. })
        ));
        assert!(matches!(
            Iban::parse("ZZ6853900754703"),
            Err(IbanError::UnknownCountry(_))
        ));
        assert_eq!(Iban::parse("BE68-5390"), Err(IbanError::Malformed));
        assert_eq!(Iban::parse(""), Err(IbanError::Malformed));
    }

    proptest! {
        #[test]
        fn belgian_ibans_built_from_any_account_validate(account in 0u64..1_000_000_000_000) {
            let bban = format!("{account:012}");
            let check = 98 - mod97(&format!("{bban}BE00")).unwrap();
            let iban = format!("BE{check:02}{bban}");
            let parsed = Iban::parse(&iban).unwrap();
            prop_assert_eq!(parsed.as_str(), iban.as_str());
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,40}") {
            let _ = Iban::parse(&s);
        }
    }
}
