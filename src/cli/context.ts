import type { ZooRegistry } from "./zoo.js";

/** What a command may touch: its output streams, the environment and the zoo (injectable for tests). */
export interface CliContext {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  env: Readonly<Record<string, string | undefined>>;
  zoo: () => Promise<ZooRegistry | null>;
}
