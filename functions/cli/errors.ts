/** A mistake of the person at the terminal: one line that says what to do, no stack. */
export class CliError extends Error {
  override readonly name = 'CliError';
}
