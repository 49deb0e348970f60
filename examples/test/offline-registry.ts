/**
 * A throwaway npm registry on 127.0.0.1 for the outside-app test: it "publishes" the freshly
 * packed @flame-ts tarballs and serves every third-party package the repo's own lockfile pins
 * (the tarballs come out of this machine's npm cache, which `npm ci` filled). So a temporary
 * app can `npm install @flame-ts/pool-core` exactly as a user would, and the app's Docker build
 * can `npm ci` from it, with no network beyond loopback.
 *
 * Only what npm's install needs: an abbreviated packument per name (`GET /<name>`) and the
 * tarballs (`GET /<name>/-/<file>.tgz`). Versions not in the repo's lockfile do not exist here.
 */
import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { join } from "node:path";
import cacache from "cacache";

export interface PackedPackage {
  /** The package.json of the packed package. */
  readonly manifest: { name: string; version: string } & Record<string, unknown>;
  readonly tarballPath: string;
  /** `sha512-…` of the tarball, as `npm pack --json` reports it. */
  readonly integrity: string;
}

interface Version {
  readonly manifest: Record<string, unknown>;
  readonly integrity: string;
  /** Where the bytes are: a packed file, or the npm cache (by integrity). */
  readonly file: string | null;
}

/** The manifest fields npm's installer reads from an abbreviated packument. */
const LOCK_FIELDS = [
  "dependencies",
  "optionalDependencies",
  "peerDependencies",
  "peerDependenciesMeta",
  "bin",
  "engines",
  "os",
  "cpu",
  "license",
  "hasInstallScript",
] as const;

export class OfflineRegistry {
  readonly #versions = new Map<string, Map<string, Version>>();
  readonly #cache: string;
  #server: Server | null = null;
  #url = "";
  /** Requests answered 404, to explain a failed install. */
  readonly misses: string[] = [];

  /**
   * @param lockfilePath the repo's package-lock.json: its registry packages are served.
   * @param npmCache npm's cache directory (`npm config get cache`).
   */
  constructor(lockfilePath: string, npmCache: string, packed: readonly PackedPackage[]) {
    this.#cache = join(npmCache, "_cacache");
    const lock = JSON.parse(readFileSync(lockfilePath, "utf8")) as {
      packages: Record<string, Record<string, unknown>>;
    };
    for (const [path, entry] of Object.entries(lock.packages)) {
      const at = path.lastIndexOf("node_modules/");
      if (at < 0 || entry.link === true || typeof entry.integrity !== "string") continue;
      const name = path.slice(at + "node_modules/".length);
      const version = entry.version as string;
      const manifest: Record<string, unknown> = { name, version };
      for (const field of LOCK_FIELDS)
        if (entry[field] !== undefined) manifest[field] = entry[field];
      this.#add(name, version, { manifest, integrity: entry.integrity, file: null });
    }
    for (const p of packed) {
      this.#add(p.manifest.name, p.manifest.version, {
        manifest: p.manifest,
        integrity: p.integrity,
        file: p.tarballPath,
      });
    }
  }

  /** The registry URL (ends with "/"); valid after `listen()`. */
  get url(): string {
    return this.#url;
  }

  async listen(): Promise<string> {
    const server = createServer((req, res) => {
      void this.#answer(req.url ?? "/").then(
        (answer) => {
          res.writeHead(answer.status, { "content-type": answer.type });
          res.end(answer.body);
        },
        (error: unknown) => {
          res.writeHead(500, { "content-type": "text/plain" });
          res.end(String(error));
        },
      );
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const address = server.address();
    const port = typeof address === "object" && address !== null ? address.port : 0;
    this.#server = server;
    this.#url = `http://127.0.0.1:${port}/`;
    return this.#url;
  }

  async close(): Promise<void> {
    const server = this.#server;
    if (server === null) return;
    this.#server = null;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  #add(name: string, version: string, v: Version): void {
    const versions = this.#versions.get(name) ?? new Map<string, Version>();
    this.#versions.set(name, versions);
    versions.set(version, v);
  }

  async #answer(rawUrl: string): Promise<{ status: number; type: string; body: Buffer | string }> {
    const path = decodeURIComponent(rawUrl.split("?")[0] ?? "/").slice(1);
    const tarball = /^(.+)\/-\/[^/]+-(\d[^/]*)\.tgz$/.exec(path);
    if (tarball !== null) {
      const v = this.#versions.get(tarball[1] ?? "")?.get(tarball[2] ?? "");
      if (v === undefined) return this.#miss(path);
      const body =
        v.file !== null
          ? readFileSync(v.file)
          : ((await cacache.get.byDigest(this.#cache, v.integrity)) as Buffer);
      return { status: 200, type: "application/octet-stream", body };
    }
    const versions = this.#versions.get(path);
    if (versions === undefined) return this.#miss(path);
    return {
      status: 200,
      type: "application/vnd.npm.install-v1+json",
      body: JSON.stringify(this.#packument(path, versions)),
    };
  }

  #packument(name: string, versions: Map<string, Version>): Record<string, unknown> {
    const basename = name.includes("/") ? name.slice(name.indexOf("/") + 1) : name;
    const all: Record<string, unknown> = {};
    for (const [version, v] of versions) {
      all[version] = {
        ...v.manifest,
        name,
        version,
        dist: {
          tarball: `${this.#url}${name}/-/${basename}-${version}.tgz`,
          integrity: v.integrity,
        },
      };
    }
    const latest = [...versions.keys()].sort(compareVersions).at(-1);
    return { name, "dist-tags": { latest }, versions: all };
  }

  #miss(path: string): { status: number; type: string; body: string } {
    this.misses.push(path);
    return { status: 404, type: "text/plain", body: `not in the offline registry: ${path}` };
  }
}

/** Orders plain x.y.z versions (prereleases after their release: good enough for "latest"). */
function compareVersions(a: string, b: string): number {
  const pa = a.split(/[.-]/).map((n) => Number.parseInt(n, 10) || 0);
  const pb = b.split(/[.-]/).map((n) => Number.parseInt(n, 10) || 0);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}
