//! Unit tests of the request limits: depth, complexity, fragments, cycles and introspection.

use super::*;
use async_graphql::parser::parse_query;

fn shape(doc: &str) -> Result<Shape, Refusal> {
    measure(&parse_query(doc).unwrap(), &Variables::default())
}

#[test]
fn a_fragments_aliases_count_at_every_spread() {
    let aliases: Vec<String> = (0..29).map(|i| format!("a{i}: subject")).collect();
    let doc = format!(
        "{{ v1: viewer {{ ...F }} viewer {{ ...F }} x: viewer {{ ...F ...F }} viewer {{ ...F }} }} fragment F on Viewer {{ {} }}",
        aliases.join(" ")
    );
    // Two aliased root fields plus 29 aliases at each of 5 spreads.
    assert_eq!(shape(&doc).unwrap().aliases, 2 + 29 * 5);
}

#[test]
fn a_fragment_bomb_is_measured_without_being_walked() {
    // F0 spreads F1 twice, F1 spreads F2 twice … 2^40 leaves if expanded naively.
    let mut doc = String::from("{ ...F0 }");
    for i in 0..40 {
        doc.push_str(&format!(
            " fragment F{i} on Query {{ ...F{} ...F{} }}",
            i + 1,
            i + 1
        ));
    }
    doc.push_str(" fragment F40 on Query { a: viewer { subject } }");
    let s = shape(&doc).unwrap();
    assert_eq!(s.aliases, 1 << 40);
    assert!(s.selections > 1 << 40);
    assert_eq!(s.depth, 2);
}

#[test]
fn counts_saturate_instead_of_overflowing() {
    // Four spreads per level, 35 levels: 4^35 = 2^70 expansions.
    let mut doc = String::from("{ ...F0 }");
    for i in 0..35 {
        let n = i + 1;
        doc.push_str(&format!(
            " fragment F{i} on Query {{ ...F{n} ...F{n} ...F{n} ...F{n} }}"
        ));
    }
    doc.push_str(" fragment F35 on Query { a: viewer { subject } }");
    let s = shape(&doc).unwrap();
    assert_eq!((s.aliases, s.selections), (usize::MAX, usize::MAX));
}

#[test]
fn fragment_cycles_are_refused() {
    for doc in [
        "{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }",
        "{ viewer { subject } } fragment A on Query { ...A }",
        "{ ...A } fragment A on Query { viewer { ... on Viewer { subject } } ...A }",
    ] {
        assert!(
            matches!(shape(doc), Err(Refusal::FragmentCycle(_))),
            "{doc}"
        );
    }
}

#[test]
fn depth_counts_fields_through_fragments_but_not_typename() {
    let s = shape("{ a { b { ...F __typename } } } fragment F on B { c { d { __typename } } }")
        .unwrap();
    assert_eq!(s.depth, 4);
}

#[test]
fn introspection_counts_toward_neither_depth_nor_plain_complexity() {
    let s = shape(
        "{ viewer { subject } __schema { types { name fields { type { ofType { ofType { ofType { ofType { ofType { ofType { ofType { ofType { name } } } } } } } } } } } } }",
    )
    .unwrap();
    assert_eq!(s.depth, 2, "only viewer.subject");
    // __schema types name fields type ofType×8 name = 14 fields, each 1 in async-graphql's count.
    assert_eq!(s.introspection_complexity, 14);
    assert_eq!(s.introspection_lists, 1);
}

#[test]
fn introspection_fan_out_is_bounded_like_graphql_js() {
    let ok =
        shape("{ __schema { types { fields { type { name } } interfaces { name } } } }").unwrap();
    assert_eq!(ok.introspection_lists, 1);
    let deep = shape(
        "{ __type(name: \"Query\") { fields { type { fields { type { fields { name } } } } } } }",
    )
    .unwrap();
    assert_eq!(deep.introspection_lists, 3);
    let via_fragment = shape(
        "{ __schema { types { ...T } } } fragment T on __Type { fields { type { interfaces { possibleTypes { name } } } } }",
    )
    .unwrap();
    assert_eq!(via_fragment.introspection_lists, 3);
}

#[test]
fn page_sizes_out_of_range_are_refused_literal_or_variable() {
    assert!(matches!(
        shape("{ transactions(first: 101) { edges { cursor } } }"),
        Err(Refusal::BadPageSize(_))
    ));
    assert!(matches!(
        shape("{ ...F } fragment F on Query { invoices(last: -2147483647) { edges { cursor } } }"),
        Err(Refusal::BadPageSize(_))
    ));
    let doc =
        parse_query("query($n: Int) { transactions(first: $n) { edges { cursor } } }").unwrap();
    let vars = Variables::from_json(serde_json::json!({"n": 2147483647}));
    assert!(matches!(measure(&doc, &vars), Err(Refusal::BadPageSize(_))));
    assert!(shape("{ transactions(first: 100) { edges { cursor } } }").is_ok());
}

#[test]
fn a_long_chain_of_fragments_is_refused_without_deep_recursion() {
    // 20,000 fragments each spreading the next: the walk stops at MAX_NESTING.
    let mut doc = String::from("{ ...F0 }");
    for i in 0..20_000 {
        doc.push_str(&format!(" fragment F{i} on Query {{ ...F{} }}", i + 1));
    }
    doc.push_str(" fragment F20000 on Query { viewer { subject } }");
    let doc = parse_query(&doc).unwrap();
    // A small stack, as a worker thread might have: the walk must not need more.
    let refusal = std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(move || measure(&doc, &Variables::default()))
        .unwrap()
        .join()
        .unwrap();
    assert_eq!(refusal, Err(Refusal::TooDeeplyNested));
    // 60 links are fine.
    let mut ok = String::from("{ ...F0 }");
    for i in 0..60 {
        ok.push_str(&format!(" fragment F{i} on Query {{ ...F{} }}", i + 1));
    }
    ok.push_str(" fragment F60 on Query { viewer { subject } }");
    assert!(shape(&ok).is_ok());
}

#[test]
fn nul_characters_are_refused_in_literals_and_variables() {
    assert_eq!(
        shape("{ invoice(externalId: \"a\\u0000b\") { id } }"),
        Err(Refusal::NulCharacter)
    );
    let doc = parse_query("query($i: [InvoiceInput!]!) { viewer { subject } }").unwrap();
    let vars = Variables::from_json(serde_json::json!({"i": [{"number": "x\u{0}y"}]}));
    assert_eq!(measure(&doc, &vars), Err(Refusal::NulCharacter));
    assert!(shape("{ invoice(externalId: \"ab\") { id } }").is_ok());
}

#[test]
fn introspection_selections_are_counted_apart() {
    let s = shape("{ viewer { subject } __schema { types { name kind } } }").unwrap();
    assert_eq!(s.introspection_selections, 4, "__schema types name kind");
}
