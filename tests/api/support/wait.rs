//! The one polling loop of the suite: wait until a probe says done, or fail naming what was
//! awaited and, when the probe says, what it saw last.

use std::future::Future;
use std::time::Duration;

/// What a probe answers: `bool` (done or not), `Option<T>` (done with a value) or
/// `Result<T, String>` (done with a value, or not yet with a description of what it saw).
pub trait Probe {
    type Output;
    fn settled(self) -> Result<Self::Output, Option<String>>;
}

impl Probe for bool {
    type Output = ();
    fn settled(self) -> Result<(), Option<String>> {
        self.then_some(()).ok_or(None)
    }
}

impl<T> Probe for Option<T> {
    type Output = T;
    fn settled(self) -> Result<T, Option<String>> {
        self.ok_or(None)
    }
}

impl<T> Probe for Result<T, String> {
    type Output = T;
    fn settled(self) -> Result<T, Option<String>> {
        self.map_err(Some)
    }
}

/// Polls `probe` every 25 ms until it settles; panics with `what` (and the last thing the probe
/// saw) after `timeout`.
pub async fn wait_until<P, F, Fut>(timeout: Duration, what: &str, mut probe: F) -> P::Output
where
    P: Probe,
    F: FnMut() -> Fut,
    Fut: Future<Output = P>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let last = match probe().await.settled() {
            Ok(out) => return out,
            Err(last) => last,
        };
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {timeout:?} waiting for: {what}{}",
            last.map(|l| format!("\n{l}")).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}
