-- Kaksik server schema, version 2: PIN change (PROTOCOL.md §2).
-- The new PIN's sealed K_proof, kept beside the current one until the
-- device confirms it has re-sealed its vault (or an unlock proof shows
-- which of the two the device's vault holds).
ALTER TABLE account_keys ADD COLUMN pending_unlock_proof_key BLOB;
