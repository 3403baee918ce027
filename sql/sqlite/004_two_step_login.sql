-- Two-step login; the SQLite twin of sql/mysql/004_two_step_login.sql (same
-- columns, same meaning). SQLite migrations apply in one transaction, so
-- plain ALTERs are all or nothing.
ALTER TABLE users ADD COLUMN totp_secret TEXT NOT NULL DEFAULT '' CHECK (length(totp_secret) <= 100);

ALTER TABLE users ADD COLUMN totp_pending TEXT NOT NULL DEFAULT '' CHECK (length(totp_pending) <= 100);

ALTER TABLE users ADD COLUMN totp_last_step INTEGER NOT NULL DEFAULT 0;

ALTER TABLE users ADD COLUMN totp_recovery TEXT NOT NULL DEFAULT '' CHECK (length(totp_recovery) <= 500);
