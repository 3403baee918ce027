-- Picture names to check again once due_at has passed: whether any user still
-- names them, and if none does, their files go. A change that may leave a
-- picture unused writes its names here before it stores or deletes anything:
-- an upload (the new name and the one it replaces), a deletion (the deleted
-- user's picture). Every TCP server checks the names due every minute and
-- deletes their rows (src/core/picture-checks.ts). Why: the removal that
-- follows such a change runs in the background of the process that made it,
-- and a TCP server that stopped without warning before or during it left the
-- files behind for good (a data audit).
CREATE TABLE IF NOT EXISTS picture_checks (
  name VARCHAR(100) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  due_at BIGINT NOT NULL,
  PRIMARY KEY (name),
  KEY picture_checks_due (due_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
