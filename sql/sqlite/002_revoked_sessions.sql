-- Sessions ended by a logout before their expiry; the SQLite twin of
-- sql/mysql/002_revoked_sessions.sql.
CREATE TABLE IF NOT EXISTS revoked_sessions (
  session_id TEXT NOT NULL PRIMARY KEY,
  user_id INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE INDEX IF NOT EXISTS revoked_sessions_expires_at ON revoked_sessions (expires_at);
