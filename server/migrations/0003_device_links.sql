-- Kaksik server schema, version 3: device-link flows (PROTOCOL.md §6).

-- A session an RP started for a device link: the token in the link and the
-- sessionSecret that keys its authCode (sealed under the master key).
CREATE TABLE device_links (
    token        TEXT PRIMARY KEY,
    session_id   TEXT NOT NULL UNIQUE REFERENCES sessions(id),
    secret       BLOB NOT NULL,
    created_at   INTEGER NOT NULL
);

-- RP request nonces: the same nonce from the same RP within the
-- idempotency window answers with the session it created the first time.
CREATE TABLE rp_nonces (
    rp_uuid      TEXT NOT NULL,
    nonce        TEXT NOT NULL,
    session_id   TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (rp_uuid, nonce)
);
