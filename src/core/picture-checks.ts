/**
 * Picture files no user names, removed even when the process that should
 * have removed them stopped first. A change that may leave a picture unused
 * (an upload: the new name and the replaced one; a picture taken away; a
 * deletion: the deleted user's picture) lists its names in the store's `picture_checks` before it
 * stores or deletes anything, due CHECK_AFTER_MS later. Every TCP server runs
 * this every INTERVAL_MS: each name due is removed unless a user names it
 * (Pictures.release's own check, safe against an upload taking the name at
 * the same moment), and its row deleted.
 *
 * Why: the removal that follows such a change runs in the background of the
 * process that made it; a TCP server that stopped without warning (kill -9,
 * out of memory) before or during it left the files for good, and nothing
 * ever looked at them again (a data audit).
 *
 * Invariants:
 * - a row is deleted only after its name was checked, and only as listed (a
 *   later change of the same name has a later time and stays);
 * - checking is idempotent, so servers racing over one name do no harm; a
 *   name checked too early (an upload slower than CHECK_AFTER_MS) is put back
 *   by the upload, which re-checks its files after its update;
 * - in normal running each upload adds one row and the next run deletes it:
 *   a run is one small read and a few statements a minute.
 */
import type { Logger } from '../log.ts';
import type { PictureCheck, UserStore } from '../store/port.ts';
import { RpcError } from '../wire/rpc-error.ts';
import { Status } from '../wire/status.ts';

/** How long after a change its names are checked: longer than any upload takes. */
export const CHECK_AFTER_MS = 5 * 60_000;
/** How often the due checks are read. */
const INTERVAL_MS = 60_000;
/** Names read at a time; a run reads on while batches come back full, for at most RUN_MS. */
const BATCH = 200;
const RUN_MS = 20_000;

export class PictureChecks {
  private timer: ReturnType<typeof setInterval> | null = null;
  private running: Promise<number> | null = null;
  /** The list could not be read at the last run: warned once, until it can again. */
  private unreadable = false;
  private stopping = false;

  constructor(
    private readonly store: UserStore,
    /** Removes a name's files unless a user names it (Pictures.removeIfUnused). */
    private readonly removeIfUnused: (name: string) => Promise<void>,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  /** Runs every INTERVAL_MS until stop(); the first run after one interval. */
  start(intervalMs = INTERVAL_MS): void {
    this.timer = setInterval(() => void this.run(), intervalMs);
    this.timer.unref();
  }

  /** No further runs; a run under way stops after its current name, and this resolves then. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    await this.running;
  }

  /** Checks the names due (one run at a time); how many were checked. */
  run(): Promise<number> {
    this.running ??= this.check().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private async check(): Promise<number> {
    const started = performance.now();
    const failed = new Set<string>();
    let lastError: unknown = null;
    let checked = 0;
    for (;;) {
      let due: PictureCheck[];
      const limit = BATCH + failed.size;
      try {
        due = await this.store.duePictureChecks(this.now(), limit);
      } catch (err) {
        if (!this.unreadable && RpcError.from(err).code !== Status.UNAVAILABLE) {
          this.log.warn({ err }, 'cannot read the picture checks kept in the store');
        }
        this.unreadable = true;
        break;
      }
      this.unreadable = false;
      // Names that failed in this run are skipped: they stay for the next one.
      const batch = due.filter((check) => !failed.has(check.name));
      const done: PictureCheck[] = [];
      for (const check of batch) {
        if (this.stopping) break;
        try {
          await this.removeIfUnused(check.name);
          done.push(check);
        } catch (err) {
          // The store or the files are away: the row stays for the next run.
          failed.add(check.name);
          lastError = err;
        }
      }
      checked += done.length;
      if (done.length > 0) {
        try {
          await this.store.removePictureChecks(done);
        } catch {
          // Checked all the same; the next run checks them again, harmlessly (reading
          // on now would only find the same rows).
          break;
        }
      }
      // A full batch may have more behind it; one with nothing done would only repeat.
      const more = due.length === limit && done.length > 0;
      if (!more || this.stopping || performance.now() - started > RUN_MS) break;
    }
    if (failed.size > 0)
      this.log.warn(
        { err: lastError, failed: failed.size, checked },
        'checking pictures no user may name failed; they are checked again in a minute',
      );
    return checked;
  }
}
