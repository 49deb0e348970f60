/**
 * The login's proof of work, shared by the browser (which solves it) and the server (which
 * checks it). While many wrong tokens are being tried, a login must carry a nonce such that
 * SHA-256(`${challenge}:${nonce}`) starts with `bits` zero bits. That is why throttling can
 * slow guessing without locking anyone out: it costs every attempt the same work, and the
 * holder of the right token pays it once (about a second in a browser), while a guesser pays
 * it for every guess. Nothing else can tell the operator from a stranger before the token
 * is checked.
 *
 * SHA-256 is written out here because `crypto.subtle` exists only on HTTPS or localhost
 * pages, and a dashboard reached over plain HTTP on a private network must work too.
 */

const K = new Uint32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);

const rotr = (x: number, n: number) => (x >>> n) | (x << (32 - n));

// Reused across calls: the solver hashes about a million short strings, and allocating these
// each time would cost more than the hashing.
const H0 = [
  0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];
const h = new Uint32Array(8);
const w = new Uint32Array(64);
let words = new Uint32Array(32);

/** SHA-256 of a short ASCII string (challenges and nonces are ASCII). */
export function sha256(text: string): Uint8Array {
  const length = text.length;
  const blocks = (length + 9 + 63) >> 6;
  if (words.length < blocks * 16) words = new Uint32Array(blocks * 16);
  words.fill(0, 0, blocks * 16);
  for (let i = 0; i < length; i++)
    words[i >> 2]! |= (text.charCodeAt(i) & 0xff) << (24 - (i & 3) * 8);
  words[length >> 2]! |= 0x80 << (24 - (length & 3) * 8);
  words[blocks * 16 - 1] = length * 8;
  h.set(H0);
  for (let block = 0; block < blocks; block++) {
    for (let t = 0; t < 16; t++) w[t] = words[block * 16 + t]!;
    for (let t = 16; t < 64; t++) {
      const x = w[t - 15]!;
      const y = w[t - 2]!;
      const s0 = rotr(x, 7) ^ rotr(x, 18) ^ (x >>> 3);
      const s1 = rotr(y, 17) ^ rotr(y, 19) ^ (y >>> 10);
      w[t] = w[t - 16]! + s0 + w[t - 7]! + s1;
    }
    let a = h[0]!;
    let b = h[1]!;
    let c = h[2]!;
    let d = h[3]!;
    let e = h[4]!;
    let f = h[5]!;
    let g = h[6]!;
    let hh = h[7]!;
    for (let t = 0; t < 64; t++) {
      const s1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25);
      const t1 = (hh + s1 + ((e & f) ^ (~e & g)) + K[t]! + w[t]!) | 0;
      const s0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22);
      const t2 = (s0 + ((a & b) ^ (a & c) ^ (b & c))) | 0;
      hh = g;
      g = f;
      f = e;
      e = (d + t1) | 0;
      d = c;
      c = b;
      b = a;
      a = (t1 + t2) | 0;
    }
    // Uint32Array stores each sum modulo 2^32.
    h[0]! += a;
    h[1]! += b;
    h[2]! += c;
    h[3]! += d;
    h[4]! += e;
    h[5]! += f;
    h[6]! += g;
    h[7]! += hh;
  }
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++) out[i] = h[i >> 2]! >>> (24 - (i & 3) * 8);
  return out;
}

/** How many leading bits of `digest` are zero. */
export function leadingZeroBits(digest: Uint8Array): number {
  let zeros = 0;
  for (const byte of digest) {
    if (byte !== 0) return zeros + Math.clz32(byte) - 24;
    zeros += 8;
  }
  return zeros;
}

/** What is hashed: the challenge the server issued and the solver's nonce. */
export function proofInput(challenge: string, nonce: string): string {
  return `${challenge}:${nonce}`;
}

/**
 * Finds a nonce for `challenge`, yielding to the page every few thousand hashes so it stays
 * responsive. About 2^bits hashes on average.
 */
export async function solveProof(challenge: string, bits: number): Promise<string> {
  for (let n = 0; ; n++) {
    if (leadingZeroBits(sha256(proofInput(challenge, String(n)))) >= bits) return String(n);
    if (n % 20_000 === 19_999) await new Promise((resolve) => setTimeout(resolve, 0));
  }
}
