//! Owns the keys reconciliation finds rows by through an index, in both directions: what a
//! transaction's text and counterparty yield (`transaction_keys`, one `transaction_key` row
//! each) and the same keys read from an invoice (`invoice_keys`).

use super::remittance::{near_references, number_key, number_tokens, references_in};

/// At most this many number-like tokens of one text are kept: a remittance text is short, and
/// a longer one (an address, a list) must not flood the index.
const MAX_NUMBER_TOKENS: usize = 24;

/// A counterparty name as names are compared: trimmed and case-folded; `None` when empty.
pub fn name_key(name: &str) -> Option<String> {
    let key = name.trim().to_lowercase();
    (!key.is_empty()).then_some(key)
}

/// At most this many valid references one slip away from a failing one are kept, as keys and
/// by the engine alike (so what is found does not depend on which side arrived first).
pub const MAX_NEAR_REFERENCES: usize = 8;

/// What a transaction is found by: each structured reference in its text and each valid one a
/// typing slip away from a reference in it that fails its check (`r:`), each number-like token
/// without spaces (`n:`), its counterparty's name (`c:`); each once. The slips are keys too, so
/// an invoice upserted after a mistyped payment still finds it and suggests it.
pub fn transaction_keys(text: &str, counterparty_name: Option<&str>) -> Vec<String> {
    let written = references_in(text);
    let slips = near_references(text);
    let slips = slips
        .iter()
        .filter(|r| !written.contains(r))
        .take(MAX_NEAR_REFERENCES);
    let mut keys: Vec<String> = written
        .iter()
        .chain(slips)
        .map(|r| format!("r:{}", r.normalized()))
        .collect();
    keys.extend(
        number_tokens(text)
            .into_iter()
            .filter(|t| !t.chars().any(char::is_whitespace))
            .take(MAX_NUMBER_TOKENS)
            .map(|t| format!("n:{t}")),
    );
    keys.extend(
        counterparty_name
            .and_then(name_key)
            .map(|n| format!("c:{n}")),
    );
    keys
}

/// The keys of the transactions that could pay an invoice with this structured reference,
/// number and counterparty name. A number with a space in it has no key: such an invoice is
/// still found from the transaction's side, when the payment is read after it.
pub fn invoice_keys(reference: Option<&str>, number: &str, name: Option<&str>) -> Vec<String> {
    let mut keys: Vec<String> = reference.map(|r| format!("r:{r}")).into_iter().collect();
    let number = number_key(number);
    if !number.chars().any(char::is_whitespace) {
        keys.push(format!("n:{number}"));
    }
    keys.extend(name.and_then(name_key).map(|n| format!("c:{n}")));
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_invoice_finds_the_transactions_that_name_it() {
        let text = "Factuur INV/2026/0042 +++090/9337/55493+++ dank u";
        let tx = transaction_keys(text, Some("  Peeters BV "));
        for key in invoice_keys(Some("090933755493"), "inv/2026/0042", Some("PEETERS BV")) {
            assert!(tx.contains(&key), "{key} not in {tx:?}");
        }
        // Not a number that is only a prefix of one in the text.
        assert!(!tx.contains(&"n:inv/2026/004".to_owned()));
        // A mistyped reference (two digits swapped) still finds its invoice.
        let slip = transaction_keys("+++090/9373/55493+++", None);
        assert!(slip.contains(&"r:090933755493".to_owned()), "{slip:?}");
    }

    #[test]
    fn keys_are_few_and_once_each() {
        let text = (0..100).map(|i| format!("A{i}-{i} ")).collect::<String>();
        let keys = transaction_keys(&text, None);
        assert_eq!(keys.len(), MAX_NUMBER_TOKENS);
        assert!(transaction_keys("", Some("   ")).is_empty());
    }
}
