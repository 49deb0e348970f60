/** Parses FLAME_TELEMETRY_URL: comma-separated ws:// or wss:// URLs (a token may ride in the query). */
export function parseTelemetryUrls(value: string | undefined): string[] {
  if (value === undefined) return [];
  const urls: string[] = [];
  for (const part of value.split(",")) {
    const trimmed = part.trim();
    if (trimmed.length === 0) continue;
    try {
      const url = new URL(trimmed);
      if (url.protocol === "ws:" || url.protocol === "wss:") urls.push(url.toString());
    } catch {
      // A malformed entry is skipped; the page says when nothing usable is configured.
    }
  }
  return urls;
}
