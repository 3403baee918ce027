/**
 * Picture files no user names, removed even when the process that should
 * have removed them stopped first. A change that may leave a picture unused
 * (an upload: the new name and the replaced one; a deletion: the deleted
 * user's picture) lists its names in the store's `picture_checks` before it
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
/** Names checked per run; more wait for the next runs. */
const BATCH = 200;

export class PictureChecks {
  private timer: ReturnType<typeof setInterval> | null = null;
  private running: Promise<number> | null = null;
  /** The list could not be read at the last run: warned once, until it can again. */
  private unreadable = false;

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

  /** No further runs; resolves when a run under way has ended. */
  async stop(): Promise<void> {
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
    let due: PictureCheck[];
    try {
      due = await this.store.duePictureChecks(this.now(), BATCH);
    } catch (err) {
      if (!this.unreadable && RpcError.from(err).code !== Status.UNAVAILABLE) {
        this.log.warn({ err }, 'cannot read the picture checks kept in the store');
      }
      this.unreadable = true;
      return 0;
    }
    this.unreadable = false;
    const checked: PictureCheck[] = [];
    for (const check of due) {
      try {
        await this.removeIfUnused(check.name);
        checked.push(check);
      } catch (err) {
        // The store or the files are away: the row stays for the next run.
        this.log.warn({ err, picture: check.name }, 'checking a picture no user may name failed');
      }
    }
    if (checked.length === 0) return 0;
    try {
      await this.store.removePictureChecks(checked);
    } catch {
      // Checked all the same; the next run checks them again, harmlessly.
    }
    return checked.length;
  }
}
