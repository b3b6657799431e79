-- Which server instance holds each lease, and whether that instance is still alive. Every
-- instance renews its own row about once a second; a claim or takeover records the instance in
-- `idempotency_keys.lease_holder`. A row in progress whose holder has stopped renewing (it was
-- killed, or lost the database) can be taken over before its lease ends, so the calls a crashed
-- instance held wait seconds, not a whole lease. The lease version still fences every write:
-- a holder that was only slow finds its row taken over and writes nothing.
CREATE TABLE lease_holders (
  holder_id    BINARY(16)  NOT NULL,
  alive_until  DATETIME(6) NOT NULL,
  started_at   DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  PRIMARY KEY (holder_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
-- NULL: claimed by a build that records no holder (or with liveness off): only the lease counts.
ALTER TABLE idempotency_keys ADD COLUMN lease_holder BINARY(16) NULL AFTER claim_token;
