/**
 * The value stored under `key` in a record keyed by names from outside the program (files, command lines,
 * users' layer names), or undefined when there is none. Unlike `record[key]`, a name such as "constructor",
 * "toString" or "__proto__" is an ordinary key: it is never found on Object.prototype.
 */
export function own<T>(record: Readonly<Record<string, T>> | undefined, key: string): T | undefined {
  return record !== undefined && Object.hasOwn(record, key) ? record[key] : undefined;
}
