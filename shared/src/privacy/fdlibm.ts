/**
 * The natural logarithm and the cosine exactly as fdlibm 5.3 computes them
 * (`__ieee754_log`, and `cos` with `__ieee754_rem_pio2`, `__kernel_cos` and
 * `__kernel_sin`, as V8's `src/base/ieee754.cc` has them), for central noise:
 * ECMAScript leaves `Math.log` and `Math.cos` to each engine, and the audit
 * recomputes the noise bit for bit, so it must not depend on the Node version.
 * Only IEEE 754 basic operations, which every engine rounds alike, and the
 * doubles' 32-bit words through a typed array.
 *
 * fdlibm's notice, which its licence asks to keep:
 *
 *   Copyright (C) 1993 by Sun Microsystems, Inc. All rights reserved.
 *
 *   Developed at SunSoft, a Sun Microsystems, Inc. business.
 *   Permission to use, copy, modify, and distribute this
 *   software is freely granted, provided that this notice
 *   is preserved.
 */

const double = new Float64Array(1);
const words = new Uint32Array(double.buffer);
// Which of a double's two words holds its sign and exponent follows the machine's byte order.
double[0] = 1;
const HIGH = words[1] === 0x3ff00000 ? 1 : 0;
const LOW = 1 - HIGH;

/** The high word as the C code's int32_t holds it: signed, so a negative number's is below 0. */
function highWord(x: number): number {
  double[0] = x;
  return words[HIGH] | 0;
}

function lowWord(x: number): number {
  double[0] = x;
  return words[LOW];
}

/** x with its high word replaced: fdlibm's SET_HIGH_WORD. */
function withHighWord(x: number, high: number): number {
  double[0] = x;
  words[HIGH] = high;
  return double[0];
}

function fromWords(high: number, low: number): number {
  words[HIGH] = high;
  words[LOW] = low;
  return double[0];
}

const LN2_HI = 6.93147180369123816490e-1;
const LN2_LO = 1.90821492927058770002e-10;
const TWO54 = 1.80143985094819840000e16;
const LG1 = 6.666666666666735130e-1;
const LG2 = 3.999999999940941908e-1;
const LG3 = 2.857142874366239149e-1;
const LG4 = 2.222219843214978396e-1;
const LG5 = 1.818357216161805012e-1;
const LG6 = 1.531383769920937332e-1;
const LG7 = 1.479819860511658591e-1;

/** The natural logarithm of any double: fdlibm's `__ieee754_log`. */
export function fdlibmLog(x: number): number {
  let hx = highWord(x);
  let k = 0;
  if (hx < 0x00100000) {
    // below 2^-1022: zero, negative or subnormal
    if (((hx & 0x7fffffff) | lowWord(x)) === 0) return -Infinity;
    if (hx < 0) return NaN;
    k -= 54;
    x *= TWO54;
    hx = highWord(x);
  }
  if (hx >= 0x7ff00000) return x + x;
  k += (hx >> 20) - 1023;
  hx &= 0x000fffff;
  const i = (hx + 0x95f64) & 0x100000;
  // x or x/2, whichever lies in [sqrt(2)/2, sqrt(2))
  x = withHighWord(x, hx | (i ^ 0x3ff00000));
  k += i >> 20;
  const f = x - 1.0;
  if ((0x000fffff & (2 + hx)) < 3) {
    // |f| < 2^-20: a shorter series
    if (f === 0) return k === 0 ? 0 : k * LN2_HI + k * LN2_LO;
    const r = f * f * (0.5 - 0.33333333333333333 * f);
    return k === 0 ? f - r : k * LN2_HI - ((r - k * LN2_LO) - f);
  }
  const s = f / (2.0 + f);
  const z = s * s;
  const w = z * z;
  const t1 = w * (LG2 + w * (LG4 + w * LG6));
  const t2 = z * (LG1 + w * (LG3 + w * (LG5 + w * LG7)));
  const r = t2 + t1;
  if (((hx - 0x6147a) | (0x6b851 - hx)) > 0) {
    const hfsq = 0.5 * f * f;
    return k === 0 ? f - (hfsq - s * (hfsq + r)) : k * LN2_HI - ((hfsq - (s * (hfsq + r) + k * LN2_LO)) - f);
  }
  return k === 0 ? f - s * (f - r) : k * LN2_HI - ((s * (f - r) - k * LN2_LO) - f);
}

const C1 = 4.16666666666666019037e-2;
const C2 = -1.38888888888741095749e-3;
const C3 = 2.48015872894767294178e-5;
const C4 = -2.75573143513906633035e-7;
const C5 = 2.08757232129817482790e-9;
const C6 = -1.13596475577881948265e-11;

/** cos(x + y) for |x| <= π/4, y the tail of x: fdlibm's `__kernel_cos`. */
function kernelCos(x: number, y: number): number {
  const ix = highWord(x) & 0x7fffffff;
  // |x| < 2^-27: fdlibm's test (int)x == 0 always holds there
  if (ix < 0x3e400000) return 1.0;
  const z = x * x;
  const r = z * (C1 + z * (C2 + z * (C3 + z * (C4 + z * (C5 + z * C6)))));
  if (ix < 0x3fd33333) return 1.0 - (0.5 * z - (z * r - x * y));
  // |x|/4 with its low word cleared, or 0.28125 above 0.78125
  const qx = ix > 0x3fe90000 ? 0.28125 : fromWords(ix - 0x00200000, 0);
  const hz = 0.5 * z - qx;
  const a = 1.0 - qx;
  return a - (hz - (z * r - x * y));
}

const S1 = -1.66666666666666324348e-1;
const S2 = 8.33333333332248946124e-3;
const S3 = -1.98412698298579493134e-4;
const S4 = 2.75573137070700676789e-6;
const S5 = -2.50507602534068634195e-8;
const S6 = 1.58969099521155010221e-10;

/** sin(x + y) for |x| <= π/4, y the tail of x: fdlibm's `__kernel_sin` with iy = 1, as `cos` calls it. */
function kernelSin(x: number, y: number): number {
  const ix = highWord(x) & 0x7fffffff;
  if (ix < 0x3e400000) return x;
  const z = x * x;
  const v = z * x;
  const r = S2 + z * (S3 + z * (S4 + z * (S5 + z * S6)));
  return x - ((z * (0.5 * y - v * r) - y) - v * S1);
}

const INVPIO2 = 6.36619772367581382433e-1;
const PIO2_1 = 1.57079632673412561417e0;
const PIO2_1T = 6.07710050650619224932e-11;
const PIO2_2 = 6.07710050630396597660e-11;
const PIO2_2T = 2.02226624879595063154e-21;
const PIO2_3 = 2.02226624871116645580e-21;
const PIO2_3T = 8.47842766036889956997e-32;
/** The high words of n·π/2 for n = 1 to 32: an argument that shares one may lose bits in the first reduction. */
const NPIO2_HW = [
  0x3ff921fb, 0x400921fb, 0x4012d97c, 0x401921fb, 0x401f6a7a, 0x4022d97c, 0x4025fdbb, 0x402921fb,
  0x402c463a, 0x402f6a7a, 0x4031475c, 0x4032d97c, 0x40346b9c, 0x4035fdbb, 0x40378fdb, 0x403921fb,
  0x403ab41b, 0x403c463a, 0x403dd85a, 0x403f6a7a, 0x40407e4c, 0x4041475c, 0x4042106c, 0x4042d97c,
  0x4043a28c, 0x40446b9c, 0x404534ac, 0x4045fdbb, 0x4046c6cb, 0x40478fdb, 0x404858eb, 0x404921fb,
];

/** The high word of the largest arguments that fdlibm reduces without `__kernel_rem_pio2` (its medium size, past 2^19·π/2). */
const MEDIUM = 0x413921fb;

/** x − n·π/2 as a head and a tail, in `y`, and n: fdlibm's `__ieee754_rem_pio2` for π/4 < |x| <= 2^19·π/2. */
function remPio2(x: number, y: Float64Array): number {
  const hx = highWord(x);
  const ix = hx & 0x7fffffff;
  if (ix < 0x4002d97c) {
    // |x| < 3π/4: n = ±1, with 33 + 33 + 53 bits of π/2 when x is near it
    const sign = hx > 0 ? 1 : -1;
    let z = x - sign * PIO2_1;
    if (ix !== 0x3ff921fb) {
      y[0] = z - sign * PIO2_1T;
      y[1] = (z - y[0]) - sign * PIO2_1T;
    } else {
      z -= sign * PIO2_2;
      y[0] = z - sign * PIO2_2T;
      y[1] = (z - y[0]) - sign * PIO2_2T;
    }
    return sign;
  }
  const t = Math.abs(x);
  const n = Math.trunc(t * INVPIO2 + 0.5);
  let r = t - n * PIO2_1;
  let w = n * PIO2_1T; // good to 85 bits
  y[0] = r - w;
  if (n >= 32 || ix === NPIO2_HW[n - 1]) {
    const j = ix >> 20;
    let i = j - ((highWord(y[0]) >> 20) & 0x7ff);
    if (i > 16) {
      // a second iteration, good to 118 bits
      let u = r;
      w = n * PIO2_2;
      r = u - w;
      w = n * PIO2_2T - ((u - r) - w);
      y[0] = r - w;
      i = j - ((highWord(y[0]) >> 20) & 0x7ff);
      if (i > 49) {
        // a third, good to 151 bits
        u = r;
        w = n * PIO2_3;
        r = u - w;
        w = n * PIO2_3T - ((u - r) - w);
        y[0] = r - w;
      }
    }
  }
  y[1] = (r - y[0]) - w;
  if (hx >= 0) return n;
  y[0] = -y[0];
  y[1] = -y[1];
  return -n;
}

const reduced = new Float64Array(2);

/**
 * The cosine: fdlibm's `cos`, for |x| <= 2^19·π/2, the infinities and NaN.
 * Beyond, fdlibm reduces with `__kernel_rem_pio2`, which central noise never
 * needs (its arguments lie in [0, 2π)), so this refuses rather than guess.
 */
export function fdlibmCos(x: number): number {
  const ix = highWord(x) & 0x7fffffff;
  if (ix <= 0x3fe921fb) return kernelCos(x, 0);
  if (ix >= 0x7ff00000) return x - x;
  if (ix > MEDIUM) throw new RangeError(`fdlibmCos is defined for |x| <= 2^19·π/2, not ${x}`);
  switch (remPio2(x, reduced) & 3) {
    case 0:
      return kernelCos(reduced[0], reduced[1]);
    case 1:
      return -kernelSin(reduced[0], reduced[1]);
    case 2:
      return -kernelCos(reduced[0], reduced[1]);
    default:
      return kernelSin(reduced[0], reduced[1]);
  }
}
