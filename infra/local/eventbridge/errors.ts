/** A request-level rejection, raised as the `ValidationException` the SDK would surface. */
export class EventBusValidationError extends Error {
  override readonly name = 'ValidationException';
}
