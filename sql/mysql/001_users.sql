-- Accounts. Works on MySQL 5.7, 8.x and MariaDB 10.6+.
-- DDL is not transactional in MySQL: if this file fails halfway the version is
-- not recorded and the whole file runs again, hence IF NOT EXISTS everywhere.
--
-- id: snowflake ids up to 2^63-1, chosen by the application (no AUTO_INCREMENT).
-- username: validated upstream to [A-Za-z0-9_.-]{3,32}; ascii_general_ci makes
--   the unique index case-insensitive while the stored spelling is kept.
-- nickname: 64 code points of any script or emoji, compared byte for byte.
-- picture: content-hash name of the stored picture, '' when none; indexed so
--   that "is this picture still used by someone" is one index probe.
-- *_at, sessions_valid_after: milliseconds since the epoch.
CREATE TABLE IF NOT EXISTS users (
  id BIGINT UNSIGNED NOT NULL,
  username VARCHAR(32) CHARACTER SET ascii COLLATE ascii_general_ci NOT NULL,
  nickname VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  password_hash VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  picture VARCHAR(100) CHARACTER SET ascii COLLATE ascii_bin NOT NULL DEFAULT '',
  sessions_valid_after BIGINT NOT NULL DEFAULT 0,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  PRIMARY KEY (id),
  UNIQUE KEY users_username_uq (username),
  KEY users_picture (picture)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
