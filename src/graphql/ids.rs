//! Owns opaque global ids (`Node.id`): base64url of `<Type>:<uuid>`. Clients treat them as
//! opaque; the type prefix lets `node(id)` route, and decoding checks the expected type.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use uuid::Uuid;

pub fn encode(type_name: &str, id: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(format!("{type_name}:{id}"))
}

/// `(type, uuid)` of a global id, or `None` when it is not one of ours.
pub fn decode(global: &str) -> Option<(String, Uuid)> {
    if global.len() > 128 {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(global).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (ty, id) = text.split_once(':')?;
    Some((ty.to_owned(), Uuid::parse_str(id).ok()?))
}

/// The uuid of a global id of the expected type.
pub fn decode_as(expected: &str, global: &str) -> Option<Uuid> {
    decode(global)
        .filter(|(ty, _)| ty == expected)
        .map(|(_, id)| id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_type_check() {
        let id = Uuid::now_v7();
        let g = encode("Invoice", id);
        assert_eq!(decode(&g), Some(("Invoice".to_owned(), id)));
        assert_eq!(decode_as("Invoice", &g), Some(id));
        assert_eq!(decode_as("BankAccount", &g), None);
        assert_eq!(decode("not-base64!"), None);
        assert_eq!(decode(&URL_SAFE_NO_PAD.encode("Invoice:nope")), None);
    }
}
