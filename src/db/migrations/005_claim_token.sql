-- A claim proves it committed. Each claiming INSERT carries a random token;
-- the claimer then reads the row for its key and has won only if that row
-- carries its token. On a multi-primary cluster (Galera) the row an INSERT
-- hands back can be one a certification conflict rolled back (the server
-- re-runs the autocommit statement, and the row that commits has another id);
-- the token, unlike the id, is the same in every run of the statement.
ALTER TABLE idempotency_keys ADD COLUMN claim_token BINARY(16) NULL AFTER lease_version;
