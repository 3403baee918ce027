-- user_sessions without its index on expires_at, as on MySQL
-- (sql/mysql/005_user_sessions_without_expiry_index.sql): each login's row no
-- longer pays for it; the purge of expired rows reads the table.
DROP INDEX IF EXISTS user_sessions_expires_at;
