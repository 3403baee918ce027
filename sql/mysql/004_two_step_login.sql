-- Two-step login (TOTP, RFC 6238), optional per user. Four columns on users,
-- so that every change of it is one single-row statement (atomic without a
-- transaction) and a deleted user takes it along:
-- totp_secret: the confirmed secret, sealed (AES-256-GCM, src/core/totp-keys.ts);
--   '' when two-step login is off. Selected with the user (and cached), so a
--   login knows whether it needs a code without a second read.
-- totp_pending: a secret being set up, sealed the same way, until confirmed.
-- totp_last_step: the last 30-second step whose code was accepted; only a later
--   one is accepted next (each code works once).
-- totp_recovery: the SHA-256 of each unused recovery code, base64url, as
--   ',h1,h2,...,' so that using one is a REPLACE of ',h,' (one statement).
--
-- MySQL cannot ADD COLUMN IF NOT EXISTS (MariaDB can), so the ALTER runs only
-- when the first column is missing: the file stays re-runnable (see 001). One
-- ALTER adds all four, so they come together or not at all; appended columns
-- with defaults are an instant change on MariaDB 10.3+ and MySQL 8.0.12+.
SET @usermgr_ddl = IF(
  (SELECT COUNT(*) FROM information_schema.columns
    WHERE table_schema = DATABASE() AND table_name = 'users' AND column_name = 'totp_secret') = 0,
  'ALTER TABLE users
    ADD COLUMN totp_secret VARCHAR(100) CHARACTER SET ascii COLLATE ascii_bin NOT NULL DEFAULT \'\',
    ADD COLUMN totp_pending VARCHAR(100) CHARACTER SET ascii COLLATE ascii_bin NOT NULL DEFAULT \'\',
    ADD COLUMN totp_last_step BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN totp_recovery VARCHAR(500) CHARACTER SET ascii COLLATE ascii_bin NOT NULL DEFAULT \'\'',
  'DO 0');
PREPARE usermgr_ddl FROM @usermgr_ddl;
EXECUTE usermgr_ddl;
DEALLOCATE PREPARE usermgr_ddl;
