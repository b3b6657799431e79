-- The claim in one round trip that costs a retry only a read: an existing
-- key is returned without executing any write; a new key is inserted (the
-- unique index still arbitrates: a concurrent INSERT of the same key fails
-- with 1062 and the caller reads the winner's row), then returned.
-- DELIMITER works as in the mysql command-line client.
DELIMITER $$
CREATE PROCEDURE idempotency_claim(
  IN p_merchant_id VARCHAR(40) CHARACTER SET ascii, IN p_key VARCHAR(255) CHARACTER SET ascii,
  IN p_method VARCHAR(255) CHARACTER SET ascii, IN p_fingerprint BINARY(32), IN p_fingerprint_version SMALLINT UNSIGNED,
  IN p_request_body MEDIUMBLOB, IN p_recovery_point VARCHAR(32) CHARACTER SET ascii, IN p_lease_seconds INT, IN p_ttl_seconds INT)
BEGIN
  DECLARE v_id BIGINT UNSIGNED DEFAULT NULL;
  DECLARE v_won TINYINT DEFAULT 0;
  SET v_id = (SELECT id FROM idempotency_keys WHERE merchant_id = p_merchant_id AND idempotency_key = p_key);
  IF v_id IS NULL THEN
    INSERT INTO idempotency_keys (merchant_id, idempotency_key, method, fingerprint, fingerprint_version, request_body,
        state, recovery_point, locked_until, lease_version, expires_at)
      VALUES (p_merchant_id, p_key, p_method, p_fingerprint, p_fingerprint_version, p_request_body, 'in_progress',
        p_recovery_point, NOW(6) + INTERVAL p_lease_seconds SECOND, 1, NOW(6) + INTERVAL p_ttl_seconds SECOND);
    SET v_id = LAST_INSERT_ID();
    SET v_won = 1;
  END IF;
  SELECT id, merchant_id, idempotency_key, method, fingerprint, fingerprint_version, state,
      recovery_point, locked_until, lease_version, response_code, response_message, response_body,
      response_trailers, created_at, expires_at, NOW(6) AS db_now, v_won AS won
    FROM idempotency_keys WHERE id = v_id;
END$$
DELIMITER ;
