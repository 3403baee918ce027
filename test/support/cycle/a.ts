// Half of a deliberate import cycle, for test/architecture.test.ts.
import { b } from './b.ts';

export const a = (): number => b() + 1;
