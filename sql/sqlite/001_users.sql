-- Accounts; the SQLite twin of sql/mysql/001_users.sql (same columns, same rules).
-- STRICT tables reject values of the wrong type instead of storing them.
-- id: INTEGER PRIMARY KEY is the 64-bit rowid, up to 2^63-1, always given by
--   the application.
-- username: COLLATE NOCASE makes the unique index case-insensitive (ASCII
--   folding, which is all a username needs) while the stored spelling is kept.
-- The CHECKs mirror the MySQL column widths so that both engines refuse the
-- same over-long values (lengths count code points, as VARCHAR(n) does).
CREATE TABLE IF NOT EXISTS users (
  id INTEGER PRIMARY KEY,
  username TEXT NOT NULL COLLATE NOCASE CHECK (length(username) BETWEEN 1 AND 32),
  nickname TEXT NOT NULL CHECK (length(nickname) <= 64),
  password_hash TEXT NOT NULL CHECK (length(password_hash) <= 255),
  picture TEXT NOT NULL DEFAULT '' CHECK (length(picture) <= 100),
  sessions_valid_after INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
) STRICT;

CREATE UNIQUE INDEX IF NOT EXISTS users_username_uq ON users (username);

CREATE INDEX IF NOT EXISTS users_picture ON users (picture);
