/** An error as it travels on the wire. `code` is a FlameErrorCode. */
export interface WireError {
  readonly code: string;
  readonly name: string;
  readonly message: string;
  readonly stack?: string;
}
