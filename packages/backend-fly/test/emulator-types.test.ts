// The emulator's types are Fly's description, not a second transcription that could drift from
// it: fly-types.ts must be exactly what description-types.ts generates from fly-openapi.json.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { readDescription, TYPES_URL, typesFromDescription } from "./emulator/description-types.js";

describe("the emulator's types", () => {
  it("are generated from fly-openapi.json and up to date (else: npx tsx packages/backend-fly/test/emulator/description-types.ts --write)", () => {
    expect(readFileSync(TYPES_URL, "utf8")).toBe(typesFromDescription(readDescription()));
  });

  it("follow the description: a field renamed there is renamed in the types", () => {
    const description = readDescription();
    const guest = description.components.schemas["api.MachineGuest"];
    const { memory_mb, ...others } = guest?.properties ?? {};
    const renamed = structuredClone(description);
    (renamed.components.schemas as Record<string, unknown>)["api.MachineGuest"] = {
      ...guest,
      properties: { ...others, memoryMb: memory_mb },
    };
    const types = typesFromDescription(renamed);
    expect(types).toMatch(/export interface MachineGuest \{[^}]*\n {2}memoryMb\?: number;/);
    expect(types).not.toMatch(/memory_mb/);
  });
});
