//! Owns read-only inspection of the migrated schema (operational checks and tests): which
//! columns exist and with which declared types.

use super::Store;
use crate::error::AppResult;
use sea_orm::{ConnectionTrait, DbBackend, Statement};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnInfo {
    pub table: String,
    pub column: String,
    /// The declared type as the database reports it (`bigint`, `timestamp_with_timezone_text`…).
    pub declared_type: String,
}

impl Store {
    /// Every column of every application table (migration bookkeeping excluded).
    pub async fn schema_columns(&self) -> AppResult<Vec<ColumnInfo>> {
        let backend = self.backend();
        let sql = match backend {
            DbBackend::Postgres => {
                "SELECT table_name::text, column_name::text, data_type::text FROM information_schema.columns \
                 WHERE table_schema = current_schema() AND table_name <> 'seaql_migrations' \
                 ORDER BY table_name, ordinal_position"
            }
            _ => {
                "SELECT m.name, p.name, p.type FROM sqlite_master m JOIN pragma_table_info(m.name) p \
                 WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name <> 'seaql_migrations' \
                 ORDER BY m.name, p.cid"
            }
        };
        let rows = self
            .conn()
            .query_all_raw(Statement::from_string(backend, sql))
            .await?;
        rows.into_iter()
            .map(|r| {
                Ok(ColumnInfo {
                    table: r.try_get_by_index(0)?,
                    column: r.try_get_by_index(1)?,
                    declared_type: r.try_get_by_index(2)?,
                })
            })
            .collect()
    }
}
