/** How accounts are kept: ids, password hashing and the verified-credential memo. */
import type { Reader } from './reader.ts';
import { int } from './variable.ts';

export const workerIdVariable = int('WORKER_ID', {
  default: 0,
  min: 0,
  max: 1023,
  doc: 'different on every TCP server (part of every new user id)',
});

export const passwordVariables = {
  memoryKiB: int('ARGON2_MEMORY_KIB', {
    default: 19_456,
    min: 1024,
    max: 4 * 1024 * 1024,
    doc: 'argon2id memory; a change re-hashes at next login',
  }),
  timeCost: int('ARGON2_TIME_COST', {
    default: 2,
    min: 1,
    max: 100,
    doc: 'argon2id iterations; a change re-hashes at next login',
  }),
  concurrency: int('HASH_CONCURRENCY', {
    default: navigator.hardwareConcurrency || 2,
    min: 1,
    max: 1024,
    computed: true,
    doc: 'slow hashes at once (default: the number of cores)',
  }),
  maxWaiting: int('HASH_QUEUE', {
    default: 256,
    min: 0,
    max: 100_000,
    doc: 'slow hashes waiting at most; beyond, or when they would not end in time, 429',
  }),
  maxWaitingPerClient: int('HASH_QUEUE_PER_ADDRESS', {
    default: 8,
    min: 1,
    max: 100_000,
    doc: 'slow hashes waiting per client address (IPv6: per /64); beyond, 429',
  }),
  memoTtlS: int('MEMO_TTL_S', {
    default: 600,
    min: 0,
    max: 86_400,
    doc: 'how long the verified-credential memo keeps an entry',
  }),
  memoMaxEntries: int('MEMO_MAX_ENTRIES', {
    default: 100_000,
    min: 0,
    max: 10_000_000,
    doc: 'entries of the verified-credential memo',
  }),
};

export function readAccounts(read: Reader) {
  return {
    workerId: read.read(workerIdVariable),
    // Set to nothing: a Kubernetes label the cluster does not have (the pod index, before
    // 1.28) gives every pod 0, which only id clashes told (an operator audit).
    workerIdEmpty: read.setEmpty(workerIdVariable),
    passwords: read.all(passwordVariables),
  };
}
