//! A synchronization landing in the middle of a read: Ponto books a pending transaction under
//! a new id between our read of its booked list and of its pending list. The read must not
//! retire the pending one as removed (it was missing from both lists it saw); it is superseded
//! by its booked successor, at the latest by the next read.

use crate::support::{Linked, day, wait_until};
use serde_json::json;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread")]
async fn a_pending_transaction_booked_mid_read_is_superseded_never_removed() {
    let l = Linked::start(&["--read-interval-secs", "0"]).await;
    let ponto_org = l.sb.org("Mid Read BV").await;
    let acc = l.sb.account(&ponto_org, json!({})).await;
    let pending =
        l.sb.transactions(
            &acc,
            json!({"amount": "-9.99", "pending": true, "remittanceInformation": "card",
               "valueDate": day(0), "executionDate": day(0)}),
        )
        .await
        .remove(0);
    let token = l.token("acme");
    let landing = l.connect(&token, &ponto_org, &[&acc], true, false).await;
    assert!(landing.ends_with("ponto_status=CONNECTED"), "{landing}");
    wait_until(Duration::from_secs(15), "the pending card", || async {
        l.transactions(&token, true).await == [("card".into(), "-9.99".into(), "PENDING".into())]
    })
    .await;

    // The booked list is computed at once and handed over late; meanwhile the bank books the
    // card and Ponto synchronizes, so whichever list is read after that sees the change.
    l.sb.fault(json!({"status": 200, "delayAfterMs": 1500, "count": 1,
                      "path": format!("{acc}/transactions")}))
        .await;
    let org = l.app.store.ensure_organization("acme").await.unwrap();
    let read = l.app.puller.read(org);
    let bank = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        l.sb.book(&pending, &day(0)).await;
        l.sb.organization_does(&ponto_org, "synchronize").await;
    };
    let (read, ()) = tokio::join!(read, bank);
    read.unwrap();
    let seen = l.transactions(&token, true).await;
    assert!(
        !seen.iter().any(|(_, _, s)| s == "REMOVED"),
        "retired as removed mid-read: {seen:?}"
    );

    l.clock.advance(chrono::Duration::minutes(5));
    l.app.puller.read(org).await.unwrap();
    let seen = l.transactions(&token, true).await;
    assert_eq!(
        seen,
        [
            ("card".into(), "-9.99".into(), "BOOKED".into()),
            ("card".into(), "-9.99".into(), "SUPERSEDED".into()),
        ],
        "{seen:?}"
    );
}
