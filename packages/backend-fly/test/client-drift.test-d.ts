// The client (src/machines-api.ts) against the emulator's types, which are generated from Fly's
// OpenAPI description (test/emulator/fly-types.ts), never from the client. A field the client
// sends or reads that the description does not have fails this file at typecheck, naming the
// field; before, the emulator shared the client's types, so a drift compiled on both sides.
import { describe, expectTypeOf, it } from "vitest";
import type * as Client from "../src/machines-api.js";
import type * as Fly from "./emulator/fly-types.js";

type Join<At extends string, Key extends string> = At extends "" ? Key : `${At}.${Key}`;
/** `NonNullable`, except that an open value (`unknown`) stays open. */
type Defined<T> = unknown extends T ? unknown : NonNullable<T>;

/**
 * The dotted paths of the fields of `A`, at any depth, that `B` does not describe; `never` when
 * every field is described. A map (`env`, `metadata`) is compared by its values; a side that
 * is an open object (`unknown`, or a map where the other side lists fields) is not looked into.
 */
type Undescribed<A, B, At extends string = ""> = unknown extends B
  ? never
  : A extends readonly (infer Item)[]
    ? B extends readonly (infer Described)[]
      ? Undescribed<Item, Described, `${At}[]`>
      : At
    : A extends object
      ? string extends keyof A
        ? string extends keyof B
          ? Undescribed<A[string & keyof A], B[string & keyof B], Join<At, "*">>
          : never
        : {
            [K in keyof A & string]-?: K extends keyof B
              ? Undescribed<NonNullable<A[K]>, Defined<B[K]>, Join<At, K>>
              : Join<At, K>;
          }[keyof A & string]
      : never;

describe("what FlyMachinesClient sends is described", () => {
  it("create, update, stop and lease bodies: every field is Fly's, with a compatible type", () => {
    expectTypeOf<Undescribed<Client.CreateMachineRequest, Fly.CreateMachineRequest>>().toBeNever();
    expectTypeOf<Undescribed<Client.UpdateMachineRequest, Fly.UpdateMachineRequest>>().toBeNever();
    expectTypeOf<Undescribed<Client.StopMachineRequest, Fly.StopRequest>>().toBeNever();
    expectTypeOf<Undescribed<Client.CreateLeaseRequest, Fly.CreateLeaseRequest>>().toBeNever();
    expectTypeOf<Client.CreateMachineRequest>().toExtend<Fly.CreateMachineRequest>();
    expectTypeOf<Client.UpdateMachineRequest>().toExtend<Fly.UpdateMachineRequest>();
    expectTypeOf<Client.StopMachineRequest>().toExtend<Fly.StopRequest>();
    expectTypeOf<Client.CreateLeaseRequest>().toExtend<Fly.CreateLeaseRequest>();
  });
});

describe("what FlyMachinesClient reads is described", () => {
  it("Machine, its events and Lease: every field the client reads is in Fly's answers", () => {
    expectTypeOf<Undescribed<Client.Machine, Fly.Machine>>().toBeNever();
    expectTypeOf<Undescribed<Client.Lease, Fly.Lease>>().toBeNever();
  });
});

describe("a drift is caught", () => {
  it("a field renamed on the client's side is named, wherever it is", () => {
    type RenamedGuest = Omit<Client.CreateMachineRequest, "config"> & {
      config: Omit<Client.MachineConfig, "guest"> & { guest: { cpus?: number; memoryMb?: number } };
    };
    expectTypeOf<
      Undescribed<RenamedGuest, Fly.CreateMachineRequest>
    >().toEqualTypeOf<"config.guest.memoryMb">();

    type ReadsRenamed = Client.Machine & { privateIp: string };
    expectTypeOf<Undescribed<ReadsRenamed, Fly.Machine>>().toEqualTypeOf<"privateIp">();

    type StopInMs = Client.StopMachineRequest & { timeoutMs?: number };
    expectTypeOf<Undescribed<StopInMs, Fly.StopRequest>>().toEqualTypeOf<"timeoutMs">();
  });

  it("a field of the right name but the wrong type does not fit either", () => {
    type CpusAsText = Omit<Client.CreateMachineRequest, "config"> & {
      config: Omit<Client.MachineConfig, "guest"> & { guest: { cpus: string } };
    };
    expectTypeOf<CpusAsText>().not.toExtend<Fly.CreateMachineRequest>();
  });
});
