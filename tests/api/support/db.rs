//! A database per test: a SQLite file in a temp dir, or, when `TEST_DATABASE_URL` is set, a
//! PostgreSQL database cloned from a template migrated once per test process, dropped with the
//! last holder.

use sea_orm::{ConnectionTrait, Database};
use tokio::sync::OnceCell;

/// A database for one test, dropped with it.
pub struct TestDb {
    pub url: String,
    pg_name: Option<(String, String)>, // (admin url, database name)
    _dir: Option<tempfile::TempDir>,
}

pub fn pg_admin_url() -> Option<String> {
    std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|s| !s.is_empty())
}

fn pg_url_for(admin: &str, name: &str) -> String {
    let mut url = url::Url::parse(admin).expect("TEST_DATABASE_URL is a URL");
    url.set_path(&format!("/{name}"));
    url.to_string()
}

async fn pg_exec(admin: &str, sql: &str) {
    let db = Database::connect(admin)
        .await
        .expect("connect to TEST_DATABASE_URL");
    db.execute_unprepared(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    db.close().await.ok();
}

/// Test databases are named after the admin database (`<admin db>_t_<uuid>`), so a CI run that
/// creates its own admin database can drop everything it made by prefix.
fn unique_name(admin: &str, kind: &str) -> String {
    let url = url::Url::parse(admin).expect("TEST_DATABASE_URL is a URL");
    let base = url.path().trim_start_matches('/');
    let base = if base.is_empty() { "postgres" } else { base };
    format!("{base}_{kind}_{}", uuid::Uuid::new_v4().simple())
}

/// The migrated template database of this test process (PostgreSQL only).
async fn pg_template(admin: &str) -> String {
    static TEMPLATE: OnceCell<String> = OnceCell::const_new();
    TEMPLATE
        .get_or_init(|| async {
            let name = unique_name(admin, "tpl");
            pg_exec(admin, &format!("CREATE DATABASE {name}")).await;
            let url = pg_url_for(admin, &name);
            let db = ponto_bridge::store::connect(&url, 2)
                .await
                .expect("connect template");
            ponto_bridge::store::migrate(&db, &url)
                .await
                .expect("migrate template");
            db.close().await.ok();
            name
        })
        .await
        .clone()
}

impl TestDb {
    /// A migrated database.
    pub async fn fresh() -> Self {
        match pg_admin_url() {
            Some(admin) => {
                let template = pg_template(&admin).await;
                let name = unique_name(&admin, "t");
                pg_exec(
                    &admin,
                    &format!("CREATE DATABASE {name} TEMPLATE {template}"),
                )
                .await;
                Self {
                    url: pg_url_for(&admin, &name),
                    pg_name: Some((admin, name)),
                    _dir: None,
                }
            }
            None => Self::sqlite(),
        }
    }

    /// An empty database (no migrations applied).
    pub async fn empty() -> Self {
        match pg_admin_url() {
            Some(admin) => {
                let name = unique_name(&admin, "t");
                pg_exec(&admin, &format!("CREATE DATABASE {name}")).await;
                Self {
                    url: pg_url_for(&admin, &name),
                    pg_name: Some((admin, name)),
                    _dir: None,
                }
            }
            None => Self::sqlite(),
        }
    }

    fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("test.db").display());
        Self {
            url,
            pg_name: None,
            _dir: Some(dir),
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some((admin, name)) = self.pg_name.take() else {
            return;
        };
        // Drop runs outside async; use a private runtime on a helper thread. A database left
        // behind is reported, not hidden: CI drops leftovers by prefix, a developer should know.
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            rt.block_on(async {
                let db = Database::connect(&admin).await.map_err(|e| e.to_string())?;
                let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                let done = db.execute_unprepared(&sql).await.map_err(|e| e.to_string());
                db.close().await.ok();
                done.map(drop)
            })
        })
        .join();
        if let Ok(Err(e)) | Err(e) = dropped.map_err(|_| "panicked".to_owned()) {
            eprintln!("test database left behind: {e}");
        }
    }
}
