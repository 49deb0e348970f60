import { LocalBackend } from "../../src/index.js";
import { conformanceEntry, describeBackendConformance } from "../../src/testing.js";

describeBackendConformance("local", () => new LocalBackend({ entry: conformanceEntry }), {
  killRunner: (meta) => {
    process.kill(Number(meta.pid), "SIGKILL");
  },
  bootTimeoutMs: 20_000,
  failsafeTimeoutMs: 2_000,
});
