// The demo's work, loaded by the demo app AND by every runner (same module, same ids).
import { createHash } from "node:crypto";
import { defineFunction } from "@flame-ts/pool-core";

/**
 * A CPU-bound "thumbnail": renders a size×size Mandelbrot tile (the source image), downsamples
 * it 4× with a box filter, and returns the thumbnail's digest. Real work, no sleeping and no
 * yields: it runs on a worker thread of the runner, so it blocks nothing else, and if it
 * overruns its deadline the runner stops it by terminating its thread (no signal checks needed).
 */
export const thumbnail = defineFunction("demo.thumbnail", ({ seed, size = 320 }, ctx) => {
  const maxIter = 120;
  const pixels = new Uint8ClampedArray(size * size);
  const cx = -0.75 + ((seed % 17) - 8) * 0.01;
  const cy = ((seed % 13) - 6) * 0.01;
  const scale = 2.6 / size;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const re0 = cx + (x - size / 2) * scale;
      const im0 = cy + (y - size / 2) * scale;
      let re = 0;
      let im = 0;
      let i = 0;
      while (i < maxIter && re * re + im * im <= 4) {
        const t = re * re - im * im + re0;
        im = 2 * re * im + im0;
        re = t;
        i++;
      }
      pixels[y * size + x] = (i * 255) / maxIter;
    }
  }
  const thumb = size / 4;
  const small = new Uint8ClampedArray(thumb * thumb);
  for (let y = 0; y < thumb; y++) {
    for (let x = 0; x < thumb; x++) {
      let sum = 0;
      for (let dy = 0; dy < 4; dy++) {
        for (let dx = 0; dx < 4; dx++) sum += pixels[(y * 4 + dy) * size + x * 4 + dx] ?? 0;
      }
      small[y * thumb + x] = sum / 16;
    }
  }
  return {
    seed,
    width: thumb,
    height: thumb,
    sha256: createHash("sha256").update(small).digest("hex"),
    runnerId: ctx.runnerId,
  };
});
