"use client";

import { useEffect, useRef, useState } from "react";

/** What a pool panel asks the dashboard's server to do. */
export type ActionRequest =
  | { readonly action: "drainRunner" | "killRunner"; readonly runnerId: string }
  | { readonly action: "resize"; readonly min: number; readonly max: number };

export interface ActionOutcome {
  readonly ok: boolean;
  readonly detail: string;
}

export type Act = (request: ActionRequest) => Promise<ActionOutcome>;

/** POSTs one action to /api/control with the session's CSRF token. */
export async function postAction(
  csrf: string,
  endpoint: number,
  pool: string,
  request: ActionRequest,
): Promise<ActionOutcome> {
  try {
    const res = await fetch("/api/control", {
      method: "POST",
      headers: { "content-type": "application/json", "x-flame-csrf": csrf },
      body: JSON.stringify({ endpoint, pool, ...request }),
    });
    const body = (await res.json().catch(() => null)) as ActionOutcome | null;
    if (body !== null && typeof body.detail === "string")
      return { ok: res.ok && body.ok, detail: body.detail };
    return { ok: false, detail: `The dashboard server answered HTTP ${res.status}.` };
  } catch (error) {
    return { ok: false, detail: `Could not reach the dashboard server: ${String(error)}` };
  }
}

export function describeAction(
  request: ActionRequest,
  pool: string,
): { title: string; body: string; confirm: string } {
  switch (request.action) {
    case "drainRunner":
      return {
        title: `Drain runner ${request.runnerId}?`,
        body: "It takes no new calls, finishes the ones it runs, then stops. The pool boots a replacement if min or demand needs one.",
        confirm: "Drain runner",
      };
    case "killRunner":
      return {
        title: `Kill runner ${request.runnerId}?`,
        body: "It stops now: its calls in flight fail with RUNNER_DOWN. The pool boots a replacement if min or demand needs one.",
        confirm: "Kill runner",
      };
    case "resize":
      return {
        title: `Resize pool ${pool} to min ${request.min}, max ${request.max}?`,
        body: "The pool boots up to the new min and lets surplus idle runners go.",
        confirm: "Resize pool",
      };
  }
}

/** A modal confirmation (native <dialog>: focus trapped, Esc cancels). */
export function ConfirmDialog(props: {
  readonly title: string;
  readonly body: string;
  readonly confirm: string;
  readonly busy: boolean;
  readonly onConfirm: () => void;
  readonly onCancel: () => void;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const dialog = ref.current;
    if (dialog !== null && !dialog.open) dialog.showModal();
  }, []);
  return (
    <dialog
      ref={ref}
      className="confirm"
      aria-labelledby="confirm-title"
      onCancel={(event) => {
        event.preventDefault();
        props.onCancel();
      }}
    >
      <h3 id="confirm-title">{props.title}</h3>
      <p>{props.body}</p>
      <div className="confirm-buttons">
        <button type="button" onClick={props.onCancel} disabled={props.busy}>
          Cancel
        </button>
        <button type="button" className="danger" onClick={props.onConfirm} disabled={props.busy}>
          {props.busy ? "Working…" : props.confirm}
        </button>
      </div>
    </dialog>
  );
}

/** Min/max inputs and a button that asks to resize (after confirmation). */
export function ResizeForm(props: {
  readonly pool: string;
  readonly min: number;
  readonly max: number;
  readonly onRequest: (request: ActionRequest) => void;
}) {
  const [min, setMin] = useState(String(props.min));
  const [max, setMax] = useState(String(props.max));
  return (
    <form
      className="resize"
      aria-label={`Resize pool ${props.pool}`}
      onSubmit={(event) => {
        event.preventDefault();
        props.onRequest({ action: "resize", min: Number(min), max: Number(max) });
      }}
    >
      <label>
        min{" "}
        <input
          type="number"
          min={0}
          step={1}
          value={min}
          onChange={(e) => setMin(e.target.value)}
          required
        />
      </label>
      <label>
        max{" "}
        <input
          type="number"
          min={1}
          step={1}
          value={max}
          onChange={(e) => setMax(e.target.value)}
          required
        />
      </label>
      <button type="submit">Resize…</button>
    </form>
  );
}
