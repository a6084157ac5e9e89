const BACKOFF_BASE_MS = 25;
const BACKOFF_CAP_MS = 500;

/** Full jitter (AWS Architecture Blog, "Exponential Backoff And Jitter"): spreads out competing retries. */
export function fullJitter(attempt: number): number {
  return Math.random() * Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** attempt);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
