import { isAbsolute, resolve } from "node:path";
import { pathToFileURL } from "node:url";

/** A URL (file:, data:, https: ...) passes through; anything else is a path relative to cwd. */
export function entryUrl(entry: string | URL): string {
  if (entry instanceof URL) return entry.href;
  if (/^[a-z][a-z0-9+.-]+:/i.test(entry) && !isAbsolute(entry)) return entry;
  return pathToFileURL(resolve(process.cwd(), entry)).href;
}
