import { connection } from "next/server";
import { Dashboard } from "../components/Dashboard";
import { parseTelemetryUrls } from "../lib/telemetry-urls";

export default async function Page() {
  // Read the endpoints at request time, not at build time.
  await connection();
  return <Dashboard urls={parseTelemetryUrls(process.env.FLAME_TELEMETRY_URL)} />;
}
