// Half of a deliberate import cycle, for test/architecture.test.ts.
import type { a } from './a.ts';

export const b = (): number => 0 as ReturnType<typeof a>;
