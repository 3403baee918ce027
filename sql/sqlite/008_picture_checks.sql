-- Picture names to check again once due; the SQLite twin of
-- sql/mysql/008_picture_checks.sql.
CREATE TABLE IF NOT EXISTS picture_checks (
  name TEXT NOT NULL PRIMARY KEY CHECK (length(name) <= 100),
  due_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE INDEX IF NOT EXISTS picture_checks_due ON picture_checks (due_at);
