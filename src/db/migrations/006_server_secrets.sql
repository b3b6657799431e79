-- Secrets the service generates for itself and every instance sharing this database must agree
-- on. `page_token_key` (32 random bytes) seals ListCharges page tokens when
-- PAYMENTS_PAGE_TOKEN_KEY is not configured: the first instance to need it inserts it, and a
-- duplicate-key no-op leaves the first value in place for everyone else.
CREATE TABLE server_secrets (
  name        VARCHAR(64)   CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  secret      VARBINARY(64) NOT NULL,
  created_at  DATETIME(6)   NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  PRIMARY KEY (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
