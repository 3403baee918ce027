-- The sessions each user is logged in with; the SQLite twin of
-- sql/mysql/003_user_sessions.sql (same columns, same widths).
CREATE TABLE IF NOT EXISTS user_sessions (
  session_id TEXT NOT NULL,
  user_id INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  persistent INTEGER NOT NULL,
  address TEXT NOT NULL CHECK (length(address) <= 64),
  user_agent TEXT NOT NULL CHECK (length(user_agent) <= 256),
  PRIMARY KEY (user_id, created_at, session_id)
) STRICT, WITHOUT ROWID;

CREATE INDEX IF NOT EXISTS user_sessions_expires_at ON user_sessions (expires_at);
