/**
 * The byte cursor of the sliced v8 reader (../v8-slices.ts): where it is in the answer's bytes
 * and the format's primitives (varints, doubles, bigints, the three string encodings). It
 * reads one primitive per call and keeps its position between calls, which is what lets the
 * reader stop after any value and resume on a later event-loop turn.
 *
 * Hand-written because no library reads `node:v8`'s format incrementally: Node's
 * `Deserializer` reads a whole value in one call, and it is the one stall this avoids.
 * Every read checks the bytes remain, so truncated data is an error, never a partial value.
 */

/** Strings up to this many bytes are built in JavaScript (see `stringAfter`). */
const SHORT_STRING = 16;

export class ByteReader {
  /** Bytes in the last string read, so the reader can charge work for long ones. */
  lastStringBytes = 0;
  #pos = 0;
  readonly #buf: Buffer;
  readonly #view: DataView;

  constructor(bytes: Uint8Array) {
    this.#buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  /** Offset of the next byte to read. */
  get pos(): number {
    return this.#pos;
  }

  /** A string's length and bytes, decoded as its tag (", c or S) says. */
  stringAfter(tag: number): string {
    const length = this.varint();
    const start = this.#take(length);
    this.lastStringBytes = length;
    switch (tag) {
      case 0x22:
        // Short keys and values are most strings in a large value; building them here is
        // cheaper than a call into Buffer's C++ for each.
        return length <= SHORT_STRING
          ? latin1(this.#buf, start, length)
          : this.#buf.toString("latin1", start, start + length);
      case 0x63:
        return this.#buf.toString("utf16le", start, start + length);
      case 0x53:
        return this.#buf.toString("utf8", start, start + length);
      default:
        throw new Error(`expected a string, found tag 0x${tag.toString(16)}`);
    }
  }

  /** The next tag, padding skipped. */
  tag(): number {
    let tag = this.byte();
    while (tag === 0) tag = this.byte();
    return tag;
  }

  byte(): number {
    if (this.#pos >= this.#buf.byteLength)
      throw new Error("the data ends in the middle of a value");
    return this.#buf[this.#pos++] as number;
  }

  varint(): number {
    let result = 0;
    let scale = 1;
    for (;;) {
      const b = this.byte();
      result += (b & 0x7f) * scale;
      if (b < 0x80) return result;
      scale *= 128;
      if (scale > 2 ** 49) throw new Error("a varint is too long");
    }
  }

  double(): number {
    const start = this.#take(8);
    return this.#view.getFloat64(start, true);
  }

  bigint(): bigint {
    const bitfield = this.varint();
    const length = Math.floor(bitfield / 2);
    const digits = this.raw(length);
    let hex = "";
    for (let i = digits.byteLength - 1; i >= 0; i--) {
      hex += (digits[i] as number).toString(16).padStart(2, "0");
    }
    const magnitude = hex === "" ? 0n : BigInt(`0x${hex}`);
    return bitfield % 2 === 1 ? -magnitude : magnitude;
  }

  /** The next `length` bytes, sharing the frame's buffer: copy before keeping them. */
  raw(length: number): Uint8Array {
    const start = this.#take(length);
    return this.#buf.subarray(start, start + length);
  }

  /** A copy, so the value never shares (or keeps alive) the frame's buffer. */
  copy(length: number): Uint8Array<ArrayBuffer> {
    const bytes = new Uint8Array(length);
    bytes.set(this.raw(length));
    return bytes;
  }

  /** Skips `length` bytes and returns where they start. */
  #take(length: number): number {
    const start = this.#pos;
    if (length > this.#buf.byteLength - start) {
      throw new Error("the data ends in the middle of a value");
    }
    this.#pos = start + length;
    return start;
  }
}

function latin1(buf: Buffer, start: number, length: number): string {
  let text = "";
  for (let i = start; i < start + length; i++) text += String.fromCharCode(buf[i] as number);
  return text;
}
