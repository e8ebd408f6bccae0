// The latent math of ganart/latent.py and Sampler.ws_for, in the page, in float32 as PyTorch
// does it: truncation toward the average w, then edits along directions on a layer range.
// tests/test_web.py checks it against Python on the same inputs.

const f = Math.fround;

/** base64 of little-endian float32 values -> Float32Array */
export function decodeF32(b64) {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  return new Float32Array(bytes.buffer);
}

/**
 * ws [numWs * wDim] for one image.
 * state: {num_ws, w_dim, w: Float32Array (1 or num_ws rows), w_avg, dirs: Float32Array [n * w_dim], stds}
 * psi: truncation; lo, hi: the layer range edits apply to; amounts: one per direction.
 * Returns null for a layer range the server would refuse.
 */
export function wsFor(state, psi, lo, hi, amounts) {
  const { num_ws: L, w_dim: D, w, w_avg: avg, dirs, stds } = state;
  if (!(0 <= lo && lo < hi && hi <= L)) return null; // the server refuses this range (latent.layer_slice)
  const rows = w.length / D;
  const p = f(psi);
  const delta = new Float32Array(D);
  let edited = false;
  amounts.forEach((a, k) => {
    if (!a || k >= stds.length) return; // Recipe drops zero edits
    edited = true;
    const scale = f(f(a) * stds[k]);
    for (let j = 0; j < D; j++) delta[j] = f(delta[j] + f(scale * dirs[k * D + j]));
  });
  const out = new Float32Array(L * D);
  for (let i = 0; i < L; i++) {
    const row = rows === 1 ? 0 : i;
    const onLayer = edited && i >= lo && i < hi;
    for (let j = 0; j < D; j++) {
      let v = f(avg[j] + f(p * f(w[row * D + j] - avg[j])));
      if (onLayer) v = f(v + delta[j]);
      out[i * D + j] = v;
    }
  }
  return out;
}

/** the synthesis output [C, R, R] (about -1..1) -> RGBA bytes for a canvas, as images.to_uint8 */
export function toRGBA(data, channels, res) {
  const px = new Uint8ClampedArray(res * res * 4);
  const plane = res * res;
  for (let i = 0; i < plane; i++) {
    for (let c = 0; c < 3; c++) {
      const x = data[(channels === 1 ? 0 : c) * plane + i];
      px[i * 4 + c] = Math.round((Math.min(Math.max(x, -1), 1) + 1) * 127.5);
    }
    px[i * 4 + 3] = 255;
  }
  return px;
}
