import { setDefaultTimeout } from 'bun:test';

// Integration tests start real servers and talk to MariaDB and Redis: give
// them room, but never let one hang the run. Bun applies this only to the
// first test file of a run (every later file is back at 5 s), so the npm
// scripts pass the same value as `--timeout`, which covers every file; this
// line covers `bun test <one file>` run by hand.
setDefaultTimeout(30_000);
