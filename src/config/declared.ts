/**
 * Every variable either server reads, from the sections' own declarations:
 * what `.env.example`, README's configuration table and the deployment
 * files are checked against.
 */
import { passwordVariables, workerIdVariable } from './accounts.ts';
import { cacheVariables, redisVariables } from './cache.ts';
import { httpVariables } from './http.ts';
import { rateLimitVariables } from './limits.ts';
import { pictureVariables, s3Variables } from './pictures.ts';
import { poolVariables } from './pool.ts';
import { adminVariables, linkVariables, sessionVariables } from './secrets.ts';
import { sharedVariables } from './shared.ts';
import { dataDirVariable, mysqlVariables } from './store.ts';
import { tcpVariables } from './tcp.ts';
import type { Variable } from './variable.ts';

export function declaredVariables(): Variable<unknown>[] {
  const sections: Record<string, Variable<unknown>>[] = [
    sharedVariables,
    httpVariables,
    poolVariables,
    tcpVariables,
    linkVariables,
    { dataDirVariable, workerIdVariable },
    mysqlVariables,
    redisVariables,
    cacheVariables,
    sessionVariables,
    adminVariables,
    passwordVariables,
    rateLimitVariables,
    pictureVariables,
    s3Variables,
  ];
  return sections.flatMap((section) => Object.values(section));
}
