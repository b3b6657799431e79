-- The canonical request of each claim, so that a row left in progress (its
-- process died, its client never retried) can be resumed by the server's
-- background completer without the client.
ALTER TABLE idempotency_keys ADD COLUMN request_body MEDIUMBLOB NULL AFTER fingerprint_version;
