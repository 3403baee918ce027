-- Cache writes that failed, kept until one succeeds; the SQLite twin of
-- sql/mysql/007_cache_repairs.sql.
CREATE TABLE IF NOT EXISTS cache_repairs (
  kind INTEGER NOT NULL,
  item TEXT NOT NULL,
  expires_at INTEGER NOT NULL,
  PRIMARY KEY (kind, item)
) STRICT, WITHOUT ROWID;
