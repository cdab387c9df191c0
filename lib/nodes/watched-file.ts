/**
 * A file that is loaded now and again whenever it changes. Its directory is watched, so a Kubernetes
 * ConfigMap's symlink swap (a rename over the file) is seen; changes are debounced. A load that
 * throws keeps whatever the caller had and is reported, never thrown.
 */
import { type FSWatcher, watch } from "node:fs";
import { basename, dirname } from "node:path";

export interface WatchedFile {
  /** Loads the file now; false (and a report) when it did not load. */
  reload(): boolean;
  close(): void;
}

export interface WatchedFileOptions {
  /** What the file is, for messages: "node map", "IP map". */
  readonly label: string;
  /** Reads and applies the file; throws when it cannot. */
  readonly load: () => void;
  /** What is kept when a load fails, e.g. "3 nodes". */
  readonly kept: () => string;
}

export function watchFile(path: string, options: WatchedFileOptions, report: (message: string) => void): WatchedFile {
  const { label, load, kept } = options;
  const reload = () => {
    try {
      load();
      return true;
    } catch (error: unknown) {
      report(`${label} ${path} not loaded, keeping ${kept()}: ${(error as Error).message}`);
      return false;
    }
  };
  reload();
  let timer: NodeJS.Timeout | undefined;
  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(dirname(path), (_event, file) => {
      if (file !== null && String(file) !== basename(path) && !String(file).startsWith("..")) return;
      clearTimeout(timer);
      timer = setTimeout(reload, 50);
    });
    watcher.on("error", error => report(`${label} watch on ${path} stopped: ${error.message}`));
  } catch (error: unknown) {
    report(`${label} ${path} is not watched: ${(error as Error).message}`);
  }
  return {
    reload,
    close() {
      clearTimeout(timer);
      watcher?.close();
    },
  };
}
