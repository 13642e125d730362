//! The embedded default store: SQLite through sqlx, migrations embedded in
//! the binary, WAL journal with `synchronous = FULL` so a committed PIN
//! attempt survives a power cut, not just a process crash.
//!
//! SQLite has one writer at a time; the pool has one connection, so
//! transactions queue in the process instead of failing with `SQLITE_BUSY`.
//! Handlers keep transactions short (no cryptography inside), which is what
//! makes that queue fast.

use std::path::Path;
use std::str::FromStr;

use async_trait::async_trait;
use kaksik_core::protocol::api::Identity;
use kaksik_core::role::KeyRole;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, Sqlite, SqlitePool, Transaction};

use super::{
    Account, AccountKey, AuditEntry, Enrolment, ProtocolState, Registration, RelyingParty, Session,
    Store, StoreError, Tx,
};

/// SQLite in one file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

fn db(error: sqlx::Error) -> StoreError {
    StoreError::Database(error.to_string())
}

fn role_of(text: &str) -> Result<KeyRole, StoreError> {
    match text {
        "auth" => Ok(KeyRole::Auth),
        "sign" => Ok(KeyRole::Sign),
        other => Err(StoreError::Malformed {
            what: "role",
            detail: format!("unknown role {other:?}"),
        }),
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and migrates it.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str("sqlite://")
            .map_err(db)?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(std::time::Duration::from_secs(30));
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await
            .map_err(db)?;
        sqlx::migrate!("./migrations")
            .run(&pool)
            .await
            .map_err(|e| StoreError::Database(e.to_string()))?;
        Ok(SqliteStore { pool })
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn begin(&self) -> Result<Box<dyn Tx>, StoreError> {
        // IMMEDIATE takes the write lock at once: a DEFERRED transaction
        // that reads and then writes fails with SQLITE_BUSY (busy_timeout
        // does not apply to the upgrade) when another process — `kaksik
        // admin` beside a running server — wrote in between.
        let tx = self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
        Ok(Box::new(SqliteTx { tx }))
    }
}

struct SqliteTx {
    tx: Transaction<'static, Sqlite>,
}

fn identity_of(row: &sqlx::sqlite::SqliteRow) -> Result<Identity, sqlx::Error> {
    Ok(Identity {
        country: row.try_get("country")?,
        national_id: row.try_get("national_id")?,
        given_name: row.try_get("given_name")?,
        surname: row.try_get("surname")?,
    })
}

fn registration_of(row: &sqlx::sqlite::SqliteRow) -> Result<Registration, sqlx::Error> {
    Ok(Registration {
        id: row.try_get("id")?,
        enrolment_hash: row.try_get("enrolment_hash")?,
        device_id: row.try_get("device_id")?,
        device_public_key: row.try_get("device_public_key")?,
        document_number: row.try_get("document_number")?,
        registration_code: row.try_get("registration_code")?,
        state: row.try_get("state")?,
        dkg_run_auth: row.try_get("dkg_run_auth")?,
        dkg_run_sign: row.try_get("dkg_run_sign")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
    })
}

fn account_of(row: &sqlx::sqlite::SqliteRow) -> Result<Account, sqlx::Error> {
    Ok(Account {
        document_number: row.try_get("document_number")?,
        identity: identity_of(row)?,
        device_id: row.try_get("device_id")?,
        device_public_key: row.try_get("device_public_key")?,
        state: row.try_get("state")?,
        created_at: row.try_get("created_at")?,
    })
}

fn key_of(row: &sqlx::sqlite::SqliteRow) -> Result<AccountKey, StoreError> {
    let role: String = row.try_get("role").map_err(db)?;
    Ok(AccountKey {
        document_number: row.try_get("document_number").map_err(db)?,
        role: role_of(&role)?,
        state: row.try_get("state").map_err(db)?,
        verified: row.try_get::<i64, _>("verified").map_err(db)? != 0,
        public_key: row.try_get("public_key").map_err(db)?,
        epoch: row.try_get("epoch").map_err(db)?,
        share: row.try_get("share").map_err(db)?,
        pending_share: row.try_get("pending_share").map_err(db)?,
        oprf_key: row.try_get("oprf_key").map_err(db)?,
        unlock_proof_key: row.try_get("unlock_proof_key").map_err(db)?,
        pending_unlock_proof_key: row.try_get("pending_unlock_proof_key").map_err(db)?,
        failed_attempts: row.try_get("failed_attempts").map_err(db)?,
        last_failed_at: row.try_get("last_failed_at").map_err(db)?,
        token_hash: row.try_get("token_hash").map_err(db)?,
        next_token_hash: row.try_get("next_token_hash").map_err(db)?,
        signatures_since_refresh: row.try_get("signatures_since_refresh").map_err(db)?,
        refreshed_at: row.try_get("refreshed_at").map_err(db)?,
        cert_serial: row.try_get("cert_serial").map_err(db)?,
        cert_pem: row.try_get("cert_pem").map_err(db)?,
    })
}

fn session_of(row: &sqlx::sqlite::SqliteRow) -> Result<Session, StoreError> {
    let role: String = row.try_get("role").map_err(db)?;
    Ok(Session {
        id: row.try_get("id").map_err(db)?,
        rp_uuid: row.try_get("rp_uuid").map_err(db)?,
        kind: row.try_get("kind").map_err(db)?,
        document_number: row.try_get("document_number").map_err(db)?,
        role: role_of(&role)?,
        state: row.try_get("state").map_err(db)?,
        end_result: row.try_get("end_result").map_err(db)?,
        request: row.try_get("request").map_err(db)?,
        sign_run: row.try_get("sign_run").map_err(db)?,
        created_at: row.try_get("created_at").map_err(db)?,
        expires_at: row.try_get("expires_at").map_err(db)?,
        result: row.try_get("result").map_err(db)?,
    })
}

#[async_trait]
impl Tx for SqliteTx {
    async fn commit(self: Box<Self>) -> Result<(), StoreError> {
        self.tx.commit().await.map_err(db)
    }

    async fn upsert_rp(&mut self, rp: &RelyingParty, now: i64) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO relying_parties (uuid, name, created_at) VALUES (?, ?, ?)
             ON CONFLICT(uuid) DO UPDATE SET name = excluded.name",
        )
        .bind(&rp.uuid)
        .bind(&rp.name)
        .bind(now)
        .execute(&mut *self.tx)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn rp(&mut self, uuid: &str) -> Result<Option<RelyingParty>, StoreError> {
        let row = sqlx::query("SELECT uuid, name FROM relying_parties WHERE uuid = ?")
            .bind(uuid)
            .fetch_optional(&mut *self.tx)
            .await
            .map_err(db)?;
        row.map(|row| {
            Ok(RelyingParty {
                uuid: row.try_get("uuid").map_err(db)?,
                name: row.try_get("name").map_err(db)?,
            })
        })
        .transpose()
    }

    async fn insert_enrolment(&mut self, e: &Enrolment) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO enrolments (code_hash, country, national_id, given_name, surname,
             created_at, expires_at, used_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&e.code_hash)
        .bind(&e.identity.country)
        .bind(&e.identity.national_id)
        .bind(&e.identity.given_name)
        .bind(&e.identity.surname)
        .bind(e.created_at)
        .bind(e.expires_at)
        .bind(e.used_at)
        .execute(&mut *self.tx)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn enrolment(&mut self, code_hash: &[u8]) -> Result<Option<Enrolment>, StoreError> {
        let row = sqlx::query("SELECT * FROM enrolments WHERE code_hash = ?")
            .bind(code_hash)
            .fetch_optional(&mut *self.tx)
            .await
            .map_err(db)?;
        row.map(|row| {
            Ok(Enrolment {
                code_hash: row.try_get("code_hash").map_err(db)?,
                identity: identity_of(&row).map_err(db)?,
                created_at: row.try_get("created_at").map_err(db)?,
                expires_at: row.try_get("expires_at").map_err(db)?,
                used_at: row.try_get("used_at").map_err(db)?,
            })
        })
        .transpose()
    }

    async fn use_enrolment(&mut self, code_hash: &[u8], now: i64) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE enrolments SET used_at = ? WHERE code_hash = ? AND used_at IS NULL",
        )
        .bind(now)
        .bind(code_hash)
        .execute(&mut *self.tx)
        .await
        .map_err(db)?;
        Ok(done.rows_affected() == 1)
    }

    async fn insert_registration(&mut self, r: &Registration) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO registrations (id, enrolment_hash, device_id, device_public_key,
             document_number, registration_code, state, dkg_run_auth, dkg_run_sign,
             created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&r.id)
        .bind(&r.enrolment_hash)
        .bind(&r.device_id)
        .bind(&r.device_public_key)
        .bind(&r.document_number)
        .bind(&r.registration_code)
        .bind(&r.state)
        .bind(&r.dkg_run_auth)
        .bind(&r.dkg_run_sign)
        .bind(r.created_at)
        .bind(r.expires_at)
        .execute(&mut *self.tx)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn registration(&mut self, id: &str) -> Result<Option<Registration>, StoreError> {
        let row = sqlx::query("SELECT * FROM registrations WHERE id = ?")
            .bind(id)
            .fetch_optional(&mut *self.tx)
            .await
            .map_err(db)?;
        row.map(|row| registration_of(&row).map_err(db)).transpose()
    }

    async fn registration_by_enrolment(
        &mut self,
        code_hash: &[u8],
    ) -> Result<Option<Registration>, StoreError> {
        let row = sqlx::query("SELECT * FROM registrations WHERE enrolment_hash = ?")
            .bind(code_hash)
            .fetch_optional(&mut *self.tx)
            .await
            .map_err(db)?;
        row.map(|row| registration_of(&row).map_err(db)).transpose()
    }

    async fn set_registration_state(&mut self, id: &str, state: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE registrations SET state = ? WHERE id = ?")
            .bind(state)
            .bind(id)
            .execute(&mut *self.tx)
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn insert_account(&mut self, a: &Account) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO accounts (document_number, semantics_id, country, national_id,
             given_name, surname, device_id, device_public_key, state, created_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&a.document_number)
        .bind(a.identity.semantics_identifier())
        .bind(&a.identity.country)
        .bind(&a.identity.national_id)
        .bind(&a.identity.given_name)
        .bind(&a.identity.surname)
        .bind(&a.device_id)
        .bind(&a.device_public_key)
        .bind(&a.state)
        .bind(a.created_at)
        .execute(&mut *self.tx)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn account(&mut self, document_number: &str) -> Result<Option<Account>, StoreError> {
        let row = sqlx::query("SELECT * FROM accounts WHERE document_number = ?")
            .bind(document_number)
            .fetch_optional(&mut *self.tx)
            .await
            .map_err(db)?;
        row.map(|row| account_of(&row).map_err(db)).transpose()
    }

    async fn account_by_device(&mut self, device_id: &str) -> Result<Option<Account>, StoreError> {
        let row = sqlx::query("SELECT * FROM accounts WHERE device_id = ?")
            .bind(device_id)
            .fetch_optional(&mut *self.tx)
            .await
            .map_err(db)?;
        row.map(|row| account_of(&row).map_err(db)).transpose()
    }

    async fn accounts_by_semantics_id(
        &mut self,
        semantics_id: &str,
    ) -> Result<Vec<Account>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM accounts WHERE semantics_id = ? ORDER BY created_at DESC, rowid DESC",
        )
        .bind(semantics_id)
        .fetch_all(&mut *self.tx)
        .await
        .map_err(db)?;
        rows.iter().map(|row| account_of(row).map_err(db)).collect()
    }

    async fn set_account_state(
        &mut self,
        document_number: &str,
        state: &str,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE accounts SET state = ? WHERE document_number = ?")
            .bind(state)
            .bind(document_number)
            .execute(&mut *self.tx)
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn insert_key(&mut self, k: &AccountKey) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO account_keys (document_number, role, state, oprf_key, refreshed_at)
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(&k.document_number)
        .bind(k.role.as_str())
        .bind(&k.state)
        .bind(&k.oprf_key)
        .bind(k.refreshed_at)
        .execute(&mut *self.tx)
        .await
        .map_err(db)?;
        self.update_key(k).await
    }

    async fn key(
        &mut self,
        document_number: &str,
        role: KeyRole,
    ) -> Result<Option<AccountKey>, StoreError> {
        let row = sqlx::query("SELECT * FROM account_keys WHERE document_number = ? AND role = ?")
            .bind(document_number)
            .bind(role.as_str())
            .fetch_optional(&mut *self.tx)
            .await
            .map_err(db)?;
        row.map(|row| key_of(&row)).transpose()
    }

    async fn update_key(&mut self, k: &AccountKey) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE account_keys SET state = ?, verified = ?, public_key = ?, epoch = ?,
             share = ?, pending_share = ?, oprf_key = ?, unlock_proof_key = ?,
             pending_unlock_proof_key = ?, failed_attempts = ?, last_failed_at = ?, token_hash = ?, next_token_hash = ?,
             signatures_since_refresh = ?, refreshed_at = ?, cert_serial = ?, cert_pem = ?
             WHERE document_number = ? AND role = ?",
        )
        .bind(&k.state)
        .bind(i64::from(k.verified))
        .bind(&k.public_key)
        .bind(k.epoch)
        .bind(&k.share)
        .bind(&k.pending_share)
        .bind(&k.oprf_key)
        .bind(&k.unlock_proof_key)
        .bind(&k.pending_unlock_proof_key)
        .bind(k.failed_attempts)
        .bind(k.last_failed_at)
        .bind(&k.token_hash)
        .bind(&k.next_token_hash)
        .bind(k.signatures_since_refresh)
        .bind(k.refreshed_at)
        .bind(&k.cert_serial)
        .bind(&k.cert_pem)
        .bind(&k.document_number)
        .bind(k.role.as_str())
        .execute(&mut *self.tx)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn retire_token(
        &mut self,
        document_number: &str,
        role: KeyRole,
        token_hash: &[u8],
        now: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT OR IGNORE INTO retired_tokens (document_number, role, token_hash, retired_at)
             VALUES (?, ?, ?, ?)",
        )
        .bind(document_number)
        .bind(role.as_str())
        .bind(token_hash)
        .bind(now)
        .execute(&mut *self.tx)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn is_retired_token(
        &mut self,
        document_number: &str,
        role: KeyRole,
        token_hash: &[u8],
    ) -> Result<bool, StoreError> {
        let row = sqlx::query(
            "SELECT 1 FROM retired_tokens WHERE document_number = ? AND role = ? AND token_hash = ?",
        )
        .bind(document_number)
        .bind(role.as_str())
        .bind(token_hash)
        .fetch_optional(&mut *self.tx)
        .await
        .map_err(db)?;
        Ok(row.is_some())
    }

    async fn protocol_state(&mut self, id: &str) -> Result<Option<ProtocolState>, StoreError> {
        let row = sqlx::query("SELECT id, version, kind, blob FROM protocol_states WHERE id = ?")
            .bind(id)
            .fetch_optional(&mut *self.tx)
            .await
            .map_err(db)?;
        row.map(|row| {
            Ok(ProtocolState {
                id: row.try_get("id").map_err(db)?,
                version: row.try_get("version").map_err(db)?,
                kind: row.try_get("kind").map_err(db)?,
                blob: row.try_get("blob").map_err(db)?,
            })
        })
        .transpose()
    }

    async fn swap_protocol_state(
        &mut self,
        id: &str,
        expected_version: Option<i64>,
        new: Option<(&str, &[u8])>,
        now: i64,
    ) -> Result<(), StoreError> {
        let current: Option<i64> = sqlx::query("SELECT version FROM protocol_states WHERE id = ?")
            .bind(id)
            .fetch_optional(&mut *self.tx)
            .await
            .map_err(db)?
            .map(|row| row.try_get("version"))
            .transpose()
            .map_err(db)?;
        if current != expected_version {
            return Err(StoreError::Conflict("protocol state"));
        }
        let next_version = current.unwrap_or(0) + 1;
        match new {
            Some((kind, blob)) => {
                sqlx::query(
                    "INSERT INTO protocol_states (id, version, kind, blob, created_at)
                     VALUES (?, ?, ?, ?, ?)
                     ON CONFLICT(id) DO UPDATE SET version = excluded.version,
                     kind = excluded.kind, blob = excluded.blob, created_at = excluded.created_at",
                )
                .bind(id)
                .bind(next_version)
                .bind(kind)
                .bind(blob)
                .bind(now)
                .execute(&mut *self.tx)
                .await
                .map_err(db)?;
            }
            None => {
                sqlx::query("DELETE FROM protocol_states WHERE id = ?")
                    .bind(id)
                    .execute(&mut *self.tx)
                    .await
                    .map_err(db)?;
            }
        }
        Ok(())
    }

    async fn insert_evaluation(
        &mut self,
        id: &[u8],
        document_number: &str,
        role: KeyRole,
        now: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO evaluations (id, document_number, role, created_at) VALUES (?, ?, ?, ?)",
        )
        .bind(id)
        .bind(document_number)
        .bind(role.as_str())
        .bind(now)
        .execute(&mut *self.tx)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn evaluation(
        &mut self,
        id: &[u8],
    ) -> Result<Option<(String, KeyRole, Option<String>)>, StoreError> {
        let row =
            sqlx::query("SELECT document_number, role, outcome FROM evaluations WHERE id = ?")
                .bind(id)
                .fetch_optional(&mut *self.tx)
                .await
                .map_err(db)?;
        row.map(|row| {
            let role: String = row.try_get("role").map_err(db)?;
            Ok((
                row.try_get("document_number").map_err(db)?,
                role_of(&role)?,
                row.try_get("outcome").map_err(db)?,
            ))
        })
        .transpose()
    }

    async fn set_evaluation_outcome(
        &mut self,
        id: &[u8],
        outcome: &str,
    ) -> Result<bool, StoreError> {
        let done =
            sqlx::query("UPDATE evaluations SET outcome = ? WHERE id = ? AND outcome IS NULL")
                .bind(outcome)
                .bind(id)
                .execute(&mut *self.tx)
                .await
                .map_err(db)?;
        Ok(done.rows_affected() == 1)
    }

    async fn insert_session(&mut self, s: &Session) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO sessions (id, rp_uuid, kind, document_number, role, state, end_result,
             request, sign_run, created_at, expires_at, result)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&s.id)
        .bind(&s.rp_uuid)
        .bind(&s.kind)
        .bind(&s.document_number)
        .bind(s.role.as_str())
        .bind(&s.state)
        .bind(&s.end_result)
        .bind(&s.request)
        .bind(&s.sign_run)
        .bind(s.created_at)
        .bind(s.expires_at)
        .bind(&s.result)
        .execute(&mut *self.tx)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn session(&mut self, id: &str) -> Result<Option<Session>, StoreError> {
        let row = sqlx::query("SELECT * FROM sessions WHERE id = ?")
            .bind(id)
            .fetch_optional(&mut *self.tx)
            .await
            .map_err(db)?;
        row.map(|row| session_of(&row)).transpose()
    }

    async fn update_session(&mut self, s: &Session) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE sessions SET state = ?, end_result = ?, result = ?, document_number = ?,
             request = ? WHERE id = ?",
        )
        .bind(&s.state)
        .bind(&s.end_result)
        .bind(&s.result)
        .bind(&s.document_number)
        .bind(&s.request)
        .bind(&s.id)
        .execute(&mut *self.tx)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn running_sessions(
        &mut self,
        document_number: &str,
    ) -> Result<Vec<Session>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM sessions WHERE document_number = ? AND state = 'RUNNING'
             ORDER BY created_at, rowid",
        )
        .bind(document_number)
        .fetch_all(&mut *self.tx)
        .await
        .map_err(db)?;
        rows.iter().map(session_of).collect()
    }

    async fn insert_device_link(
        &mut self,
        token: &str,
        session_id: &str,
        sealed_secret: &[u8],
        now: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO device_links (token, session_id, secret, created_at) VALUES (?, ?, ?, ?)",
        )
        .bind(token)
        .bind(session_id)
        .bind(sealed_secret)
        .bind(now)
        .execute(&mut *self.tx)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn device_link(
        &mut self,
        token: &str,
    ) -> Result<Option<(String, Vec<u8>, i64)>, StoreError> {
        let row =
            sqlx::query("SELECT session_id, secret, created_at FROM device_links WHERE token = ?")
                .bind(token)
                .fetch_optional(&mut *self.tx)
                .await
                .map_err(db)?;
        row.map(|row| {
            Ok((
                row.try_get("session_id").map_err(db)?,
                row.try_get("secret").map_err(db)?,
                row.try_get("created_at").map_err(db)?,
            ))
        })
        .transpose()
    }

    async fn device_link_of_session(
        &mut self,
        session_id: &str,
    ) -> Result<Option<(String, Vec<u8>, i64)>, StoreError> {
        let row =
            sqlx::query("SELECT token, secret, created_at FROM device_links WHERE session_id = ?")
                .bind(session_id)
                .fetch_optional(&mut *self.tx)
                .await
                .map_err(db)?;
        row.map(|row| {
            Ok((
                row.try_get("token").map_err(db)?,
                row.try_get("secret").map_err(db)?,
                row.try_get("created_at").map_err(db)?,
            ))
        })
        .transpose()
    }

    async fn rp_nonce_session(
        &mut self,
        rp_uuid: &str,
        nonce: &str,
        since: i64,
    ) -> Result<Option<String>, StoreError> {
        let row = sqlx::query(
            "SELECT session_id FROM rp_nonces WHERE rp_uuid = ? AND nonce = ? AND created_at >= ?",
        )
        .bind(rp_uuid)
        .bind(nonce)
        .bind(since)
        .fetch_optional(&mut *self.tx)
        .await
        .map_err(db)?;
        row.map(|row| row.try_get("session_id").map_err(db))
            .transpose()
    }

    async fn put_rp_nonce(
        &mut self,
        rp_uuid: &str,
        nonce: &str,
        session_id: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT OR REPLACE INTO rp_nonces (rp_uuid, nonce, session_id, created_at)
             VALUES (?, ?, ?, ?)",
        )
        .bind(rp_uuid)
        .bind(nonce)
        .bind(session_id)
        .bind(now)
        .execute(&mut *self.tx)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn use_nonce(
        &mut self,
        device_id: &str,
        nonce: &[u8],
        expires_at: i64,
        now: i64,
    ) -> Result<bool, StoreError> {
        // Forget nonces whose timestamps can no longer pass the window.
        sqlx::query("DELETE FROM request_nonces WHERE expires_at < ?")
            .bind(now)
            .execute(&mut *self.tx)
            .await
            .map_err(db)?;
        let done = sqlx::query(
            "INSERT OR IGNORE INTO request_nonces (device_id, nonce, expires_at) VALUES (?, ?, ?)",
        )
        .bind(device_id)
        .bind(nonce)
        .bind(expires_at)
        .execute(&mut *self.tx)
        .await
        .map_err(db)?;
        Ok(done.rows_affected() == 1)
    }

    async fn revoke_certificate(&mut self, serial: &str, now: i64) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT OR IGNORE INTO revoked_certificates (serial, revoked_at) VALUES (?, ?)",
        )
        .bind(serial)
        .bind(now)
        .execute(&mut *self.tx)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn revoked_certificates(&mut self) -> Result<Vec<(String, i64)>, StoreError> {
        let rows =
            sqlx::query("SELECT serial, revoked_at FROM revoked_certificates ORDER BY revoked_at")
                .fetch_all(&mut *self.tx)
                .await
                .map_err(db)?;
        rows.iter()
            .map(|row| {
                Ok((
                    row.try_get("serial").map_err(db)?,
                    row.try_get("revoked_at").map_err(db)?,
                ))
            })
            .collect()
    }

    async fn audit(
        &mut self,
        document_number: &str,
        now: i64,
        event: &str,
        detail: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO audit_log (document_number, at, event, detail) VALUES (?, ?, ?, ?)",
        )
        .bind(document_number)
        .bind(now)
        .bind(event)
        .bind(detail)
        .execute(&mut *self.tx)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn audit_log(&mut self, document_number: &str) -> Result<Vec<AuditEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT at, event, detail FROM audit_log WHERE document_number = ? ORDER BY seq",
        )
        .bind(document_number)
        .fetch_all(&mut *self.tx)
        .await
        .map_err(db)?;
        rows.iter()
            .map(|row| {
                Ok(AuditEntry {
                    at: row.try_get("at").map_err(db)?,
                    event: row.try_get("event").map_err(db)?,
                    detail: row.try_get("detail").map_err(db)?,
                })
            })
            .collect()
    }
}
