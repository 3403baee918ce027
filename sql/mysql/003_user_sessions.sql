-- The sessions each user is logged in with, for "Where you're logged in".
-- Validity does not depend on this table (a session is its signed token, minus
-- the revoked list and sessions_valid_after); it records what a login saw, to
-- show it to the user and to end a session by name. Written in batches behind
-- the logins (src/core/session-list.ts), kept to a bounded number of rows per
-- user, and purged once expired.
-- address, user_agent: printable ASCII, cut to the column width upstream.
-- expires_at: of the latest token of the session (renewals raise it).
-- The primary key starts with the user: a login's row lands next to the user's
-- others (a random session id first made InnoDB insert all over the clustered
-- index: MariaDB CPU per row 28 us against 16, bench/RESULTS.md), and listing
-- or trimming a user's sessions is a range of the primary key.
CREATE TABLE IF NOT EXISTS user_sessions (
  session_id CHAR(22) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  user_id BIGINT UNSIGNED NOT NULL,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  persistent TINYINT NOT NULL,
  address VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  user_agent VARCHAR(256) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  PRIMARY KEY (user_id, created_at, session_id),
  KEY user_sessions_expires_at (expires_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
