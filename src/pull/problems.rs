//! Owns deciding an account's authorization problem from what Ponto reports: required when the
//! consent has run out or the bank refused it, expiring in the last 14 days before.

use crate::domain::problem::Problem;
use chrono::{DateTime, Duration, Utc};

/// Days before expiry at which `bank_account.reauthorization_expiring` is announced.
pub const EXPIRING_THRESHOLDS: [i64; 3] = [14, 7, 1];

/// The account's authorization problem, if any.
pub fn authorization_problem(
    expires_at: Option<DateTime<Utc>>,
    refused: bool,
    now: DateTime<Utc>,
) -> Option<Problem> {
    if refused || expires_at.is_some_and(|e| e <= now) {
        return Some(Problem::ReauthorizationRequired);
    }
    let first = EXPIRING_THRESHOLDS[0];
    expires_at
        .filter(|e| *e - now <= Duration::days(first))
        .map(|_| Problem::ReauthorizationExpiring)
}

/// The threshold (14, 7 or 1 days) the remaining time falls under, for one announcement each.
pub fn expiring_threshold(expires_at: DateTime<Utc>, now: DateTime<Utc>) -> Option<i64> {
    let left = expires_at - now;
    EXPIRING_THRESHOLDS
        .iter()
        .rev()
        .copied()
        .find(|d| left <= Duration::days(*d))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_by_time_left() {
        let now = Utc::now();
        assert_eq!(
            authorization_problem(Some(now + Duration::days(30)), false, now),
            None
        );
        assert_eq!(
            authorization_problem(Some(now + Duration::days(10)), false, now),
            Some(Problem::ReauthorizationExpiring)
        );
        assert_eq!(
            authorization_problem(Some(now), false, now),
            Some(Problem::ReauthorizationRequired)
        );
        assert_eq!(
            authorization_problem(Some(now + Duration::days(90)), true, now),
            Some(Problem::ReauthorizationRequired)
        );
        assert_eq!(authorization_problem(None, false, now), None);
        assert_eq!(expiring_threshold(now + Duration::days(13), now), Some(14));
        assert_eq!(expiring_threshold(now + Duration::days(6), now), Some(7));
        assert_eq!(expiring_threshold(now + Duration::hours(5), now), Some(1));
        assert_eq!(expiring_threshold(now + Duration::days(20), now), None);
    }
}
