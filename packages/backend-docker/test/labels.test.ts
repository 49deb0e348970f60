import { currentParentIdentity, parentId } from "@flame-ts/pool-core";
import { describe, expect, it } from "vitest";
import { appFilter, containerName, LABEL, parentFromLabels, runnerLabels } from "../src/labels.js";

const scope = { app: "media", poolName: "thumbs", runnerId: "thumbs-abc" };

describe("parent identity labels", () => {
  it("round-trip through container labels, with the app scope", () => {
    const me = currentParentIdentity(parentId);
    const labels = runnerLabels(me, scope);
    expect(labels[LABEL.pool]).toBe("thumbs");
    expect(labels[LABEL.app]).toBe("media");
    expect(parentFromLabels(labels)).toEqual(me);
  });

  it("round-trip an identity taken where /proc is missing", () => {
    const blind = {
      parentId: "p",
      host: "h",
      bootId: null,
      pidNamespace: null,
      pid: 7,
      startTicks: null,
    };
    expect(parentFromLabels(runnerLabels(blind, scope))).toEqual(blind);
  });

  it("read as unknown (null) when a label is missing or malformed, so the reaper keeps it", () => {
    const labels = runnerLabels(currentParentIdentity(parentId), scope);
    expect(parentFromLabels({ ...labels, [LABEL.parentPid]: "nope" })).toBeNull();
    expect(parentFromLabels({ ...labels, [LABEL.parentStartTicks]: "-3" })).toBeNull();
    const { [LABEL.parentBootId]: _dropped, ...withoutBootId } = labels;
    expect(parentFromLabels(withoutBootId)).toBeNull();
    // Labels of the earlier layout (host + pid + started-ms) name no boot or namespace.
    expect(
      parentFromLabels({
        [LABEL.parent]: "old",
        [LABEL.parentHost]: "h",
        [LABEL.parentPid]: "12",
        "flame-ts.parent-started-ms": "1700000000000",
      }),
    ).toBeNull();
  });

  it("filter the reaper's listing by app as well as by the managed label", () => {
    expect(appFilter("media")).toEqual(["flame-ts.managed=true", "flame-ts.app=media"]);
  });

  it("make names Docker accepts", () => {
    expect(containerName("flame-", "my pool/1-ab")).toBe("flame-my-pool-1-ab");
    expect(containerName("", "_x")).toBe("r_x");
  });
});
