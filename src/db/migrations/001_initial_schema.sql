-- Merchants and their API keys. Only a SHA-256 of each key is stored: a
-- database dump never reveals a usable key.
CREATE TABLE merchants (
  id          VARCHAR(40)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  name        VARCHAR(200) NOT NULL,
  created_at  DATETIME(6)  NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  PRIMARY KEY (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE api_keys (
  key_hash     BINARY(32)  NOT NULL,
  merchant_id  VARCHAR(40) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  key_prefix   VARCHAR(16) CHARACTER SET ascii NOT NULL,
  created_at   DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  revoked_at   DATETIME(6) NULL,
  PRIMARY KEY (key_hash),
  KEY ix_api_keys_merchant (merchant_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- One row per (merchant, idempotency key). The unique index is the only
-- arbiter of "who runs this request": a claim is one INSERT, and losing it is
-- a duplicate-key error, so no check-then-insert race and no process memory.
--   state           in_progress | completed
--   recovery_point  started | provider_requested | charge_recorded | completed
--   locked_until    lease of the attempt running it (database clock)
--   lease_version   fencing token: bumped on every takeover; every write of an
--                   attempt is conditional on the version it holds
--   response_*      the stored outcome replayed to every retry
CREATE TABLE idempotency_keys (
  id                   BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  merchant_id          VARCHAR(40)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  idempotency_key      VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  method               VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  fingerprint          BINARY(32)   NOT NULL,
  fingerprint_version  SMALLINT UNSIGNED NOT NULL,
  state                VARCHAR(16)  CHARACTER SET ascii NOT NULL,
  recovery_point       VARCHAR(32)  CHARACTER SET ascii NOT NULL,
  locked_until         DATETIME(6)  NULL,
  lease_version        INT UNSIGNED NOT NULL DEFAULT 1,
  response_code        SMALLINT     NULL,
  response_message     TEXT         NULL,
  response_body        MEDIUMBLOB   NULL,
  response_trailers    BLOB         NULL,
  created_at           DATETIME(6)  NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  expires_at           DATETIME(6)  NOT NULL,
  PRIMARY KEY (id),
  UNIQUE KEY uq_idempotency_merchant_key (merchant_id, idempotency_key),
  KEY ix_idempotency_expires (expires_at),
  KEY ix_idempotency_lease (state, locked_until)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- Charges. Amounts are in minor units (BIGINT), currency is lower-case ISO
-- 4217. `seq` orders pages newest first; `id` is the public identifier.
CREATE TABLE charges (
  seq                  BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  id                   VARCHAR(40)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  merchant_id          VARCHAR(40)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  idempotency_key_id   BIGINT UNSIGNED NULL,
  status               VARCHAR(32)  CHARACTER SET ascii NOT NULL,
  amount               BIGINT       NOT NULL,
  amount_captured      BIGINT       NOT NULL DEFAULT 0,
  amount_refunded      BIGINT       NOT NULL DEFAULT 0,
  currency             CHAR(3)      CHARACTER SET ascii NOT NULL,
  customer_id          VARCHAR(255) NOT NULL DEFAULT '',
  description          VARCHAR(1000) NOT NULL DEFAULT '',
  metadata             TEXT         NOT NULL,
  capture_method       VARCHAR(16)  CHARACTER SET ascii NOT NULL,
  payment_method       VARCHAR(255) NOT NULL,
  failure_code         VARCHAR(64)  NOT NULL DEFAULT '',
  failure_message      VARCHAR(500) NOT NULL DEFAULT '',
  provider_reference   VARCHAR(255) NOT NULL DEFAULT '',
  created_at           DATETIME(6)  NOT NULL,
  updated_at           DATETIME(6)  NOT NULL,
  PRIMARY KEY (seq),
  UNIQUE KEY uq_charges_id (id),
  UNIQUE KEY uq_charges_idempotency (idempotency_key_id),
  KEY ix_charges_merchant_seq (merchant_id, seq),
  KEY ix_charges_merchant_customer_seq (merchant_id, customer_id, seq)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE refunds (
  id                   VARCHAR(40)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  merchant_id          VARCHAR(40)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  charge_id            VARCHAR(40)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  idempotency_key_id   BIGINT UNSIGNED NULL,
  amount               BIGINT       NOT NULL,
  currency             CHAR(3)      CHARACTER SET ascii NOT NULL,
  status               VARCHAR(16)  CHARACTER SET ascii NOT NULL,
  reason               VARCHAR(32)  CHARACTER SET ascii NOT NULL,
  provider_reference   VARCHAR(255) NOT NULL DEFAULT '',
  created_at           DATETIME(6)  NOT NULL,
  PRIMARY KEY (id),
  UNIQUE KEY uq_refunds_idempotency (idempotency_key_id),
  KEY ix_refunds_merchant_charge (merchant_id, charge_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
