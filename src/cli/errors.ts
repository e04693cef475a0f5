import { ConvkitError } from "../tensor/errors.js";

/**
 * How the CLI reports failures: one line on stderr, exit code 2 for a command line that cannot be understood
 * (unknown option, malformed value), 1 for a command that was understood but failed (unknown model, missing
 * or invalid file, a graph that does not fit the input). The stack trace only with CONVKIT_DEBUG=1.
 */

/** A malformed command line: exit code 2. */
export class UsageError extends ConvkitError {}

/** A well-formed command that cannot be carried out (model not found, unreadable file): exit code 1. */
export class CliError extends ConvkitError {}

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

/** Text of an error as one line (library messages are single lines; anything else is folded). */
export function oneLine(message: string): string {
  return message.replace(/\s*\n\s*/g, " ").trim();
}

/** The exit code of an error thrown while running a command. */
export function exitCodeOf(error: unknown): number {
  return error instanceof UsageError ? EXIT_USAGE : EXIT_FAILURE;
}
