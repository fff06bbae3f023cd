//! Owns money: an exact amount in integer minor units of an ISO-4217 currency.
//!
//! Decimals exist only at the edges (the GraphQL `Decimal` string, Ponto's JSON number text);
//! more decimals than the currency allows is an input error, never a rounding.

use rust_decimal::Decimal;
use std::fmt;
use std::str::FromStr;

/// ISO-4217 active codes whose minor unit is not 2 digits.
const EXPONENT_0: &[&str] = &[
    "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI", "VND",
    "VUV", "XAF", "XOF", "XPF",
];
const EXPONENT_3: &[&str] = &["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"];
const EXPONENT_4: &[&str] = &["CLF", "UYW"];
/// ISO-4217 active codes with a 2-digit minor unit.
const EXPONENT_2: &[&str] = &[
    "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT",
    "BGN", "BMD", "BND", "BOB", "BOV", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD", "CAD", "CDF",
    "CHE", "CHF", "CHW", "CNY", "COP", "COU", "CRC", "CUP", "CVE", "CZK", "DKK", "DOP", "DZD",
    "EGP", "ERN", "ETB", "EUR", "FJD", "FKP", "GBP", "GEL", "GHS", "GIP", "GMD", "GTQ", "GYD",
    "HKD", "HNL", "HTG", "HUF", "IDR", "ILS", "INR", "IRR", "JMD", "KES", "KGS", "KHR", "KPW",
    "KYD", "KZT", "LAK", "LBP", "LKR", "LRD", "LSL", "MAD", "MDL", "MGA", "MKD", "MMK", "MNT",
    "MOP", "MRU", "MUR", "MVR", "MWK", "MXN", "MXV", "MYR", "MZN", "NAD", "NGN", "NIO", "NOK",
    "NPR", "NZD", "PAB", "PEN", "PGK", "PHP", "PKR", "PLN", "QAR", "RON", "RSD", "RUB", "SAR",
    "SBD", "SCR", "SDG", "SEK", "SGD", "SHP", "SLE", "SOS", "SRD", "SSP", "STN", "SVC", "SYP",
    "SZL", "THB", "TJS", "TMT", "TOP", "TRY", "TTD", "TWD", "TZS", "UAH", "USD", "USN", "UYU",
    "UZS", "VED", "VES", "WST", "XCD", "XCG", "YER", "ZAR", "ZMW", "ZWG",
];

/// Every known code grouped by exponent (used to compare one decimal bound with amounts in
/// minor units of several currencies).
pub fn currencies_by_exponent() -> [(u8, &'static [&'static str]); 4] {
    [
        (0, EXPONENT_0),
        (2, EXPONENT_2),
        (3, EXPONENT_3),
        (4, EXPONENT_4),
    ]
}

/// A validated ISO-4217 currency code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Currency {
    code: [u8; 3],
    exponent: u8,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("unknown currency code {0:?} (expected an ISO-4217 code such as EUR)")]
    UnknownCurrency(String),
    #[error("{currency} allows at most {exponent} decimals")]
    TooManyDecimals { currency: String, exponent: u8 },
    #[error("amount is out of range (at most 999999999999.99)")]
    OutOfRange,
    #[error("{0:?} is not a decimal number")]
    NotANumber(String),
}

impl Currency {
    pub fn parse(code: &str) -> Result<Self, MoneyError> {
        let exponent = [
            (EXPONENT_2, 2),
            (EXPONENT_0, 0),
            (EXPONENT_3, 3),
            (EXPONENT_4, 4),
        ]
        .into_iter()
        .find(|(list, _)| list.contains(&code))
        .map(|(_, e)| e)
        .ok_or_else(|| MoneyError::UnknownCurrency(code.to_owned()))?;
        let b = code.as_bytes();
        Ok(Self {
            code: [b[0], b[1], b[2]],
            exponent,
        })
    }

    pub fn code(&self) -> &str {
        std::str::from_utf8(&self.code).expect("currency codes are ASCII")
    }

    /// Digits after the decimal point (2 for EUR, 0 for JPY, 3 for KWD).
    pub fn exponent(&self) -> u8 {
        self.exponent
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// The largest amount this service accepts from clients (invoice totals, amount filters):
/// 999,999,999,999.99 in any currency's units. At 4 decimals that is under 10^16 minor units,
/// so 900 such amounts (92,000 at 2 decimals) add up without overflowing `i64`.
pub const MAX_AMOUNT: Decimal = Decimal::from_parts(0x107A_3FFF, 0x5AF3, 0, false, 2);

/// An exact amount: integer minor units of a currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Money {
    pub minor: i64,
    pub currency: Currency,
}

impl Money {
    pub fn new(minor: i64, currency: Currency) -> Self {
        Self { minor, currency }
    }

    /// Converts a decimal into minor units, refusing more decimals than the currency allows
    /// (trailing zeros are fine: `10.500` EUR is `10.50`).
    pub fn from_decimal(amount: Decimal, currency: Currency) -> Result<Self, MoneyError> {
        let normalized = amount.normalize();
        if normalized.scale() > u32::from(currency.exponent) {
            return Err(MoneyError::TooManyDecimals {
                currency: currency.code().to_owned(),
                exponent: currency.exponent,
            });
        }
        let factor = Decimal::from(10i64.pow(u32::from(currency.exponent)));
        let minor = normalized
            .checked_mul(factor)
            .ok_or(MoneyError::OutOfRange)?;
        let minor = i64::try_from(minor.trunc()).map_err(|_| MoneyError::OutOfRange)?;
        Ok(Self { minor, currency })
    }

    /// Like [`Money::from_decimal`], for amounts a client sends: also at most [`MAX_AMOUNT`] in
    /// absolute value.
    pub fn from_client_decimal(amount: Decimal, currency: Currency) -> Result<Self, MoneyError> {
        if amount.abs() > MAX_AMOUNT {
            return Err(MoneyError::OutOfRange);
        }
        Self::from_decimal(amount, currency)
    }

    /// Parses an exact decimal text (a GraphQL `Decimal` or a JSON number's text, which may
    /// use an exponent such as `1E+2`).
    pub fn parse(text: &str, currency: Currency) -> Result<Self, MoneyError> {
        Self::from_decimal(parse_decimal(text)?, currency)
    }

    pub fn to_decimal(&self) -> Decimal {
        Decimal::new(self.minor, u32::from(self.currency.exponent))
    }
}

/// Parses decimal text exactly; never goes through a float.
pub fn parse_decimal(text: &str) -> Result<Decimal, MoneyError> {
    let t = text.trim();
    let plain = t.strip_prefix('+').unwrap_or(t);
    Decimal::from_str(plain)
        .or_else(|_| Decimal::from_scientific(plain))
        .map_err(|_| MoneyError::NotANumber(text.to_owned()))
}

impl fmt::Display for Money {
    /// Always with the currency's number of decimals: `1234.50`, `-0.01`, `500`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_decimal())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn eur() -> Currency {
        Currency::parse("EUR").unwrap()
    }

    #[test]
    fn exact_amounts_survive() {
        for (text, minor) in [
            ("0.1", 10),
            ("1234567.89", 123_456_789),
            ("-0.01", -1),
            ("6386.04", 638_604),
            ("-100.0", -10_000),
            ("1E+2", 10_000),
        ] {
            let m = Money::parse(text, eur()).unwrap();
            assert_eq!(m.minor, minor, "{text}");
        }
        assert_eq!(
            Money::parse("1234.5", eur()).unwrap().to_string(),
            "1234.50"
        );
        assert_eq!(Money::parse("-0.01", eur()).unwrap().to_string(), "-0.01");
    }

    #[test]
    fn too_many_decimals_is_an_error_not_a_rounding() {
        assert!(matches!(
            Money::parse("0.001", eur()),
            Err(MoneyError::TooManyDecimals { .. })
        ));
        assert_eq!(Money::parse("10.500", eur()).unwrap().minor, 1050);
        let jpy = Currency::parse("JPY").unwrap();
        assert!(Money::parse("1.5", jpy).is_err());
        assert_eq!(Money::parse("1500", jpy).unwrap().to_string(), "1500");
        let kwd = Currency::parse("KWD").unwrap();
        assert_eq!(Money::parse("1.234", kwd).unwrap().minor, 1234);
    }

    #[test]
    fn unknown_currencies_and_garbage_are_refused() {
        assert!(Currency::parse("eur").is_err());
        assert!(Currency::parse("XYZ").is_err());
        assert!(Currency::parse("").is_err());
        assert!(Money::parse("12,5", eur()).is_err());
        assert!(Money::parse("NaN", eur()).is_err());
        assert!(Money::parse("99999999999999999999999", eur()).is_err());
    }

    #[test]
    fn the_largest_client_amount_is_pinned_and_checked() {
        assert_eq!(MAX_AMOUNT.to_string(), "999999999999.99");
        let clf = Currency::parse("CLF").unwrap();
        let max = Money::from_client_decimal(MAX_AMOUNT, clf).unwrap();
        assert!(max.minor.checked_mul(900).is_some(), "sums cannot overflow");
        for text in [
            "1000000000000",
            "-1000000000000",
            "79228162514264337593543950335",
        ] {
            let d = parse_decimal(text).unwrap();
            assert_eq!(
                Money::from_client_decimal(d, eur()),
                Err(MoneyError::OutOfRange),
                "{text}"
            );
        }
    }

    proptest! {
        /// Whatever text a client sends, parsing and converting answers; it never panics.
        #[test]
        fn any_text_parses_or_is_refused(text in "\\PC{0,40}|[-+]?[0-9]{0,32}(\\.[0-9]{0,32})?([eE][-+]?[0-9]{1,5})?") {
            if let Ok(d) = parse_decimal(&text) {
                for code in ["EUR", "JPY", "KWD", "CLF"] {
                    let _ = Money::from_client_decimal(d, Currency::parse(code).unwrap());
                    let _ = Money::from_decimal(d, Currency::parse(code).unwrap());
                }
            }
        }

        #[test]
        fn minor_units_round_trip_through_text(minor in any::<i64>()) {
            let m = Money::new(minor, eur());
            prop_assert_eq!(Money::parse(&m.to_string(), eur()).unwrap(), m);
        }
    }
}
