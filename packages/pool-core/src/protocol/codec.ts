/**
 * How argument and result values become bytes. `node:v8` serialization is the default: it
 * keeps what structured clone keeps (Date, Map, Set, BigInt, typed arrays, Error, cycles).
 * Both ends must use the same codec; the codec name travels in no frame, so a mismatch shows
 * up as SERIALIZATION errors on the first call.
 */
import { DefaultDeserializer, DefaultSerializer, serialize } from "node:v8";
import { type SlicedDecode, startV8Decode } from "./v8-slices.js";
import { writePlainValue } from "./v8-writer.js";

export type { SlicedDecode };

export interface Codec {
  readonly name: string;
  /** Throws when the value can't be represented (functions, symbols, class instances with private state...). */
  encode(value: unknown): Uint8Array;
  /**
   * Optional fast path for frames: `prefix` then the encoding of `value`, in one buffer, so
   * the frame header costs no second allocation and no copy of the payload (measured on the
   * 64 KB payload bench: that copy and the extra buffer's GC pressure cost ~20% throughput).
   * Must equal `concat(prefix, encode(value))`.
   */
  encodeAfter?(prefix: Uint8Array, value: unknown): Uint8Array;
  /** Throws on bytes it can't read. */
  decode(bytes: Uint8Array): unknown;
  /**
   * Optional: `decode` for bytes whose whole ArrayBuffer holds this one call's frame and
   * nothing else, handed over for good (a large input transferred to its worker thread). A
   * typed array or Buffer that fills at least half of that buffer may stay a view into it
   * instead of being copied, so a large argument is copied once on its way from the socket to
   * the function (issue 23), as `v8.deserialize` itself does. Such a view's `.buffer` shows
   * only its own call's frame, and keeps it alive no longer than the value lives: at most
   * twice the value's own bytes.
   */
  decodeOwned?(bytes: Uint8Array): unknown;
  /**
   * Optional: the same decode, a bounded slice of work at a time, so the parent can decode a
   * large answer between its other work instead of stalling its event loop. Without it, a
   * large answer is decoded in one go. Must produce what `decode` produces; throws (at the
   * start or in a step) on bytes it can't read.
   */
  decodeInSlices?(bytes: Uint8Array): SlicedDecode;
}

const NO_PREFIX = new Uint8Array(0);

export const v8Codec: Codec = {
  name: "v8",
  // Small plain data is written by hand (v8-writer.ts: V8's serializer holds native memory
  // until a full GC), the rest by V8; the bytes are V8's format either way.
  encode: (value) => writePlainValue(NO_PREFIX, value) ?? serialize(value),
  encodeAfter: (prefix, value) => {
    const written = writePlainValue(prefix, value);
    if (written !== null) return written;
    // What v8.serialize does, with the prefix written into the same buffer first.
    const serializer = new DefaultSerializer();
    serializer.writeRawBytes(prefix);
    serializer.writeHeader();
    serializer.writeValue(value);
    return serializer.releaseBuffer();
  },
  decode: (bytes) => {
    const deserializer = new CopyingDeserializer(bytes);
    deserializer.readHeader();
    return deserializer.readValue();
  },
  decodeOwned: (bytes) => {
    const deserializer = new OwnedBufferDeserializer(bytes);
    deserializer.readHeader();
    return deserializer.readValue();
  },
  decodeInSlices: startV8Decode,
};

type HostObjectReader = { _readHostObject(): unknown };

/**
 * v8.deserialize returns typed arrays and Buffers that are views into the bytes it was given:
 * for a received frame, a slice of the socket's chunk, where `.buffer` exposes neighbouring
 * frames (other calls' data) and keeps the whole chunk alive. Each view is copied out instead.
 */
class CopyingDeserializer extends DefaultDeserializer {
  _readHostObject(): unknown {
    const view = (
      DefaultDeserializer.prototype as unknown as HostObjectReader
    )._readHostObject.call(this) as ArrayBufferView;
    return copyView(view);
  }
}

/**
 * For `decodeOwned`: a view that fills at least half of the frame's buffer stays a view (the
 * frame is its call's alone, and pinning it costs at most the view's size again); smaller
 * ones are copied, so a small array does not keep a large frame alive.
 */
class OwnedBufferDeserializer extends DefaultDeserializer {
  _readHostObject(): unknown {
    const view = (
      DefaultDeserializer.prototype as unknown as HostObjectReader
    )._readHostObject.call(this) as ArrayBufferView;
    return view.byteLength * 2 >= view.buffer.byteLength ? view : copyView(view);
  }
}

function copyView(view: ArrayBufferView): ArrayBufferView {
  const bytes = new Uint8Array(view.byteLength);
  bytes.set(new Uint8Array(view.buffer, view.byteOffset, view.byteLength));
  if (Buffer.isBuffer(view)) return Buffer.from(bytes.buffer, 0, bytes.byteLength);
  if (view instanceof DataView) return new DataView(bytes.buffer);
  const Ctor = view.constructor as new (buffer: ArrayBuffer) => ArrayBufferView;
  return new Ctor(bytes.buffer);
}
