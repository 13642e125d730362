-- Kaksik server schema, version 1.
-- Times are Unix seconds. Secrets (party states, OPRF keys, unlock-proof
-- keys) are stored encrypted under the master key (at_rest.rs), each bound
-- to its row.

CREATE TABLE relying_parties (
    uuid        TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);

CREATE TABLE enrolments (
    code_hash    BLOB PRIMARY KEY,           -- SHA-256 of the one-time code
    country      TEXT NOT NULL,
    national_id  TEXT NOT NULL,
    given_name   TEXT NOT NULL,
    surname      TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    used_at      INTEGER
);

CREATE TABLE registrations (
    id                 TEXT PRIMARY KEY,
    enrolment_hash     BLOB NOT NULL UNIQUE REFERENCES enrolments(code_hash),
    device_id          TEXT NOT NULL,
    device_public_key  BLOB NOT NULL,
    document_number    TEXT NOT NULL UNIQUE,
    registration_code  TEXT NOT NULL,
    state              TEXT NOT NULL,        -- AWAITING_CONFIRMATION | CONFIRMED | COMPLETE
    dkg_run_auth       BLOB NOT NULL,
    dkg_run_sign       BLOB NOT NULL,
    created_at         INTEGER NOT NULL,
    expires_at         INTEGER NOT NULL
);

CREATE TABLE accounts (
    document_number    TEXT PRIMARY KEY,
    semantics_id       TEXT NOT NULL,        -- PNOEE-38001085718
    country            TEXT NOT NULL,
    national_id        TEXT NOT NULL,
    given_name         TEXT NOT NULL,
    surname            TEXT NOT NULL,
    device_id          TEXT NOT NULL UNIQUE,
    device_public_key  BLOB NOT NULL,
    state              TEXT NOT NULL,        -- REGISTERING | IN_PREPARATION | READY | FROZEN | DISABLED
    created_at         INTEGER NOT NULL
);
CREATE INDEX accounts_by_semantics_id ON accounts(semantics_id, state);

CREATE TABLE account_keys (
    document_number          TEXT NOT NULL REFERENCES accounts(document_number),
    role                     TEXT NOT NULL,  -- auth | sign
    state                    TEXT NOT NULL,  -- SETUP | ACTIVE | VERIFIED_PENDING | DISABLED
    verified                 INTEGER NOT NULL DEFAULT 0,
    public_key               BLOB,           -- SEC1 compressed joint key
    epoch                    INTEGER NOT NULL DEFAULT 0,
    share                    BLOB,           -- sealed ServerShare, current epoch
    pending_share            BLOB,           -- sealed ServerShare of epoch + 1 (refresh)
    oprf_key                 BLOB NOT NULL,  -- sealed OPRF scalar
    unlock_proof_key         BLOB,           -- sealed K_proof
    failed_attempts          INTEGER NOT NULL DEFAULT 0,
    last_failed_at           INTEGER,
    token_hash               BLOB,           -- SHA-256(T_e)
    next_token_hash          BLOB,           -- SHA-256(T_{e+1}), until confirmed
    signatures_since_refresh INTEGER NOT NULL DEFAULT 0,
    refreshed_at             INTEGER NOT NULL,
    cert_serial              TEXT,
    cert_pem                 TEXT,
    PRIMARY KEY (document_number, role)
);

CREATE TABLE retired_tokens (
    document_number  TEXT NOT NULL,
    role             TEXT NOT NULL,
    token_hash       BLOB NOT NULL,
    retired_at       INTEGER NOT NULL,
    PRIMARY KEY (document_number, role, token_hash)
);

-- Single-use protocol states between device requests. A state is replaced
-- by compare-and-swap on its id and version, in the same transaction that
-- records the answer, so a replayed step finds nothing to run on.
CREATE TABLE protocol_states (
    id          TEXT PRIMARY KEY,
    version     INTEGER NOT NULL,
    kind        TEXT NOT NULL,
    blob        BLOB NOT NULL,
    created_at  INTEGER NOT NULL
);

CREATE TABLE evaluations (
    id               BLOB PRIMARY KEY,
    document_number  TEXT NOT NULL,
    role             TEXT NOT NULL,
    created_at       INTEGER NOT NULL,
    outcome          TEXT                    -- NULL | RIGHT | WRONG
);

CREATE TABLE sessions (
    id                TEXT PRIMARY KEY,
    rp_uuid           TEXT,                  -- NULL for PIN verification
    kind              TEXT NOT NULL,         -- AUTHENTICATION | SIGNATURE | PIN_VERIFICATION
    document_number   TEXT NOT NULL,
    role              TEXT NOT NULL,
    state             TEXT NOT NULL,         -- RUNNING | COMPLETE
    end_result        TEXT,
    request           TEXT NOT NULL,         -- JSON: what the RP asked for
    sign_run          BLOB NOT NULL,
    created_at        INTEGER NOT NULL,
    expires_at        INTEGER NOT NULL,
    result            TEXT                   -- JSON: signature, cert, interaction used…
);
CREATE INDEX sessions_by_account ON sessions(document_number, state);

CREATE TABLE request_nonces (
    device_id   TEXT NOT NULL,
    nonce       BLOB NOT NULL,
    expires_at  INTEGER NOT NULL,
    PRIMARY KEY (device_id, nonce)
);

CREATE TABLE revoked_certificates (
    serial      TEXT PRIMARY KEY,
    revoked_at  INTEGER NOT NULL
);

CREATE TABLE audit_log (
    seq              INTEGER PRIMARY KEY AUTOINCREMENT,
    document_number  TEXT NOT NULL,
    at               INTEGER NOT NULL,
    event            TEXT NOT NULL,
    detail           TEXT NOT NULL
);
CREATE INDEX audit_by_account ON audit_log(document_number, seq);

-- The audit log is append-only: the database itself refuses edits.
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
