/**
 * Thrown when the machinery that runs a flow did not answer (for the orchestrated flow: Temporal,
 * or the worker of the saga's task queue): it cannot be reached, or the deadline passed. The API
 * answers it 503 (refused) or 504 (timed out); `outcome` says what became of a command.
 */
export class FlowUnavailableError extends Error {
  constructor(
    /** True when the deadline passed (the call may have got through); false when it was refused. */
    readonly timedOut: boolean,
    message: string,
    /** What became of the command, for commands: applied or not, or that it may still be. */
    readonly outcome: string | undefined,
    options?: { cause?: unknown },
  ) {
    super(outcome ? `${message}: ${outcome}` : message, options);
    this.name = 'FlowUnavailableError';
  }
}
