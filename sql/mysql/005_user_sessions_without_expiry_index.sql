-- user_sessions without its index on expires_at: every login's row paid for it
-- (MariaDB CPU per row about 16 us with it, 11-12 without, bench/RESULTS.md),
-- and every trimmed row again, for the one reader that needed it, the purge of
-- expired rows every ten minutes. That purge now walks the primary key
-- (user_id first) in ranges (src/store/mysql/store.ts), and a user's reads and
-- trims were ranges of the primary key already.
--
-- MySQL cannot DROP INDEX IF EXISTS (MariaDB can), so the DROP runs only while
-- the index is there: the file stays re-runnable (see 001 and 004).
SET @usermgr_ddl = IF(
  (SELECT COUNT(*) FROM information_schema.statistics
    WHERE table_schema = DATABASE() AND table_name = 'user_sessions'
      AND index_name = 'user_sessions_expires_at') > 0,
  'ALTER TABLE user_sessions DROP INDEX user_sessions_expires_at',
  'DO 0');
PREPARE usermgr_ddl FROM @usermgr_ddl;
EXECUTE usermgr_ddl;
DEALLOCATE PREPARE usermgr_ddl;
