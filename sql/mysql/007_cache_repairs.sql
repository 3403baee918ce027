-- Cache writes that failed, kept until one succeeds: a revoked session the
-- Redis mirror missed (kind 1, item = session id, until the token expires),
-- or a user whose cached row may be stale (kind 2, item = lowercase username,
-- until the cached row has expired anyway). Written only when Redis did not
-- take the write, so the table is empty while Redis is healthy; every TCP
-- server writes what it finds here every few seconds and deletes it once
-- written (src/core/cache-repairs.ts). Why in the store: a logout whose mirror
-- write failed was kept in the memory of the TCP server that took it, and lost
-- when that server stopped before Redis answered again; the token then worked
-- on every server for the rest of its life (a reliability audit).
CREATE TABLE IF NOT EXISTS cache_repairs (
  kind TINYINT UNSIGNED NOT NULL,
  item VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  expires_at BIGINT NOT NULL,
  PRIMARY KEY (kind, item)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
