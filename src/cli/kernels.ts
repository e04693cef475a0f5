import { chooseKernels, type KernelBackend } from "../kernels/wasm/index.js";
import { CliError, UsageError } from "./errors.js";

/** `--kernels auto|wasm|reference` for commands that execute a model. */

export const KERNEL_CHOICES = ["auto", "wasm", "reference"] as const;
export type KernelChoice = (typeof KERNEL_CHOICES)[number];

export function parseKernelChoice(text: string, option = "--kernels"): KernelChoice {
  if (!(KERNEL_CHOICES as readonly string[]).includes(text)) {
    throw new UsageError(
      `${option}: expected one of ${KERNEL_CHOICES.join(", ")}, got ${JSON.stringify(text)}`,
    );
  }
  return text as KernelChoice;
}

/**
 * Points the kernel seams at the chosen backend and returns it: "auto" takes WebAssembly SIMD when this
 * runtime and build have it and falls back to the TypeScript reference; "wasm" insists (a CliError if it
 * cannot be loaded).
 */
export function selectKernels(choice: KernelChoice): KernelBackend {
  try {
    return chooseKernels(choice);
  } catch (e) {
    throw new CliError(`--kernels ${choice}: ${(e as Error).message}`);
  }
}
