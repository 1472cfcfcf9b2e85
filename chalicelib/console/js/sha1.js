// An incremental SHA-1 (FIPS 180-4). Why not crypto.subtle: it digests one whole buffer, so a
// multi-gigabyte image would have to sit in memory at once; this reads the file in chunks.
// SHA-1 is what an IMGAPI manifest names a file by (files[0].sha1), not a security choice.

export class Sha1 {
  constructor() {
    this.h = new Uint32Array([0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0]);
    this.block = new Uint8Array(64);
    this.filled = 0;
    this.length = 0; // bytes so far (a Number is exact up to 2^53)
    this.w = new Uint32Array(80);
  }

  update(bytes) {
    let at = 0;
    this.length += bytes.length;
    if (this.filled) {
      const take = Math.min(64 - this.filled, bytes.length);
      this.block.set(bytes.subarray(0, take), this.filled);
      this.filled += take;
      at = take;
      if (this.filled < 64) return this;
      this.compress(this.block, 0);
      this.filled = 0;
    }
    for (; at + 64 <= bytes.length; at += 64) this.compress(bytes, at);
    if (at < bytes.length) { this.block.set(bytes.subarray(at), 0); this.filled = bytes.length - at; }
    return this;
  }

  compress(bytes, at) {
    const w = this.w;
    for (let i = 0; i < 16; i += 1) {
      const j = at + 4 * i;
      w[i] = (bytes[j] << 24) | (bytes[j + 1] << 16) | (bytes[j + 2] << 8) | bytes[j + 3];
    }
    for (let i = 16; i < 80; i += 1) {
      const x = w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16];
      w[i] = (x << 1) | (x >>> 31);
    }
    let [a, b, c, d, e] = this.h;
    for (let i = 0; i < 80; i += 1) {
      let f, k;
      if (i < 20) { f = (b & c) | (~b & d); k = 0x5a827999; }
      else if (i < 40) { f = b ^ c ^ d; k = 0x6ed9eba1; }
      else if (i < 60) { f = (b & c) | (b & d) | (c & d); k = 0x8f1bbcdc; }
      else { f = b ^ c ^ d; k = 0xca62c1d6; }
      const t = (((a << 5) | (a >>> 27)) + f + e + k + w[i]) >>> 0;
      e = d; d = c; c = (b << 30) | (b >>> 2); b = a; a = t;
    }
    const h = this.h;
    h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e;
  }

  hex() {
    const bits = this.length * 8;
    const tail = new Uint8Array(this.filled < 56 ? 64 : 128);
    tail.set(this.block.subarray(0, this.filled));
    tail[this.filled] = 0x80;
    const view = new DataView(tail.buffer);
    view.setUint32(tail.length - 8, Math.floor(bits / 2 ** 32));
    view.setUint32(tail.length - 4, bits >>> 0);
    for (let at = 0; at < tail.length; at += 64) this.compress(tail, at);
    return [...this.h].map((word) => word.toString(16).padStart(8, "0")).join("");
  }
}

// The SHA-1 of a File, read in 4 MiB chunks; onProgress(bytesRead) after each.
export async function sha1OfFile(file, onProgress = () => {}) {
  const digest = new Sha1();
  const chunk = 4 << 20;
  for (let at = 0; at < file.size; at += chunk) {
    digest.update(new Uint8Array(await file.slice(at, at + chunk).arrayBuffer()));
    onProgress(Math.min(file.size, at + chunk));
  }
  return digest.hex();
}
