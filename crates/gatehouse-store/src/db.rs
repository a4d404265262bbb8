//! Pools, backend selection, migrations and the store's error type.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool};
use diesel::sqlite::SqliteConnection;
use diesel::Connection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");
const PG_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");

/// Which database engine a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        })
    }
}

/// A parsed database URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// A SQLite file (`sqlite://path`, `sqlite:path` or a plain path).
    Sqlite(PathBuf),
    /// A PostgreSQL URL (`postgres://` or `postgresql://`).
    Postgres(String),
}

impl DatabaseUrl {
    /// Chooses the backend from the URL's scheme. An unknown scheme is an
    /// error, never a silent fall-back to SQLite.
    pub fn parse(url: &str) -> Result<DatabaseUrl, StoreError> {
        let url = url.trim();
        if url.is_empty() {
            return Err(StoreError::BadUrl { url: String::new(), reason: "the database URL is empty".into() });
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(DatabaseUrl::Postgres(url.to_string()));
        }
        if let Some(rest) = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")) {
            if rest.is_empty() {
                return Err(StoreError::BadUrl { url: url.into(), reason: "no file path after sqlite://".into() });
            }
            return Ok(DatabaseUrl::Sqlite(PathBuf::from(rest)));
        }
        if let Some((scheme, _)) = url.split_once(':') {
            // A Windows drive letter is the only colon a plain path may start with.
            let looks_like_scheme = scheme.len() > 1
                && scheme.chars().all(|c| c.is_ascii_alphanumeric() || c == '+' || c == '-' || c == '.');
            if looks_like_scheme {
                return Err(StoreError::BadUrl {
                    url: mask_url(url),
                    reason: format!(
                        "unsupported scheme \"{scheme}:\" (use postgres://…, postgresql://…, sqlite://PATH or a file path)"
                    ),
                });
            }
        }
        Ok(DatabaseUrl::Sqlite(PathBuf::from(url)))
    }

    pub fn backend(&self) -> Backend {
        match self {
            DatabaseUrl::Sqlite(_) => Backend::Sqlite,
            DatabaseUrl::Postgres(_) => Backend::Postgres,
        }
    }

    /// The URL with any password replaced by `***`, fit for logs and errors.
    pub fn masked(&self) -> String {
        match self {
            DatabaseUrl::Sqlite(p) => format!("sqlite://{}", p.display()),
            DatabaseUrl::Postgres(u) => mask_url(u),
        }
    }
}

/// Replaces the password of a URL with `***`.
pub fn mask_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}

/// Everything that can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("invalid database URL {url}: {reason}")]
    BadUrl { url: String, reason: String },
    #[error("cannot open database {url}: {reason}")]
    Connect { url: String, reason: String },
    #[error("migrating database {url} failed: {reason}")]
    Migration { url: String, reason: String },
    /// A uniqueness rule was broken (duplicate e-mail, identifier, …).
    #[error("{0} already exists")]
    Conflict(String),
    #[error("{0} not found")]
    NotFound(String),
    #[error("no database connection available: {0}")]
    Pool(String),
    #[error("database error: {0}")]
    Query(diesel::result::Error),
}

impl StoreError {
    /// Whether the database is out of reach rather than the request wrong:
    /// no pooled connection in time, or the connection went away.
    pub fn is_unavailable(&self) -> bool {
        use diesel::result::{DatabaseErrorKind, Error};
        match self {
            StoreError::Pool(_) | StoreError::Connect { .. } => true,
            StoreError::Query(Error::DatabaseError(DatabaseErrorKind::ClosedConnection, _)) => true,
            StoreError::Query(Error::DatabaseError(_, info)) => {
                let m = info.message();
                m.contains("terminating connection") || m.contains("server closed the connection")
            }
            _ => false,
        }
    }
}

impl From<diesel::result::Error> for StoreError {
    fn from(e: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match e {
            Error::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
                StoreError::Conflict(info.message().to_string())
            }
            Error::NotFound => StoreError::NotFound("record".into()),
            other => StoreError::Query(other),
        }
    }
}

impl From<r2d2::Error> for StoreError {
    fn from(e: r2d2::Error) -> Self {
        StoreError::Pool(e.to_string())
    }
}

#[derive(Debug)]
struct SqlitePragmas;

impl CustomizeConnection<SqliteConnection, diesel::r2d2::Error> for SqlitePragmas {
    fn on_acquire(&self, conn: &mut SqliteConnection) -> Result<(), diesel::r2d2::Error> {
        // WAL lets readers run beside the one writer; busy_timeout makes
        // concurrent writers queue instead of failing with SQLITE_BUSY.
        // (journal_mode=WAL is persistent and set once at open.)
        // The checkpointer thread does the checkpoints (see
        // `start_checkpointer`); a writer's own automatic checkpoint, with
        // its two fsyncs on the commit path, is only a safety net should
        // that thread fall behind.
        conn.batch_execute(
            "PRAGMA busy_timeout = 10000; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; \
             PRAGMA wal_autocheckpoint = 16000;",
        )
        .map_err(diesel::r2d2::Error::QueryError)
    }
}

/// How long a PostgreSQL connection returned healthy is trusted without a
/// check on its next checkout.
const PG_TRUST_WINDOW: Duration = Duration::from_secs(1);

/// The PostgreSQL pool's connections, checked with a query on checkout only
/// when they have been idle for [`PG_TRUST_WINDOW`] or more. r2d2 checks on
/// every checkout, which under load doubled the round trips of every
/// statement; a connection handed back healthy a moment ago is still good,
/// while one idle longer (a restart or failover may have cut it) is still
/// checked before use. (HikariCP's "alive bypass window" is the same idea.)
#[derive(Debug)]
pub(crate) struct PgManager(ConnectionManager<PgConnection>);

/// A pooled PostgreSQL connection and when it was last handed back.
pub(crate) struct PgPooled {
    conn: PgConnection,
    returned_at: Option<std::time::Instant>,
}

impl std::ops::Deref for PgPooled {
    type Target = PgConnection;
    fn deref(&self) -> &PgConnection {
        &self.conn
    }
}

impl std::ops::DerefMut for PgPooled {
    fn deref_mut(&mut self) -> &mut PgConnection {
        &mut self.conn
    }
}

impl diesel::r2d2::ManageConnection for PgManager {
    type Connection = PgPooled;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<PgPooled, Self::Error> {
        Ok(PgPooled { conn: self.0.connect()?, returned_at: None })
    }

    fn is_valid(&self, c: &mut PgPooled) -> Result<(), Self::Error> {
        if c.returned_at.is_some_and(|at| at.elapsed() < PG_TRUST_WINDOW) {
            return Ok(());
        }
        self.0.is_valid(&mut c.conn)
    }

    /// Called as the connection goes back to the pool.
    fn has_broken(&self, c: &mut PgPooled) -> bool {
        c.returned_at = Some(std::time::Instant::now());
        self.0.has_broken(&mut c.conn)
    }
}

#[derive(Clone)]
pub(crate) enum Pools {
    /// SQLite has one writer at a time: writes queue for the single
    /// `write` connection in the pool (a fair wait in-process) instead of
    /// contending for the file lock and sleeping in `busy_timeout`; reads
    /// run beside it on `read` (WAL).
    Sqlite {
        read: Pool<ConnectionManager<SqliteConnection>>,
        write: Pool<ConnectionManager<SqliteConnection>>,
    },
    Postgres(Pool<PgManager>),
}

/// A handle on the database: cheap to clone, shared by every request.
#[derive(Clone)]
pub struct Store {
    pub(crate) pools: Pools,
    url: DatabaseUrl,
    /// The committer of new grants, started at the first insert.
    pub(crate) group_commit: std::sync::Arc<std::sync::OnceLock<crate::group_commit::GroupCommit>>,
    /// Held by every clone; the SQLite checkpointer stops when the last goes.
    _alive: std::sync::Arc<()>,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Store({})", self.url.masked())
    }
}

/// Runs `$body` with `$conn` bound to a pooled connection of whichever
/// backend the store uses, from the SQLite pool named `$pool` (`read` or
/// `write`). The body is compiled once per backend.
macro_rules! on_pool {
    ($store:expr, $pool:ident, |$conn:ident| $body:expr) => {
        match &$store.pools {
            $crate::db::Pools::Sqlite { $pool: pool, .. } => {
                let mut pooled = pool.get()?;
                let $conn: &mut diesel::sqlite::SqliteConnection = &mut pooled;
                $body
            }
            $crate::db::Pools::Postgres(pool) => {
                let mut pooled = pool.get()?;
                let $conn: &mut diesel::pg::PgConnection = &mut pooled;
                $body
            }
        }
    };
}
pub(crate) use on_pool;

/// [`on_pool!`] for reads: on SQLite, any of the reading connections.
macro_rules! with_conn {
    ($store:expr, |$conn:ident| $body:expr) => {
        $crate::db::on_pool!($store, read, |$conn| $body)
    };
}
pub(crate) use with_conn;

// Lookups use `get_result`, never `.first()`: diesel binds first()'s
// `LIMIT ?`, and SQLite (3.45+) lets a bound LIMIT shape the plan, so
// every execution of a cached statement would be re-prepared from its SQL
// (seen as 70 % of introspection's time). Queries by a unique key return at
// most one row anyway; ordered ones take the first row of the answer.

/// [`on_pool!`] for statements that write: on SQLite, the single writer.
macro_rules! with_write {
    ($store:expr, |$conn:ident| $body:expr) => {
        $crate::db::on_pool!($store, write, |$conn| $body)
    };
}
pub(crate) use with_write;

impl Store {
    /// Opens (creating a SQLite file and its directory if needed) and checks
    /// the database. Does not migrate.
    pub fn open(url: &str) -> Result<Store, StoreError> {
        Store::open_with(url, 16)
    }

    /// [`Store::open`] with at most `max_connections` PostgreSQL
    /// connections, opened as they are needed.
    pub fn open_with(url: &str, max_connections: u32) -> Result<Store, StoreError> {
        let parsed = DatabaseUrl::parse(url)?;
        let masked = parsed.masked();
        let connect_err = |reason: String| StoreError::Connect { url: masked.clone(), reason };
        let (pools, checkpoint_conn) = match &parsed {
            DatabaseUrl::Sqlite(path) => {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir)
                        .map_err(|e| connect_err(format!("cannot create directory {}: {e}", dir.display())))?;
                }
                let path_str = path_to_str(path).map_err(connect_err)?;
                // Establish one connection directly first: r2d2 would hide the reason.
                let mut first = SqliteConnection::establish(&path_str).map_err(|e| connect_err(e.to_string()))?;
                first
                    .batch_execute("PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL;")
                    .map_err(|e| connect_err(e.to_string()))?;
                // A local file: connections do not go stale, so no test
                // query on every checkout.
                let pool = |size: u32| {
                    Pool::builder()
                        .max_size(size)
                        .test_on_check_out(false)
                        .connection_timeout(Duration::from_secs(10))
                        .connection_customizer(Box::new(SqlitePragmas))
                        .build(ConnectionManager::<SqliteConnection>::new(path_str.clone()))
                        .map_err(|e| connect_err(e.to_string()))
                };
                (Pools::Sqlite { read: pool(8)?, write: pool(1)? }, Some(first))
            }
            DatabaseUrl::Postgres(u) => {
                PgConnection::establish(u).map_err(|e| connect_err(first_line(&e.to_string())))?;
                // Connections open when needed (replicas and CLI commands
                // do not hold 16 each), and a request waits at most 3 s for
                // one before it is told the database is unavailable.
                let pool = Pool::builder()
                    .max_size(max_connections.max(1))
                    // No background connects: a connection opens when a
                    // request needs it (nothing is left half-open when a
                    // CLI command exits).
                    .min_idle(Some(0))
                    .connection_timeout(Duration::from_secs(3))
                    .build(PgManager(ConnectionManager::<PgConnection>::new(u.clone())))
                    .map_err(|e| connect_err(e.to_string()))?;
                (Pools::Postgres(pool), None)
            }
        };
        let alive = std::sync::Arc::new(());
        if let (Some(conn), Pools::Sqlite { write, .. }) = (checkpoint_conn, &pools) {
            start_checkpointer(conn, write.clone(), std::sync::Arc::downgrade(&alive));
        }
        Ok(Store { pools, url: parsed, group_commit: Default::default(), _alive: alive })
    }

    /// Opens the database and applies pending migrations.
    pub fn open_and_migrate(url: &str) -> Result<Store, StoreError> {
        Store::open_and_migrate_with(url, 16)
    }

    /// [`Store::open_and_migrate`] with a connection limit (see [`Store::open_with`]).
    pub fn open_and_migrate_with(url: &str, max_connections: u32) -> Result<Store, StoreError> {
        let store = Store::open_with(url, max_connections)?;
        store.migrate()?;
        Ok(store)
    }

    pub fn backend(&self) -> Backend {
        self.url.backend()
    }

    /// The database URL with its password masked.
    pub fn masked_url(&self) -> String {
        self.url.masked()
    }

    /// Applies every pending embedded migration; returns their names.
    pub fn migrate(&self) -> Result<Vec<String>, StoreError> {
        let err = |e: Box<dyn std::error::Error + Send + Sync>| StoreError::Migration {
            url: self.url.masked(),
            reason: e.to_string(),
        };
        let applied = match &self.pools {
            Pools::Sqlite { write: pool, .. } => {
                let mut c = pool.get()?;
                c.run_pending_migrations(SQLITE_MIGRATIONS)
                    .map_err(err)?
                    .into_iter()
                    .map(|v| v.to_string())
                    .collect::<Vec<_>>()
            }
            Pools::Postgres(pool) => {
                let mut c = pool.get()?;
                // Replicas starting together take turns: one migrates, the
                // others then find nothing pending.
                c.batch_execute("SELECT pg_advisory_lock(7274283)")?;
                let result = c
                    .run_pending_migrations(PG_MIGRATIONS)
                    .map(|v| v.into_iter().map(|v| v.to_string()).collect::<Vec<_>>());
                c.batch_execute("SELECT pg_advisory_unlock(7274283)")?;
                result.map_err(err)?
            }
        };
        Ok(applied)
    }

    /// Each pool's name, open connections and idle connections (metrics).
    pub fn pool_state(&self) -> Vec<(&'static str, u32, u32)> {
        match &self.pools {
            Pools::Sqlite { read, write } => {
                let (r, w) = (read.state(), write.state());
                vec![
                    ("sqlite_read", r.connections, r.idle_connections),
                    ("sqlite_write", w.connections, w.idle_connections),
                ]
            }
            Pools::Postgres(pool) => {
                let s = pool.state();
                vec![("postgres", s.connections, s.idle_connections)]
            }
        }
    }

    /// Whether the database answers a trivial query (for `/readyz`).
    /// Waits at most 1.5 s for a connection, so readiness answers in time
    /// during an outage.
    pub fn ping(&self) -> Result<(), StoreError> {
        let wait = Duration::from_millis(1500);
        match &self.pools {
            Pools::Sqlite { read: pool, .. } => pool.get_timeout(wait)?.batch_execute("SELECT 1")?,
            Pools::Postgres(pool) => pool.get_timeout(wait)?.batch_execute("SELECT 1")?,
        }
        Ok(())
    }
}

/// What `PRAGMA wal_checkpoint` reports.
#[derive(diesel::QueryableByName)]
struct Checkpointed {
    /// Frames in the log when the checkpoint began.
    #[diesel(sql_type = diesel::sql_types::Integer)]
    log: i32,
    /// Of those, the frames now in the database file.
    #[diesel(sql_type = diesel::sql_types::Integer)]
    checkpointed: i32,
}

/// Frames in the log (4 KiB pages: 16 MiB) above which the checkpointer
/// makes it start over. On the bench VM 16000 gave a worse token p99
/// (likely because every pass sorts the whole log's index), 2000 no better.
const WAL_RESET_FRAMES: i32 = 4_000;

/// A pass that found fewer new frames than this since the previous one is
/// close enough behind the writer to finish with writes held.
const WAL_CATCH_UP_FRAMES: i32 = 512;

/// Unheld passes at most before the held one (each finds only what was
/// logged during the one before).
const WAL_CATCH_UP_PASSES: usize = 3;

/// Keeps SQLite's checkpoint work (copying logged pages into the database
/// file, two fsyncs) off the commit path, ten times a second while any
/// clone of the store lives.
///
/// A PASSIVE checkpoint from a connection of its own never blocks the
/// writer, but under steady writes it never finishes either: frames keep
/// arriving while it copies, so the log cannot start over and grows until
/// the writer's automatic checkpoint runs inside a commit. Measured on a
/// 2-core VM at 44k tokens/s: that came four times a second and held every
/// token answer for 10 to 20 ms, waiting on fsync (token p99 14 to 25 ms).
///
/// So once the log passes [`WAL_RESET_FRAMES`], the checkpointer catches
/// up unheld, then takes the pool's one write connection (writers queue
/// behind it for a moment) and runs a last pass, which finds only the
/// frames logged during the one before: the log is then complete, and the
/// next commit starts it over.
fn start_checkpointer(
    mut conn: SqliteConnection,
    write: Pool<ConnectionManager<SqliteConnection>>,
    alive: std::sync::Weak<()>,
) {
    // The log's length, and whether it is all in the database file.
    let passive = |conn: &mut SqliteConnection| -> Option<(i32, bool)> {
        match diesel::RunQueryDsl::load::<Checkpointed>(diesel::sql_query("PRAGMA wal_checkpoint(PASSIVE)"), conn) {
            Ok(rows) => Some(rows.first().map_or((0, true), |r| (r.log, r.checkpointed >= r.log))),
            Err(e) => {
                tracing::warn!(error = %e, "WAL checkpoint failed");
                None
            }
        }
    };
    let spawned = std::thread::Builder::new().name("gatehouse-checkpoint".into()).spawn(move || {
        // The log's length when a held pass last copied all of it.
        let mut settled = None;
        while alive.upgrade().is_some() {
            std::thread::sleep(Duration::from_millis(100));
            let Some((mut log, complete)) = passive(&mut conn) else { continue };
            // "Complete" speaks only of the frames there were when a pass
            // began; unchanged since the last held pass, nothing came since.
            if log < WAL_RESET_FRAMES || (complete && settled == Some(log)) {
                continue;
            }
            for _ in 0..WAL_CATCH_UP_PASSES {
                let Some((now, _)) = passive(&mut conn) else { break };
                let behind = now - log;
                log = now;
                if behind < WAL_CATCH_UP_FRAMES {
                    break;
                }
            }
            if log < WAL_RESET_FRAMES {
                continue; // it started over meanwhile
            }
            // Waits for this process's writer to finish its transaction
            // (another process's writes are not held: the pass is then
            // incomplete, and the next round tries again).
            let Ok(_writes_held) = write.get() else { continue };
            let started = std::time::Instant::now();
            if let Some((log, true)) = passive(&mut conn) {
                settled = Some(log);
            }
            metrics::histogram!("gatehouse_sqlite_wal_reset_seconds").record(started.elapsed().as_secs_f64());
        }
    });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "cannot start the WAL checkpointer");
    }
}

fn path_to_str(p: &Path) -> Result<String, String> {
    p.to_str().map(|s| s.to_string()).ok_or_else(|| "the path is not valid UTF-8".to_string())
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or_default().trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_is_chosen_by_scheme() {
        assert_eq!(DatabaseUrl::parse("postgres://u@h/db").unwrap().backend(), Backend::Postgres);
        assert_eq!(DatabaseUrl::parse("postgresql://u@h/db").unwrap().backend(), Backend::Postgres);
        assert_eq!(DatabaseUrl::parse("sqlite://data/x.db").unwrap(), DatabaseUrl::Sqlite("data/x.db".into()));
        assert_eq!(DatabaseUrl::parse("./data/x.db").unwrap().backend(), Backend::Sqlite);
        let err = DatabaseUrl::parse("postgress://u:secret@h/db").unwrap_err().to_string();
        assert!(err.contains("postgress"), "{err}");
        assert!(!err.contains("secret"), "{err}");
        assert!(DatabaseUrl::parse("mysql://h/db").is_err());
    }

    #[test]
    fn passwords_are_masked() {
        assert_eq!(mask_url("postgres://u:pw@h:5432/db"), "postgres://u:***@h:5432/db");
        assert_eq!(mask_url("postgres://u@h/db"), "postgres://u@h/db");
    }
}
