-- users.version: raised by one on every write of a column a user row carries
-- (src/store/mysql/store.ts), so that "the version is still v" means "the row
-- is still the one read at v". Two things rest on it:
-- - a nickname update is one statement guarded by it (UPDATE ... WHERE id = ?
--   AND version = ?): when it matches, the new row is the row read plus the
--   change, with version v + 1, and is not read back;
-- - the cache entry carries it, and a write-through replaces an entry only
--   with a newer version (src/core/cached-users.ts), so a stale write-back
--   can never overwrite a newer record.
--
-- MySQL cannot ADD COLUMN IF NOT EXISTS (MariaDB can), so the ALTER runs only
-- while the column is missing: the file stays re-runnable (see 001 and 004).
-- An appended column with a default is an instant change on MariaDB 10.3+
-- and MySQL 8.0.12+.
SET @usermgr_ddl = IF(
  (SELECT COUNT(*) FROM information_schema.columns
    WHERE table_schema = DATABASE() AND table_name = 'users' AND column_name = 'version') = 0,
  'ALTER TABLE users ADD COLUMN version BIGINT UNSIGNED NOT NULL DEFAULT 0',
  'DO 0');
PREPARE usermgr_ddl FROM @usermgr_ddl;
EXECUTE usermgr_ddl;
DEALLOCATE PREPARE usermgr_ddl;
