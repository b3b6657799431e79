-- Every value the service accepts must fit the column it lands in, and an
-- outcome that cannot be stored or decided must stop being retried.
--
-- charges.metadata: validation accepts 50 entries of 40 + 500 characters; as
-- JSON with 4-byte characters and \u escapes that is up to about 170 KB, past
-- TEXT's 65,535 bytes. MEDIUMTEXT (16 MB) holds every accepted value.
ALTER TABLE charges MODIFY metadata MEDIUMTEXT NOT NULL;

-- Trailers of a stored error carry its google.rpc details; never let their
-- size decide whether an outcome can be stored.
ALTER TABLE idempotency_keys MODIFY response_trailers MEDIUMBLOB NULL;

-- state gains `needs_attention`: an attempt that may have charged but whose
-- outcome cannot be stored (a permanent storage error) or decided (unknown
-- and older than the provider's idempotency window) is parked for an
-- operator instead of being re-sent. attention_reason is a short code, never
-- customer data. The reaper deletes completed rows only, so a parked row
-- stays until an operator resolves it.
ALTER TABLE idempotency_keys ADD COLUMN attention_reason VARCHAR(64) CHARACTER SET ascii NULL AFTER recovery_point;
