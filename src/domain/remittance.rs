//! Owns reading free remittance text for reconciliation: every structured reference written in
//! it (OGM/VCS with `+++`/`***`, slashes, spaces or none; RF grouped or not; several in one
//! text), whether an invoice number stands in it as a whole token, and generating a reference
//! for an invoice that has none (OGM/VCS by default, RF by an organization's choice).

use super::reference::{StructuredReference, ogm_from_base, rf_from_body};

/// Every valid structured reference in `text`, once each, in the order they appear. Invalid
/// candidates (a mod-97 typo, say) are not references: they only ever make a suggestion.
pub fn references_in(text: &str) -> Vec<StructuredReference> {
    let mut found: Vec<(usize, StructuredReference)> = Vec::new();
    let mut add = |at: usize, r: StructuredReference| {
        if !found.iter().any(|(_, f)| *f == r) {
            found.push((at, r));
        }
    };
    let rfs = rf_candidates(text);
    for (at, digits) in digit_runs(text) {
        // Digits inside an RF reference (`RF18 5390 0754 7034`) are its body, not an OGM.
        let inside_rf = rfs.iter().any(|(s, e, _)| (*s..*e).contains(&at));
        if !inside_rf && let Ok(r) = StructuredReference::parse(&digits) {
            add(at, r);
        }
    }
    for (at, _, candidate) in rfs {
        add(at, candidate);
    }
    found.sort_by_key(|(at, _)| *at);
    found.into_iter().map(|(_, r)| r).collect()
}

/// Runs of exactly twelve digits, where digits may be grouped by `/`, spaces, dots or dashes
/// (`090/9337/55493`, `090 9337 55493`, `090933755493`), delimited or not by `+++`/`***`, and
/// bounded by anything that is not a digit or a letter. Two references side by side
/// (`090933755493 000420000094`) are two runs; the digits of an IBAN (`BE68 5390 0754 7034`,
/// whose Belgian check is the same mod 97) are none.
fn digit_runs(text: &str) -> Vec<(usize, String)> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let starts = bytes[i].is_ascii_digit()
            && (i == 0 || !bytes[i - 1].is_ascii_alphanumeric())
            && !after_iban_prefix(bytes, i);
        if !starts {
            i += 1;
            continue;
        }
        let (mut j, mut digits, mut last_digit) = (i, String::new(), i);
        let mut groups: Vec<usize> = vec![0];
        while j < bytes.len() && digits.len() <= 12 {
            let b = bytes[j];
            if b.is_ascii_digit() {
                digits.push(b as char);
                last_digit = j;
                *groups.last_mut().expect("never empty") += 1;
                // Twelve digits written as an OGM is written, then a space: the end of this
                // reference, whatever follows.
                if digits.len() == 12
                    && bytes.get(j + 1) == Some(&b' ')
                    && matches!(groups[..], [12] | [3, 4, 5])
                {
                    break;
                }
            } else if matches!(b, b'/' | b' ' | b'.' | b'-')
                && bytes.get(j + 1).is_some_and(u8::is_ascii_digit)
            {
                groups.push(0);
            } else {
                break;
            }
            j += 1;
        }
        let bounded = bytes
            .get(last_digit + 1)
            .is_none_or(|b| !b.is_ascii_alphanumeric());
        // Only as an OGM is written: whole, or in groups of 3, 4 and 5 (not a phone number's).
        if digits.len() == 12 && bounded && matches!(groups[..], [12] | [3, 4, 5]) {
            out.push((i, digits));
            i = last_digit + 1;
        } else {
            i += 1;
        }
    }
    out
}

/// Whether the digits at `i` follow an IBAN's country code and check digits (`BE68 `).
fn after_iban_prefix(bytes: &[u8], i: usize) -> bool {
    i >= 5
        && bytes[i - 1] == b' '
        && bytes[i - 5..i - 3].iter().all(u8::is_ascii_alphabetic)
        && bytes[i - 3..i - 1].iter().all(u8::is_ascii_digit)
        && (i == 5 || !bytes[i - 6].is_ascii_alphanumeric())
}

/// RF references: `RF` and two check digits at a token start, then a body of up to 21
/// alphanumerics, written whole or in groups of four separated by single spaces (the last group
/// may be shorter; a group shorter than four ends the reference). The longest valid reading
/// wins, so `RF18 5390 0754 7034 paid` is one reference and `RF18 2318 6607 82 j` does not
/// swallow the `j`.
fn rf_candidates(text: &str) -> Vec<(usize, usize, StructuredReference)> {
    let bytes = text.as_bytes();
    let alnum = |k: usize| bytes.get(k).is_some_and(u8::is_ascii_alphanumeric);
    let mut out = Vec::new();
    for i in 0..bytes.len().saturating_sub(3) {
        let at_start = i == 0 || !alnum(i - 1);
        if !at_start || !bytes[i..i + 2].eq_ignore_ascii_case(b"RF") {
            continue;
        }
        // The readings: the first token, then each further group of 1–4 that follows a group
        // of exactly four, with where each reading ends.
        let (mut readings, mut compact, mut j) = (Vec::new(), String::new(), i);
        loop {
            let start = j;
            while alnum(j) {
                j += 1;
            }
            let token = &text[start..j];
            let group = !readings.is_empty();
            if (group && token.len() > 4) || compact.len() + token.len() > 25 {
                break;
            }
            compact.push_str(&token.to_ascii_uppercase());
            readings.push((compact.clone(), j));
            let continues = token.len() == 4 && bytes.get(j) == Some(&b' ') && alnum(j + 1);
            if !continues {
                break;
            }
            j += 1;
        }
        if let Some((r, end)) = readings
            .iter()
            .rev()
            .find_map(|(c, end)| StructuredReference::parse(c).ok().map(|r| (r, *end)))
        {
            out.push((i, end, r));
        }
    }
    out
}

/// Whether `number` stands in `text` as a whole token: bounded by something that is not a
/// letter or digit (or the text's ends), compared without regard to case. Numbers shorter than
/// four characters, or without a digit, are never taken as found.
pub fn mentions_invoice_number(text: &str, number: &str) -> bool {
    let number = number.trim();
    if number.chars().count() < 4 || !number.chars().any(|c| c.is_ascii_digit()) {
        return false;
    }
    let (hay, needle) = (text.to_lowercase(), number.to_lowercase());
    let mut from = 0;
    while let Some(pos) = hay[from..].find(&needle) {
        let start = from + pos;
        let end = start + needle.len();
        let before = hay[..start].chars().next_back();
        let after = hay[end..].chars().next();
        let bounded = |c: Option<char>| c.is_none_or(|c| !c.is_alphanumeric());
        if bounded(before) && bounded(after) {
            return true;
        }
        from = start + needle.chars().next().map_or(1, char::len_utf8);
    }
    false
}

/// Valid references one edit (a changed character, or two neighbours swapped) away from a
/// reference-shaped string in `text` that fails its check: what a typing slip makes of a real
/// reference. Only ever grounds for a suggestion.
pub fn near_references(text: &str) -> Vec<StructuredReference> {
    let mut out: Vec<StructuredReference> = Vec::new();
    let mut consider = |written: &str, alphabet: &[u8], from: usize| {
        if StructuredReference::parse(written).is_ok() {
            return;
        }
        for variant in one_edit_variants(written, alphabet, from) {
            if let Ok(r) = StructuredReference::parse(&variant)
                && !out.contains(&r)
            {
                out.push(r);
            }
        }
    };
    for (_, digits) in digit_runs(text) {
        consider(&digits, b"0123456789", 0);
    }
    // RF-shaped: `RF`, two digits, a body, whole or in groups of four (each reading of the
    // groups is tried, as `rf_candidates` reads them).
    let tokens: Vec<&str> = text.split(' ').collect();
    for (i, first) in tokens.iter().enumerate() {
        let first = first.trim_matches(|c: char| !c.is_ascii_alphanumeric());
        let t = first.to_ascii_uppercase();
        if !(t.len() >= 4
            && t.starts_with("RF")
            && t.as_bytes()[2..4].iter().all(u8::is_ascii_digit))
        {
            continue;
        }
        let mut reading = t;
        let mut last = reading.len();
        for next in tokens[i + 1..].iter().take(6) {
            if reading.len() >= 5 && reading.len() <= 25 {
                consider(&reading, b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", 2);
            }
            let group = next.trim_end_matches(|c: char| !c.is_ascii_alphanumeric());
            if last != 4
                || group.is_empty()
                || group.len() > 4
                || !group.bytes().all(|b| b.is_ascii_alphanumeric())
            {
                break;
            }
            reading.push_str(&group.to_ascii_uppercase());
            last = group.len();
        }
        if reading.len() >= 5 && reading.len() <= 25 {
            consider(&reading, b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", 2);
        }
    }
    out
}

/// `s` with one character from `from` on replaced by another of `alphabet`, or two neighbours
/// swapped.
fn one_edit_variants(s: &str, alphabet: &[u8], from: usize) -> Vec<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    for i in from..bytes.len() {
        for &c in alphabet {
            if c != bytes[i] {
                let mut v = bytes.to_vec();
                v[i] = c;
                out.push(String::from_utf8(v).expect("ASCII"));
            }
        }
        if i + 1 < bytes.len() && bytes[i] != bytes[i + 1] {
            let mut v = bytes.to_vec();
            v.swap(i, i + 1);
            out.push(String::from_utf8(v).expect("ASCII"));
        }
    }
    out
}

/// Every stretch of `text` that could be an invoice number, case-folded: runs of letters and
/// digits joined by single other characters (`2026-0042`, `INV/2026/7`), up to six runs and 40
/// characters, at least four characters with a digit. A superset of what
/// [`mentions_invoice_number`] accepts, for looking numbers up by index.
pub fn number_tokens(text: &str) -> Vec<String> {
    let lower = text.to_lowercase();
    let runs: Vec<(usize, usize)> = {
        let mut runs = Vec::new();
        let mut start = None;
        for (i, c) in lower.char_indices() {
            match (c.is_alphanumeric(), start) {
                (true, None) => start = Some(i),
                (false, Some(s)) => {
                    runs.push((s, i));
                    start = None;
                }
                _ => {}
            }
        }
        if let Some(s) = start {
            runs.push((s, lower.len()));
        }
        runs
    };
    let mut out: Vec<String> = Vec::new();
    for i in 0..runs.len() {
        for j in i..runs.len().min(i + 6) {
            // Runs joined by exactly one character each.
            if j > i && lower[runs[j - 1].1..runs[j].0].chars().count() != 1 {
                break;
            }
            let span = &lower[runs[i].0..runs[j].1];
            if span.chars().count() > 40 {
                break;
            }
            if span.chars().count() >= 4
                && span.chars().any(|c| c.is_ascii_digit())
                && !out.iter().any(|o| o == span)
            {
                out.push(span.to_owned());
            }
        }
    }
    out
}

/// The case-folded form invoice numbers are looked up by.
pub fn number_key(number: &str) -> String {
    number.trim().to_lowercase()
}

super::status::string_enum!(
    /// The reference style an organization generates for invoices that have none.
    #[derive(Default)]
    ReferenceStyle {
        /// Belgian structured communication, `+++ddd/dddd/ddddd+++`: what Belgian banks and
        /// customers expect.
        #[default]
        Ogm => "OGM",
        /// ISO 11649 creditor reference, `RFkk…`: understood across SEPA.
        Rf => "RF",
    }
);

/// A reference for an invoice from `seed` (any number; the caller picks another one when the
/// result is already taken in the organization): ten digits of it for OGM/VCS, its decimal
/// digits for RF.
pub fn generate_reference(style: ReferenceStyle, seed: u64) -> StructuredReference {
    match style {
        ReferenceStyle::Ogm => ogm_from_base(seed % 10_000_000_000),
        ReferenceStyle::Rf => rf_from_body(&format!("{:010}", seed % 10_000_000_000))
            .expect("ten digits are a valid RF body"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn normalized(text: &str) -> Vec<String> {
        references_in(text)
            .iter()
            .map(|r| r.normalized().to_owned())
            .collect()
    }

    #[test]
    fn every_written_form_of_an_ogm_inside_text() {
        for text in [
            "Betaling +++090/9337/55493+++ dank u",
            "***090/9337/55493*** facture",
            "mededeling 090/9337/55493",
            "ref 090 9337 55493 merci",
            "090.9337.55493",
            "090-9337-55493",
            "090933755493",
            "invoice (090933755493).",
        ] {
            assert_eq!(normalized(text), ["090933755493"], "{text}");
        }
    }

    #[test]
    fn several_references_in_one_text_once_each_in_order() {
        let text = "paid RF18 5390 0754 7034 and +++090/9337/55493+++, again RF18539007547034";
        assert_eq!(normalized(text), ["RF18539007547034", "090933755493"]);
        // Bare, side by side: two references, not one long run of digits.
        assert_eq!(
            normalized("090933755493 000420000094"),
            ["090933755493", "000420000094"]
        );
        assert_eq!(
            normalized("090 9337 55493 000420000094"),
            ["090933755493", "000420000094"]
        );
        // Other groupings are not an OGM, whatever their check says.
        assert!(normalized("0909 3375 5493 0004").is_empty());
        assert!(normalized("tel 0909 337 554 93").is_empty());
        // An IBAN's digits pass the same mod-97 check, but are an account, not a reference.
        assert!(normalized("from BE68 5390 0754 7034, thanks").is_empty());
    }

    #[test]
    fn not_references() {
        for text in [
            "+++090/9337/55494+++", // a mod-97 typo
            "BE68539007547034",     // an IBAN's digits are not a run of twelve
            "0909337554931",        // thirteen digits
            "A090933755493",        // glued to a letter
            "RF18 5390 0754 7035",  // bad RF check
            "order 12345",
        ] {
            assert_eq!(normalized(text), Vec::<String>::new(), "{text}");
        }
    }

    #[test]
    fn rf_grouped_or_whole_with_text_around() {
        for text in [
            "RF18 5390 0754 7034",
            "Ref: rf18539007547034.",
            "betaling RF18 5390 0754 7034 factuur 12",
            "RF18 5390 0754 7034, thanks",
        ] {
            assert_eq!(normalized(text), ["RF18539007547034"], "{text}");
        }
    }

    #[test]
    fn invoice_numbers_as_whole_tokens() {
        assert!(mentions_invoice_number(
            "Factuur 2026-0042 dank",
            "2026-0042"
        ));
        assert!(mentions_invoice_number("Facture n°2026/0042.", "2026/0042"));
        assert!(mentions_invoice_number("invoice #INV-2026-7", "inv-2026-7"));
        // A number that is a prefix of another is not found inside it.
        assert!(!mentions_invoice_number("Factuur 2026-00421", "2026-0042"));
        assert!(!mentions_invoice_number("X2026-0042", "2026-0042"));
        // Too short, or without a digit: never a match.
        assert!(!mentions_invoice_number("paid 123", "123"));
        assert!(!mentions_invoice_number("paid ABCDE", "ABCDE"));
    }

    #[test]
    fn near_references_are_one_slip_away() {
        let near = |t: &str| -> Vec<String> {
            near_references(t)
                .iter()
                .map(|r| r.normalized().to_owned())
                .collect()
        };
        // A changed digit and a swapped pair of +++090/9337/55493+++ both lead back to it.
        assert!(near("+++090/9337/55483+++").contains(&"090933755493".to_owned()));
        assert!(near("+++090/9373/55493+++").contains(&"090933755493".to_owned()));
        assert!(near("RF18 5390 0754 7043").contains(&"RF18539007547034".to_owned()));
        // A valid reference is not a slip.
        assert!(near("+++090/9337/55493+++").is_empty());
    }

    #[test]
    fn number_tokens_cover_every_mention() {
        let text = "Factuur INV/2026/0042 en 2026-0043, merci";
        let tokens = number_tokens(text);
        for n in ["inv/2026/0042", "2026/0042", "2026-0043"] {
            assert!(tokens.contains(&n.to_owned()), "{n} in {tokens:?}");
            assert!(mentions_invoice_number(text, n));
        }
        assert!(!tokens.iter().any(|t| t == "en"));
    }

    #[test]
    fn generated_references_are_valid_in_both_styles() {
        let ogm = generate_reference(ReferenceStyle::Ogm, 123_456_789);
        assert_eq!(ogm.normalized(), "012345678939");
        assert!(StructuredReference::parse(&ogm.to_string()).is_ok());
        let rf = generate_reference(ReferenceStyle::Rf, 42);
        assert!(rf.normalized().starts_with("RF"));
        assert_eq!(StructuredReference::parse(rf.normalized()), Ok(rf));
    }

    #[test]
    fn a_short_last_group_ends_an_rf_reference() {
        // Read on into "j", this would be RF182318660782J, itself a valid RF reference.
        assert_eq!(normalized("RF18 2318 6607 82 j,"), ["RF182318660782"]);
    }

    proptest! {
        #[test]
        fn a_generated_reference_is_found_in_any_text_around_it(
            seed in any::<u64>(),
            rf in any::<bool>(),
            before in "[a-z ]{0,20}",
            after in "[a-z ,.]{0,20}",
            form in 0usize..3,
        ) {
            let style = if rf { ReferenceStyle::Rf } else { ReferenceStyle::Ogm };
            let r = generate_reference(style, seed);
            let written = match form {
                0 => r.to_string(),
                1 => r.normalized().to_owned(),
                _ => r.to_string().to_lowercase(),
            };
            let text = format!("{before} {written} {after}");
            prop_assert_eq!(references_in(&text), vec![r]);
        }

        #[test]
        fn reading_never_panics(text in "\\PC{0,60}", number in "\\PC{0,12}") {
            let _ = references_in(&text);
            let _ = near_references(&text);
            let _ = mentions_invoice_number(&text, &number);
        }

        /// Whatever the text, every number it mentions is among its tokens.
        #[test]
        fn a_mentioned_number_is_a_token(
            before in "[a-zA-Z ,.]{0,15}",
            number in "[A-Za-z]{0,3}[0-9]{1,4}([-/][0-9]{1,4}){0,2}",
            after in "[a-zA-Z ,.]{0,15}",
        ) {
            let text = format!("{before} {number} {after}");
            if mentions_invoice_number(&text, &number) {
                prop_assert!(number_tokens(&text).contains(&number_key(&number)));
            }
        }
    }
}
