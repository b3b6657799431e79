-- Stripe keeps two codes for a failed charge: `failure_code` is the error
-- code (card_declined, expired_card, incorrect_cvc, processing_error, ...)
-- and `decline_code` the card network's reason (generic_decline,
-- insufficient_funds, lost_card, ...). Before this migration `failure_code`
-- held the decline code; existing rows keep what they have.
ALTER TABLE charges ADD COLUMN decline_code VARCHAR(64) NOT NULL DEFAULT '' AFTER failure_code;
