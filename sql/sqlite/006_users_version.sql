-- users.version; the SQLite twin of sql/mysql/006_users_version.sql (raised
-- by one on every write of a column a user row carries; the cache entry
-- carries it, and only a newer version replaces an entry). SQLite migrations
-- apply in one transaction, so the plain ALTER is all or nothing.
ALTER TABLE users ADD COLUMN version INTEGER NOT NULL DEFAULT 0;
