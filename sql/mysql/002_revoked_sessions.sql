-- Sessions ended by a logout before their expiry. A row is only needed until
-- expires_at (the token is invalid after that anyway); the index on
-- expires_at serves both "list the live ones" and the purge of the rest.
CREATE TABLE IF NOT EXISTS revoked_sessions (
  session_id CHAR(22) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  user_id BIGINT UNSIGNED NOT NULL,
  expires_at BIGINT NOT NULL,
  PRIMARY KEY (session_id),
  KEY revoked_sessions_expires_at (expires_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
