import { cookies } from "next/headers";
import { redirect } from "next/navigation";
import { connection } from "next/server";
import { Dashboard } from "../components/Dashboard";
import { upstreams } from "../lib/server/config";
import { csrfFor, SESSION_COOKIE, validSession } from "../lib/server/session";

export default async function Page() {
  // Read the endpoints and the session at request time, not at build time.
  await connection();
  const session = (await cookies()).get(SESSION_COOKIE)?.value;
  if (session === undefined || !validSession(session)) redirect("/login");
  // Only labels (URLs without tokens) and this session's CSRF token reach the page.
  return <Dashboard labels={upstreams().map((u) => u.label)} csrf={csrfFor(session)} />;
}
