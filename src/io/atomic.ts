import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from "node:fs";
import { open, rename, rm } from "node:fs/promises";
import { dirname } from "node:path";

/**
 * Atomic file writes (Node only): readers see either the old file or the complete new one, never a partial
 * write. The data goes to `path.tmp-<pid>-<random>` in the same folder, is flushed to disk, renamed over
 * `path`, and the folder is flushed so the rename itself survives a crash. Browser code must not import
 * this module; callers in shared layers import it lazily.
 */
export async function writeFileAtomic(path: string, content: Uint8Array | string): Promise<void> {
  const tmp = temporaryName(path);
  const handle = await open(tmp, "wx");
  try {
    await handle.writeFile(content);
    await handle.sync();
    await handle.close();
    await rename(tmp, path);
  } catch (error) {
    await handle.close().catch(() => {});
    await rm(tmp, { force: true });
    throw error;
  }
  syncDirectory(dirname(path));
}

/** The synchronous twin of `writeFileAtomic`, for code that must not yield (checkpoints from a signal handler). */
export function writeFileAtomicSync(path: string, content: Uint8Array | string): void {
  const tmp = temporaryName(path);
  const bytes = typeof content === "string" ? new TextEncoder().encode(content) : content;
  let fd = -1;
  try {
    fd = openSync(tmp, "wx");
    let written = 0;
    while (written < bytes.length) written += writeSync(fd, bytes, written, bytes.length - written);
    fsyncSync(fd);
    closeSync(fd);
    fd = -1;
    renameSync(tmp, path);
  } catch (error) {
    if (fd !== -1) closeSync(fd);
    rmSync(tmp, { force: true });
    throw error;
  }
  syncDirectory(dirname(path));
}

function temporaryName(path: string): string {
  return `${path}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 10)}`;
}

function syncDirectory(dir: string): void {
  let fd = -1;
  try {
    fd = openSync(dir, "r");
    fsyncSync(fd);
  } catch {
    // Some platforms (Windows) cannot open or fsync a directory; the rename is still atomic there.
  } finally {
    if (fd !== -1) closeSync(fd);
  }
}
