//! Owns keyset pagination: opaque cursors over a `(date, id)` sort key, newest first, and the
//! page arithmetic of Relay connections (`first`/`after`, `last`/`before`).
//!
//! Keyset (not offset) paging keeps every page a single indexed range scan and returns each row
//! exactly once while rows are added.

use crate::error::{AppError, AppResult};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::NaiveDate;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Select};
use uuid::Uuid;

/// Largest page a client may ask for.
pub const MAX_PAGE: u64 = 100;
/// Page size when neither `first` nor `last` is given.
pub const DEFAULT_PAGE: u64 = 20;

/// Position of a row in a listing: its sort date (if the listing has one) and its id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub date: Option<NaiveDate>,
    pub id: Uuid,
}

impl Cursor {
    pub fn encode(&self) -> String {
        let date = self.date.map(|d| d.to_string()).unwrap_or_default();
        URL_SAFE_NO_PAD.encode(format!("{date}|{}", self.id))
    }

    pub fn decode(s: &str) -> AppResult<Cursor> {
        let bad = || AppError::bad_input("invalid cursor");
        if s.len() > 128 {
            return Err(bad());
        }
        let text =
            String::from_utf8(URL_SAFE_NO_PAD.decode(s).map_err(|_| bad())?).map_err(|_| bad())?;
        let (date, id) = text.split_once('|').ok_or_else(bad)?;
        let date = if date.is_empty() {
            None
        } else {
            Some(date.parse().map_err(|_| bad())?)
        };
        Ok(Cursor {
            date,
            id: Uuid::parse_str(id).map_err(|_| bad())?,
        })
    }
}

/// Validated page arguments.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageArgs {
    pub first: Option<u64>,
    pub after: Option<Cursor>,
    pub last: Option<u64>,
    pub before: Option<Cursor>,
}

impl PageArgs {
    /// Checks Relay arguments: sizes between 0 and [`MAX_PAGE`], not `first` and `last`
    /// together, cursors that decode.
    pub fn parse(
        first: Option<i32>,
        after: Option<&str>,
        last: Option<i32>,
        before: Option<&str>,
    ) -> AppResult<Self> {
        let size = |n: Option<i32>, name: &str| -> AppResult<Option<u64>> {
            match n {
                None => Ok(None),
                Some(n) if (0..=MAX_PAGE as i32).contains(&n) => Ok(Some(n as u64)),
                Some(_) => Err(AppError::BadUserInput {
                    message: format!("`{name}` must be between 0 and {MAX_PAGE}"),
                    field: Some(vec![name.to_owned()]),
                }),
            }
        };
        let (first, last) = (size(first, "first")?, size(last, "last")?);
        if first.is_some() && last.is_some() {
            return Err(AppError::bad_input(
                "pass either `first` or `last`, not both",
            ));
        }
        Ok(Self {
            first,
            after: after.map(Cursor::decode).transpose()?,
            last,
            before: before.map(Cursor::decode).transpose()?,
        })
    }

    fn backward(&self) -> bool {
        self.last.is_some()
    }

    fn size(&self) -> u64 {
        self.first.or(self.last).unwrap_or(DEFAULT_PAGE)
    }
}

/// One page of rows, in listing order (newest first).
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub has_next_page: bool,
    pub has_previous_page: bool,
}

impl<T> Page<T> {
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            has_next_page: self.has_next_page,
            has_previous_page: self.has_previous_page,
        }
    }

    /// [`Page::map`] with a conversion that can fail (a row read back into its record).
    pub fn try_map<U, E>(self, f: impl FnMut(T) -> Result<U, E>) -> Result<Page<U>, E> {
        Ok(Page {
            items: self.items.into_iter().map(f).collect::<Result<_, _>>()?,
            has_next_page: self.has_next_page,
            has_previous_page: self.has_previous_page,
        })
    }
}

/// Rows strictly before (`older = true`) or after a cursor in newest-first order, written as a
/// row-value comparison `(date, id) < (d, i)` so both databases seek the `(…, date, id)` index
/// instead of scanning from the newest row (deep pages cost the same as the first).
fn beyond<C: ColumnTrait>(date: Option<C>, id: C, c: &Cursor, older: bool) -> Condition {
    let (lhs, rhs) = match (date, c.date) {
        (Some(col), Some(d)) => (
            Expr::tuple([col.into_expr(), id.into_expr()]),
            Expr::tuple([Expr::val(d), Expr::val(c.id)]),
        ),
        _ => (id.into_expr(), Expr::val(c.id)),
    };
    Condition::all().add(if older { lhs.lt(rhs) } else { lhs.gt(rhs) })
}

/// Runs `select` as one page ordered by `(date desc, id desc)`.
pub(crate) async fn fetch<E, C>(
    db: &C,
    select: Select<E>,
    date: Option<E::Column>,
    id: E::Column,
    args: &PageArgs,
) -> AppResult<Page<E::Model>>
where
    E: EntityTrait,
    C: sea_orm::ConnectionTrait,
{
    let size = args.size();
    let mut q = select;
    if let Some(after) = &args.after {
        q = q.filter(beyond(date, id, after, true));
    }
    if let Some(before) = &args.before {
        q = q.filter(beyond(date, id, before, false));
    }
    let backward = args.backward();
    let order = if backward {
        sea_orm::Order::Asc
    } else {
        sea_orm::Order::Desc
    };
    if let Some(col) = date {
        q = q.order_by(col, order.clone());
    }
    q = q.order_by(id, order).limit(size + 1);
    let mut rows = q.all(db).await?;
    let more = rows.len() as u64 > size;
    rows.truncate(size as usize);
    if backward {
        rows.reverse();
        Ok(Page {
            items: rows,
            has_next_page: args.before.is_some(),
            has_previous_page: more,
        })
    } else {
        Ok(Page {
            items: rows,
            has_next_page: more,
            has_previous_page: args.after.is_some(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let c = Cursor {
            date: NaiveDate::from_ymd_opt(2026, 11, 25),
            id: Uuid::now_v7(),
        };
        assert_eq!(Cursor::decode(&c.encode()).unwrap(), c);
        let c = Cursor {
            date: None,
            id: Uuid::now_v7(),
        };
        assert_eq!(Cursor::decode(&c.encode()).unwrap(), c);
        assert!(Cursor::decode("!!").is_err());
        assert!(Cursor::decode(&URL_SAFE_NO_PAD.encode("2026-13-01|x")).is_err());
    }

    #[test]
    fn page_arguments() {
        assert!(PageArgs::parse(Some(101), None, None, None).is_err());
        assert!(PageArgs::parse(Some(-1), None, None, None).is_err());
        assert!(PageArgs::parse(None, None, Some(101), None).is_err());
        assert!(PageArgs::parse(Some(10), None, Some(10), None).is_err());
        assert_eq!(
            PageArgs::parse(None, None, None, None).unwrap().size(),
            DEFAULT_PAGE
        );
        assert_eq!(
            PageArgs::parse(Some(100), None, None, None).unwrap().size(),
            100
        );
    }
}
