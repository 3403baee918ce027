import { setDefaultTimeout } from 'bun:test';

// Integration tests start real servers and talk to MariaDB and Redis: give
// them room, but never let one hang the run.
setDefaultTimeout(30_000);
