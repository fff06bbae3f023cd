//! Several instances on one database: the scheduler claims each organization's read once per
//! interval, whichever instance gets there first.

use crate::support::Linked;
use chrono::Duration;
use serde_json::json;

const ORGS: usize = 6;

#[tokio::test(flavor = "multi_thread")]
async fn each_due_read_happens_once_across_two_instances() {
    let l = Linked::start(&[]).await;
    for i in 0..ORGS {
        let ponto_org = l.sb.org(&format!("Org {i} BV")).await;
        let acc = l.sb.account(&ponto_org, json!({})).await;
        let claim = format!("org-{i}");
        let landing = l
            .connect(&l.token(&claim), &ponto_org, &[&acc], true, false)
            .await;
        assert!(landing.ends_with("ponto_status=CONNECTED"), "{landing}");
    }
    let second = l.second_instance().await;
    for i in 0..ORGS {
        l.reads_settled(&format!("org-{i}")).await;
    }
    let account_lists = || async {
        // Each read lists the organization's accounts once (the path inside /ponto-connect).
        l.sb.stats().await["requests"]["GET /accounts"]
            .as_u64()
            .unwrap_or(0)
    };
    let before = account_lists().await;
    assert!(
        before >= ORGS as u64,
        "the positive control: each first import listed its accounts"
    );

    // Three intervals pass; both schedulers poll every 50 ms.
    for round in 1..=3u64 {
        l.clock.advance(Duration::minutes(61));
        for i in 0..ORGS {
            l.reads_settled(&format!("org-{i}")).await;
        }
        // Both instances had time to poll many times over.
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        assert_eq!(
            account_lists().await - before,
            round * ORGS as u64,
            "round {round}: every organization read exactly once per interval"
        );
    }
    drop(second);
}
