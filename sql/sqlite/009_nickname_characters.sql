-- Nicknames of up to 256 code points; the SQLite twin of
-- sql/mysql/009_nickname_characters.sql. SQLite cannot change a CHECK in place,
-- so the table is made again with the same columns and indexes and the rows
-- copied over; SQLite migrations apply in one transaction, so this is all or
-- nothing. The columns are the ones of 001, 004 and 006, in their order.
CREATE TABLE users_009 (
  id INTEGER PRIMARY KEY,
  username TEXT NOT NULL COLLATE NOCASE CHECK (length(username) BETWEEN 1 AND 32),
  nickname TEXT NOT NULL CHECK (length(nickname) <= 256),
  password_hash TEXT NOT NULL CHECK (length(password_hash) <= 255),
  picture TEXT NOT NULL DEFAULT '' CHECK (length(picture) <= 100),
  sessions_valid_after INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  totp_secret TEXT NOT NULL DEFAULT '' CHECK (length(totp_secret) <= 100),
  totp_pending TEXT NOT NULL DEFAULT '' CHECK (length(totp_pending) <= 100),
  totp_last_step INTEGER NOT NULL DEFAULT 0,
  totp_recovery TEXT NOT NULL DEFAULT '' CHECK (length(totp_recovery) <= 500),
  version INTEGER NOT NULL DEFAULT 0
) STRICT;

INSERT INTO users_009 (id, username, nickname, password_hash, picture, sessions_valid_after,
  created_at, updated_at, totp_secret, totp_pending, totp_last_step, totp_recovery, version)
SELECT id, username, nickname, password_hash, picture, sessions_valid_after,
  created_at, updated_at, totp_secret, totp_pending, totp_last_step, totp_recovery, version
FROM users;

DROP TABLE users;

ALTER TABLE users_009 RENAME TO users;

CREATE UNIQUE INDEX users_username_uq ON users (username);

CREATE INDEX users_picture ON users (picture);
