// Search as you type: every query starts at once, with no wait for a pause in the typing (a
// keystroke is answered as soon as the server answers), and starting one aborts the one
// before, so an answer never replaces the answer of a newer query.

export interface Latest<Q, A> {
  /**
   * Starts `query` now. Resolves to its answer, or to `undefined` when a newer query (or
   * `abort`) superseded it before it was answered; rejects with its error otherwise.
   */
  start(query: Q): Promise<{ answer: A } | undefined>;
  /** Aborts the query in flight, if any. */
  abort(): void;
}

export function latest<Q, A>(run: (query: Q, signal: AbortSignal) => Promise<A>): Latest<Q, A> {
  let current: AbortController | null = null;
  return {
    async start(query) {
      current?.abort();
      const mine = new AbortController();
      current = mine;
      try {
        const answer = await run(query, mine.signal);
        return current === mine && !mine.signal.aborted ? { answer } : undefined;
      } catch (error) {
        if (current !== mine || mine.signal.aborted) return undefined;
        throw error;
      }
    },
    abort() {
      current?.abort();
      current = null;
    },
  };
}
