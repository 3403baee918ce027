/**
 * Single flight: concurrent calls for one key share one promise. Invariants:
 * - at most one call per key is under way; later calls for the key get its
 *   promise until it settles, and the key is forgotten as it settles;
 * - forget(key) makes the next call start anew: call it on every write to
 *   what the key reads, so that no call made after the write joins a read
 *   begun before it.
 */
export class SingleFlight<T> {
  private readonly flights = new Map<string, Promise<T>>();

  run(key: string, start: () => Promise<T>): Promise<T> {
    const current = this.flights.get(key);
    if (current !== undefined) return current;
    const flight = start();
    this.flights.set(key, flight);
    const settle = () => {
      if (this.flights.get(key) === flight) this.flights.delete(key);
    };
    flight.then(settle, settle);
    return flight;
  }

  forget(key: string): void {
    this.flights.delete(key);
  }
}
