#!/usr/bin/env python3
"""Verifies an exported audit bundle on its own, from docs/protocol.md alone.

Independent of the project's code: Python 3 standard library plus Debian's
python3-cryptography (Ed25519, X25519, AES). It checks
the hash chain, the coordinator's signature of every record, every participant
signature and model attestation the records hold, the bytes of every retained
update, model and strategy state against their SHA-256, and recomputes each
FedAvg, FedProx, median and trimmed-mean round from the retained updates bit
for bit: float64 in the recorded order, rounded to float32 once; a secure
round from its masked inputs, the masks removed with the secrets its
secagg.unmasked record holds; a central-DP round from its updates and the
noise seed kept beside them (checked against its hash), the noise drawn with
ports of fdlibm's log and cos (as the coordinator draws it, and as Node 20's
Math.log and Math.cos compute them). Rounds it cannot recompute (other
strategies, updates not retained or not exported, and a secure job's
statistics phase, whose inputs it checks against their hashes only) are named
as such, never counted as checked.

  verify_bundle.py BUNDLE [--key COORDINATOR_KEY_BASE64]
  verify_bundle.py --vectors shared/test-vectors     checks the test vectors

Exit status: 0 verified, 1 an inconsistency (named on the last line), 2 usage or
no python3-cryptography.
"""
import base64
import hashlib
import hmac
import json
import math
import re
import struct
import sys
import urllib.parse
from pathlib import Path

try:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
except ImportError:
    print('verify_bundle.py needs python3-cryptography (apt-get install python3-cryptography)', file=sys.stderr)
    sys.exit(2)


def ed25519_verify(key: bytes, signature: bytes, message: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(key).verify(signature, message)
        return True
    except (InvalidSignature, ValueError):
        return False


def raw_public(private) -> bytes:
    return private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def ed25519_sign(seed: bytes, message: bytes) -> tuple:
    private = Ed25519PrivateKey.from_private_bytes(seed)
    return raw_public(private), private.sign(message)


GENESIS = '0' * 64
EMPTY_STATE = struct.pack('<I', 2) + b'[]'  # encodeState({}): a 4-byte length, then the JSON list of names


class Inconsistency(Exception):
    def __init__(self, where: str, reason: str):
        super().__init__(f'{where}: {reason}')
        self.where, self.reason = where, reason


# ---- RFC 8785 (JCS) ------------------------------------------------------------

def es_number(x: float) -> str:
    """A double as ECMAScript's Number::toString writes it (RFC 8785 section 3.2.2.3)."""
    if not math.isfinite(x):
        raise ValueError('canonical JSON cannot hold a non-finite number')
    if x == 0:
        return '0'
    # repr() gives the shortest digits that round-trip, nearest to x: the digits ECMAScript picks.
    mantissa, _, exponent = repr(abs(x)).partition('e')
    whole, _, fraction = mantissa.partition('.')
    digits = (whole + fraction).lstrip('0')
    stripped = digits.rstrip('0')
    e10 = int(exponent or 0) - len(fraction) + (len(digits) - len(stripped))
    digits, k = stripped, len(stripped)
    n = e10 + k  # x = 0.digits * 10^n
    sign = '-' if x < 0 else ''
    if k <= n <= 21:
        return sign + digits + '0' * (n - k)
    if 0 < n <= 21:
        return sign + digits[:n] + '.' + digits[n:]
    if -6 < n <= 0:
        return sign + '0.' + '0' * -n + digits
    e = n - 1
    return sign + digits[0] + ('.' + digits[1:] if k > 1 else '') + 'e' + ('+' if e >= 0 else '-') + str(abs(e))


_ESCAPES = {'"': '\\"', '\\': '\\\\', '\b': '\\b', '\f': '\\f', '\n': '\\n', '\r': '\\r', '\t': '\\t'}


def es_string(s: str, lone_surrogates: bool) -> str:
    out = ['"']
    for ch in s:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ch < ' ':
            out.append('\\u%04x' % ord(ch))
        elif '\ud800' <= ch <= '\udfff':
            # Version 2 takes I-JSON only; version 1 wrote them escaped, as JSON.stringify does.
            if not lone_surrogates:
                raise ValueError('canonical JSON cannot hold a lone surrogate')
            out.append('\\u%04x' % ord(ch))
        else:
            out.append(ch)
    out.append('"')
    return ''.join(out)


def jcs(value, lone_surrogates: bool = False) -> str:
    """RFC 8785: sorted keys (UTF-16 code units), no whitespace, ECMAScript numbers."""
    if value is None:
        return 'null'
    if value is True:
        return 'true'
    if value is False:
        return 'false'
    if isinstance(value, (int, float)):
        return es_number(float(value))
    if isinstance(value, str):
        return es_string(value, lone_surrogates)
    if isinstance(value, list):
        return '[' + ','.join(jcs(v, lone_surrogates) for v in value) + ']'
    if isinstance(value, dict):
        keys = sorted(value, key=lambda k: k.encode('utf-16-be', 'surrogatepass'))
        return '{' + ','.join(es_string(k, lone_surrogates) + ':' + jcs(value[k], lone_surrogates) for k in keys) + '}'
    raise ValueError(f'canonical JSON cannot hold a {type(value).__name__}')


def canonical(version: int, value) -> str:
    # Version 1's own canonical JSON gives the same text as JCS on JSON data (docs/protocol.md).
    return jcs(value, lone_surrogates=version == 1)


def parse_json(text: str):
    def no_duplicates(pairs):
        keys = [k for k, _ in pairs]
        if len(keys) != len(set(keys)):
            raise ValueError('a key appears twice')
        return dict(pairs)

    def no_constant(name):
        raise ValueError(f'{name} is not JSON')

    return json.loads(text, object_pairs_hook=no_duplicates, parse_constant=no_constant)


def signed_bytes(version: int, domain: str, header) -> bytes:
    return f'FL{version}\0{domain}\0'.encode() + canonical(version, header).encode('utf-8')


def decode_key(text) -> bytes:
    raw = base64.b64decode(text, validate=True) if isinstance(text, str) and re.fullmatch(r'[A-Za-z0-9+/]{43}=', text) else b''
    return raw if len(raw) == 32 and base64.b64encode(raw).decode() == text else None


def signed(version: int, domain: str, header, signature, key: bytes) -> bool:
    if not isinstance(signature, str) or not re.fullmatch(r'[A-Za-z0-9+/]{86}==', signature):
        return False
    raw = base64.b64decode(signature)
    return base64.b64encode(raw).decode() == signature and ed25519_verify(key, raw, signed_bytes(version, domain, header))


def fingerprint(key: bytes) -> str:
    h = hashlib.sha256(key).hexdigest()[:32]
    return ':'.join(h[i:i + 4] for i in range(0, 32, 4))


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ---- the bundle -----------------------------------------------------------------

def segment(name: str) -> str:
    """A name as one path segment, as the exporter writes it: percent-encoded, a leading dot too."""
    s = urllib.parse.quote(name, safe='')
    return '%2E' + s[1:] if s.startswith('.') else s


def whole(value) -> bool:
    # JSON has one kind of number: 52.0 is 52, as it is to the TypeScript verifier.
    return isinstance(value, (int, float)) and not isinstance(value, bool) and float(value).is_integer()


# The manifest's fields (docs/protocol.md#audit-bundles): what each must hold, and whether it may be left out.
# A field not named here is ignored, not refused: a newer coordinator may add one that an older verifier
# has no use for; one that changes how a bundle is read comes with a new version (docs/audit.md).
MANIFEST_FIELDS = {
    'format': ('a string', lambda v: isinstance(v, str), True),
    'version': ('a whole number', whole, True),
    'coordinatorKey': ('a string', lambda v: isinstance(v, str), True),
    'exportedAt': ('a whole number', whole, True),
    'records': ('a whole number of 0 or more', lambda v: whole(v) and v >= 0, True),
    'head': ('a string', lambda v: isinstance(v, str), True),
    'participant': ('a string', lambda v: isinstance(v, str), False),
}


class Bundle:
    def __init__(self, root: Path):
        self.root = root
        place = str(root / 'manifest.json')
        try:
            self.manifest = json.loads((root / 'manifest.json').read_text('utf-8'))
        except (OSError, ValueError) as err:
            raise Inconsistency(place, f'not a readable manifest: {err}')
        m = self.manifest
        if not isinstance(m, dict) or m.get('format') != 'fl-audit-bundle' or m.get('version') not in (1, 2):
            raise Inconsistency(place, 'not an fl-audit-bundle manifest of version 1 or 2')
        for name, (what, ok, required) in MANIFEST_FIELDS.items():
            if name not in m:
                if required:
                    raise Inconsistency(place, f'not an fl-audit-bundle manifest: it has no "{name}"')
            elif not ok(m[name]):
                raise Inconsistency(place, f'not an fl-audit-bundle manifest: "{name}" is {json.dumps(m[name])}, not {what}')
        self.unknown_fields = [name for name in m if name not in MANIFEST_FIELDS]

    def records(self):
        data = (self.root / 'records.jsonl').read_bytes()
        lines = data.split(b'\n')
        if lines and lines[-1] == b'':
            lines.pop()
        return lines

    def file(self, relative: str):
        path = self.root / relative
        return (path.read_bytes() if path.is_file() else None), str(path)

    def update(self, job, rnd, participant, digest):
        return self.file(f'updates/{segment(job)}/{rnd}/{segment(participant)}.{digest}.f32')

    def model(self, job, rnd):
        return self.file(f'models/{segment(job)}/{rnd}.f32')

    def state(self, job, rnd):
        return self.file(f'states/{segment(job)}/{rnd}.state')


def float32s(data: bytes) -> list:
    return list(struct.unpack(f'<{len(data) // 4}f', data))


def bounded(strategy: dict, global_model: list, weights: list) -> list:
    """An update's difference from the global model scaled to at most clipNorm (L2), in float64."""
    clip = strategy.get('clipNorm')
    if clip is None:
        return weights
    squares = 0.0
    for w, g in zip(weights, global_model):
        squares += (w - g) * (w - g)
    norm = math.sqrt(squares)
    if norm <= clip:
        return weights
    scale = clip / norm
    return [g + (w - g) * scale for w, g in zip(weights, global_model)]


def fedavg(strategy: dict, global_model: list, updates: list) -> list:
    """FedAvg as the code computes it: float64 sums of (bounded) weights x weight in order, / total."""
    total, sums = 0.0, [0.0] * len(global_model)
    for weights, num_samples in updates:
        weight = 1.0 if strategy.get('weighting') == 'uniform' else float(num_samples)
        for i, w in enumerate(bounded(strategy, global_model, weights)):
            sums[i] += w * weight
        total += weight
    return [s / total for s in sums]


def coordinate_wise(pick):
    """Per coordinate: the (bounded) updates' values sorted as a Float64Array sorts them (-0 before 0), reduced by pick."""
    def aggregate(strategy: dict, global_model: list, updates: list) -> list:
        kept = [bounded(strategy, global_model, weights) for weights, _ in updates]
        return [pick(sorted(column, key=lambda v: (v, math.copysign(1.0, v))), strategy) for column in zip(*kept)]
    return aggregate


def median(values: list, _strategy) -> float:
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2


def trimmed_mean(values: list, strategy) -> float:
    cut = math.floor(strategy['beta'] * len(values))
    total = 0.0
    for v in values[cut:len(values) - cut]:
        total += v
    return total / (len(values) - 2 * cut)


# ---- secure aggregation: the masks removed from the sum (docs/privacy.md) --------------

def hkdf(ikm: bytes, salt: bytes, info: str, length: int = 32) -> bytes:
    """RFC 5869 with SHA-256."""
    prk = hmac.new(salt or bytes(32), ikm, hashlib.sha256).digest()
    out, block, i = b'', b'', 1
    while len(out) < length:
        block = hmac.new(prk, block + info.encode() + bytes([i]), hashlib.sha256).digest()
        out, i = out + block, i + 1
    return out[:length]


def prg(seed: bytes, purpose: str, length: int) -> list:
    """A mask: the AES-256-CTR keystream (zero IV) of HKDF(seed, 'fl-secagg prg <purpose>'), as Uint32 LE words."""
    encryptor = Cipher(algorithms.AES(hkdf(seed, b'', f'fl-secagg prg {purpose}')), modes.CTR(bytes(16))).encryptor()
    return list(struct.unpack(f'<{length}I', encryptor.update(bytes(4 * length))))


def utf16(text: str) -> bytes:
    return text.encode('utf-16-be', 'surrogatepass')


def neighbours(parties: list, k: int) -> dict:
    """The Harary ring over the sorted ids: each party's k/2 ids before and after it (all others when k >= n - 1)."""
    ids = sorted(parties, key=utf16)
    n = len(ids)
    if k >= n - 1:
        return {i: [o for o in ids if o != i] for i in ids}
    return {ids[i]: sorted({ids[(i - s) % n] for s in range(1, k // 2 + 1)} | {ids[(i + s) % n] for s in range(1, k // 2 + 1)}, key=utf16)
            for i in range(n)}


def unmasked_sum(u: dict, inputs: dict) -> list:
    """The sum of the masked inputs with every mask removed, in Z_2^32, each secret checked against what its owner signed."""
    adverts = {a['participant']: a for a in u['adverts']}
    survivors = sorted(inputs, key=utf16)
    dropped = sorted((p for p in u['sharers'] if p not in inputs), key=utf16)
    length = len(inputs[survivors[0]])
    total = [sum(col) % 2 ** 32 for col in zip(*(inputs[p] for p in survivors))]
    graph = neighbours(u['participants'], u['neighbours'])

    def secret(of: dict, who: str, what: str) -> bytes:
        raw = base64.b64decode(of.get(who, ''))
        if len(raw) != 32:
            raise ValueError(f'no {what} of {who}')
        return raw

    for p in survivors:
        seed = secret(u['seeds'], p, 'seed')
        if base64.b64encode(hashlib.sha256(seed).digest()).decode() != adverts[p]['seedCommitment']:
            raise ValueError(f'the seed of {p} does not match its commitment')
        total = [(t - m) % 2 ** 32 for t, m in zip(total, prg(seed, 'self', length))]
    for p in dropped:
        private = X25519PrivateKey.from_private_bytes(secret(u['maskKeys'], p, 'mask key'))
        if base64.b64encode(raw_public(private)).decode() != adverts[p]['sPublicKey']:
            raise ValueError(f'the mask key of {p} does not match its public key')
        for other in graph.get(p, []):
            if other not in inputs:
                continue
            shared = private.exchange(X25519PublicKey.from_public_bytes(base64.b64decode(adverts[other]['sPublicKey'])))
            pair = sorted([p, other], key=utf16)
            context = jcs({'job': u['job'], 'round': u['round'], 'pair': pair})
            mask = prg(hkdf(shared, context.encode(), 'fl-secagg pairwise mask'), 'pair', length)
            # `other` added +mask when its id is the smaller one: take it back out.
            sign = -1 if utf16(other) < utf16(p) else 1
            total = [(t + sign * m) % 2 ** 32 for t, m in zip(total, mask)]
    return total


def secure_update(global_model: list, total: list, q: dict) -> tuple:
    """The unmasked sum read back (signed 32-bit levels x range/levels), and the global model moved by its weighted mean, in float32."""
    unit = q['range'] / q['levels']
    weight = total[-1]
    means = [g + ((t - 2 ** 32 if t >= 2 ** 31 else t) * unit) / weight for g, t in zip(global_model, total[:-1])]
    return float32s(struct.pack(f'<{len(means)}f', *means)), weight


# ---- central noise: fdlibm's log and cos (docs/protocol.md) -----------------------------------
#
# The coordinator draws central noise with fdlibm's log and cos (Node 20's Math.log and Math.cos), which
# are not correctly rounded and differ from the C library's (Python's math.log and math.cos) in the last
# bit of many results: fdlibm's __ieee754_log and cos (with __ieee754_rem_pio2, __kernel_cos and __kernel_sin) as
# V8's src/base/ieee754.cc compiles them, ported here with IEEE basic operations only, which Python
# rounds as C does. fdlibm's notice, which its licence asks to keep:
#
#   Copyright (C) 1993 by Sun Microsystems, Inc. All rights reserved.
#   Developed at SunSoft, a Sun Microsystems, Inc. business.
#   Permission to use, copy, modify, and distribute this
#   software is freely granted, provided that this notice
#   is preserved.

_DOUBLE = struct.Struct('<d')
_BITS = struct.Struct('<q')  # signed: >> 32 gives the high word as the C code's int32_t holds it


def _words(x: float) -> tuple:
    bits = _BITS.unpack(_DOUBLE.pack(x))[0]
    return bits >> 32, bits & 0xFFFFFFFF


def _from_words(high: int, low: int) -> float:
    return _DOUBLE.unpack(struct.pack('<Q', (high & 0xFFFFFFFF) << 32 | low))[0]


_LN2_HI, _LN2_LO, _TWO54 = 6.93147180369123816490e-01, 1.90821492927058770002e-10, 1.80143985094819840000e+16
_LG1, _LG2, _LG3, _LG4 = 6.666666666666735130e-01, 3.999999999940941908e-01, 2.857142874366239149e-01, 2.222219843214978396e-01
_LG5, _LG6, _LG7 = 1.818357216161805012e-01, 1.531383769920937332e-01, 1.479819860511658591e-01


def js_log(x: float) -> float:
    """Math.log(x) as Node computes it: fdlibm's __ieee754_log."""
    hx, lx = _words(x)
    k = 0
    if hx < 0x00100000:  # below 2^-1022, zero or negative
        if ((hx & 0x7FFFFFFF) | lx) == 0:
            return -math.inf
        if hx < 0:
            return math.nan
        k -= 54
        x *= _TWO54  # subnormal: scaled up
        hx = _words(x)[0]
    if hx >= 0x7FF00000:
        return x + x
    k += (hx >> 20) - 1023
    hx &= 0x000FFFFF
    i = (hx + 0x95F64) & 0x100000
    x = _from_words(hx | (i ^ 0x3FF00000), _words(x)[1])  # x or x/2, within [sqrt(2)/2, sqrt(2))
    k += i >> 20
    f = x - 1.0
    if (0x000FFFFF & (2 + hx)) < 3:  # |f| < 2^-20
        if f == 0.0:
            if k == 0:
                return 0.0
            dk = float(k)
            return dk * _LN2_HI + dk * _LN2_LO
        r = f * f * (0.5 - 0.33333333333333333 * f)
        if k == 0:
            return f - r
        dk = float(k)
        return dk * _LN2_HI - ((r - dk * _LN2_LO) - f)
    s = f / (2.0 + f)
    dk = float(k)
    z = s * s
    i = hx - 0x6147A
    w = z * z
    j = 0x6B851 - hx
    t1 = w * (_LG2 + w * (_LG4 + w * _LG6))
    t2 = z * (_LG1 + w * (_LG3 + w * (_LG5 + w * _LG7)))
    i |= j
    r = t2 + t1
    if i > 0:
        hfsq = 0.5 * f * f
        if k == 0:
            return f - (hfsq - s * (hfsq + r))
        return dk * _LN2_HI - ((hfsq - (s * (hfsq + r) + dk * _LN2_LO)) - f)
    if k == 0:
        return f - s * (f - r)
    return dk * _LN2_HI - ((s * (f - r) - dk * _LN2_LO) - f)


_C1, _C2, _C3 = 4.16666666666666019037e-02, -1.38888888888741095749e-03, 2.48015872894767294178e-05
_C4, _C5, _C6 = -2.75573143513906633035e-07, 2.08757232129817482790e-09, -1.13596475577881948265e-11


def _kernel_cos(x: float, y: float) -> float:
    """cos(x + y) for |x| <= pi/4, y the tail of x."""
    ix = _words(x)[0] & 0x7FFFFFFF
    if ix < 0x3E400000 and int(x) == 0:  # |x| < 2^-27
        return 1.0
    z = x * x
    r = z * (_C1 + z * (_C2 + z * (_C3 + z * (_C4 + z * (_C5 + z * _C6)))))
    if ix < 0x3FD33333:  # |x| < 0.3
        return 1.0 - (0.5 * z - (z * r - x * y))
    qx = 0.28125 if ix > 0x3FE90000 else _from_words(ix - 0x00200000, 0)  # |x|/4 with its low word cleared
    iz = 0.5 * z - qx
    a = 1.0 - qx
    return a - (iz - (z * r - x * y))


_S1, _S2, _S3 = -1.66666666666666324348e-01, 8.33333333332248946124e-03, -1.98412698298579493134e-04
_S4, _S5, _S6 = 2.75573137070700676789e-06, -2.50507602534068634195e-08, 1.58969099521155010221e-10


def _kernel_sin(x: float, y: float) -> float:
    """sin(x + y) for |x| <= pi/4, y the tail of x (fdlibm's iy = 1: cos never passes a tail of 0 here)."""
    ix = _words(x)[0] & 0x7FFFFFFF
    if ix < 0x3E400000 and int(x) == 0:  # |x| < 2^-27
        return x
    z = x * x
    v = z * x
    r = _S2 + z * (_S3 + z * (_S4 + z * (_S5 + z * _S6)))
    return x - ((z * (0.5 * y - v * r) - y) - v * _S1)


_INVPIO2 = 6.36619772367581382433e-01
_PIO2_1, _PIO2_1T = 1.57079632673412561417e+00, 6.07710050650619224932e-11
_PIO2_2, _PIO2_2T = 6.07710050630396597660e-11, 2.02226624879595063154e-21
_PIO2_3, _PIO2_3T = 2.02226624871116645580e-21, 8.47842766036889956997e-32
# The high words of n*pi/2 for n = 1 to 32: an argument that shares one may lose bits in the first reduction.
_NPIO2_HW = (
    0x3FF921FB, 0x400921FB, 0x4012D97C, 0x401921FB, 0x401F6A7A, 0x4022D97C, 0x4025FDBB, 0x402921FB,
    0x402C463A, 0x402F6A7A, 0x4031475C, 0x4032D97C, 0x40346B9C, 0x4035FDBB, 0x40378FDB, 0x403921FB,
    0x403AB41B, 0x403C463A, 0x403DD85A, 0x403F6A7A, 0x40407E4C, 0x4041475C, 0x4042106C, 0x4042D97C,
    0x4043A28C, 0x40446B9C, 0x404534AC, 0x4045FDBB, 0x4046C6CB, 0x40478FDB, 0x404858EB, 0x404921FB,
)


def _rem_pio2(x: float) -> tuple:
    """n and x - n*pi/2 as a head and tail, for |x| <= 2^19*pi/2 (fdlibm's __ieee754_rem_pio2 up to its medium size)."""
    hx = _words(x)[0]
    ix = hx & 0x7FFFFFFF
    if ix <= 0x3FE921FB:  # |x| <= pi/4
        return 0, x, 0.0
    if ix < 0x4002D97C:  # |x| < 3pi/4: n = +-1
        if hx > 0:
            z = x - _PIO2_1
            if ix != 0x3FF921FB:
                y0 = z - _PIO2_1T
                return 1, y0, (z - y0) - _PIO2_1T
            z -= _PIO2_2  # near pi/2: 33 + 33 + 53 bits of pi
            y0 = z - _PIO2_2T
            return 1, y0, (z - y0) - _PIO2_2T
        z = x + _PIO2_1
        if ix != 0x3FF921FB:
            y0 = z + _PIO2_1T
            return -1, y0, (z - y0) + _PIO2_1T
        z += _PIO2_2
        y0 = z + _PIO2_2T
        return -1, y0, (z - y0) + _PIO2_2T
    if ix > 0x413921FB:
        # Larger arguments need fdlibm's __kernel_rem_pio2, which nothing here calls for: the noise's are below 2pi.
        raise ValueError(f'js_cos is defined here for |x| <= 2^19*pi/2, not {x!r}')
    t = abs(x)
    n = int(t * _INVPIO2 + 0.5)
    fn = float(n)
    r = t - fn * _PIO2_1
    w = fn * _PIO2_1T  # good to 85 bits
    if n < 32 and ix != _NPIO2_HW[n - 1]:
        y0 = r - w
    else:
        j = ix >> 20
        y0 = r - w
        i = j - ((_words(y0)[0] >> 20) & 0x7FF)
        if i > 16:  # a second iteration, good to 118 bits
            t = r
            w = fn * _PIO2_2
            r = t - w
            w = fn * _PIO2_2T - ((t - r) - w)
            y0 = r - w
            i = j - ((_words(y0)[0] >> 20) & 0x7FF)
            if i > 49:  # a third, good to 151 bits
                t = r
                w = fn * _PIO2_3
                r = t - w
                w = fn * _PIO2_3T - ((t - r) - w)
                y0 = r - w
    y1 = (r - y0) - w
    return (-n, -y0, -y1) if hx < 0 else (n, y0, y1)


def js_cos(x: float) -> float:
    """Math.cos(x) as Node computes it: fdlibm's cos, for |x| <= 2^19*pi/2, infinities and NaN."""
    ix = _words(x)[0] & 0x7FFFFFFF
    if ix <= 0x3FE921FB:  # |x| <= pi/4
        return _kernel_cos(x, 0.0)
    if ix >= 0x7FF00000:
        return x - x
    n, y0, y1 = _rem_pio2(x)
    quadrant = n & 3
    if quadrant == 0:
        return _kernel_cos(y0, y1)
    if quadrant == 1:
        return -_kernel_sin(y0, y1)
    if quadrant == 2:
        return -_kernel_cos(y0, y1)
    return _kernel_sin(y0, y1)


def box_muller(w1: int, w2: int) -> float:
    """A standard normal number from two PRG words: u1 = (w1 + 1) / 2^32 in (0, 1], so its logarithm is finite, and u2 = w2 / 2^32."""
    return math.sqrt(-2 * js_log((w1 + 1) / 4294967296)) * js_cos(2 * math.pi * (w2 / 4294967296))


def seeded_gaussians(seed: bytes, count: int) -> list:
    """Standard normal numbers from a seed: Box-Muller over the PRG's words under 'dp-noise', two a number."""
    words = prg(seed, 'dp-noise', 2 * count)
    return [box_muller(words[2 * i], words[2 * i + 1]) for i in range(count)]


def central_update(global_model: list, updates: list, dp: dict, seed: bytes) -> tuple:
    """A central-DP round's one update: each difference from the global model clipped to L2 norm C, summed in float64,
    noised with z*C per coordinate, divided by the count and added to the global model, in float32; and that count."""
    clip = dp['clipNorm']
    sums = [0.0] * len(global_model)
    for weights in updates:
        delta = [w - g for w, g in zip(weights, global_model)]
        squares = 0.0
        for v in delta:
            squares += v * v
        norm = math.sqrt(squares)
        if not norm <= clip:  # as clipL2 decides, NaN included
            factor = clip / norm
            delta = [v * factor for v in delta]
        sums = [s + v for s, v in zip(sums, delta)]
    sigma = dp['noiseMultiplier'] * clip
    n = len(updates)
    noise = seeded_gaussians(seed, len(global_model))
    means = [g + (s + sigma * z) / n for g, s, z in zip(global_model, sums, noise)]
    return float32s(struct.pack(f'<{len(means)}f', *means)), n


# Kinds whose data only the chain and signatures vouch for here (docs/audit.md#records).
CHAIN_ONLY = {'user.added', 'user.removed', 'token.created', 'token.revoked', 'invitation.created', 'invitation.cancelled',
              'statistics.excluded'}

def number(low, high, low_open=False, high_open=False, integer=False) -> tuple:
    """A bound of the job spec's schema on a number: how a refusal says it, and its test (true and false are no numbers)."""
    what = (f"{'a whole number' if integer else 'a number'} {'above' if low_open else 'of at least'} {es_number(low)}"
            f" and {'below' if high_open else 'at most'} {es_number(high)}")

    def ok(v) -> bool:
        return (isinstance(v, (int, float)) and not isinstance(v, bool) and (v > low if low_open else v >= low)
                and (v < high if high_open else v <= high) and (not integer or float(v).is_integer()))
    return what, ok


REQUIRED = object()  # a parameter without a default, which the spec must give
WEIGHTING = (('"samples" or "uniform"', lambda v: isinstance(v, str) and v in ('samples', 'uniform')), 'samples')
CLIP_NORM = (number(0, 1e12, low_open=True), None)


def server_rate(default):
    return number(0, 100, low_open=True), default


def fraction(default):
    return number(0, 1), default


def tau(default):
    return number(0, 1, low_open=True), default


# Every strategy a job spec may name, its parameters' bounds and defaults (None: left out), as the job spec's
# JSON Schema gives them (docs/api.md, docs/strategies.md); any other name or parameter is refused, as audit verify refuses it.
STRATEGIES = {
    'fedavg': {'weighting': WEIGHTING, 'clipNorm': CLIP_NORM},
    'fedavgm': {'weighting': WEIGHTING, 'clipNorm': CLIP_NORM, 'serverLearningRate': server_rate(1), 'momentum': fraction(0.9)},
    'fedprox': {'weighting': WEIGHTING, 'clipNorm': CLIP_NORM, 'mu': (number(0, 100), 0.01)},
    'fedadam': {'weighting': WEIGHTING, 'clipNorm': CLIP_NORM, 'serverLearningRate': server_rate(0.1), 'beta1': fraction(0.9),
                'beta2': fraction(0.99), 'tau': tau(1e-9)},
    'fedyogi': {'weighting': WEIGHTING, 'clipNorm': CLIP_NORM, 'serverLearningRate': server_rate(0.01), 'beta1': fraction(0.9),
                'beta2': fraction(0.99), 'tau': tau(1e-3)},
    'fedadagrad': {'weighting': WEIGHTING, 'clipNorm': CLIP_NORM, 'serverLearningRate': server_rate(0.1), 'tau': tau(1e-9)},
    'scaffold': {'weighting': WEIGHTING, 'clipNorm': CLIP_NORM, 'serverLearningRate': server_rate(1)},
    'median': {'clipNorm': CLIP_NORM},
    'trimmed-mean': {'clipNorm': CLIP_NORM, 'beta': (number(0, 0.5, high_open=True), 0.2)},
    'krum': {'weighting': WEIGHTING, 'clipNorm': CLIP_NORM, 'f': (number(0, 100_000, integer=True), 0),
             'm': (number(1, 100_000, integer=True), 1)},
    'kmeans': {'k': (number(2, 1000, integer=True), REQUIRED)},
}

# The strategies recomputed here; each keeps no state. FedProx aggregates as FedAvg: it changes local training only.
RECOMPUTED = {
    'fedavg': fedavg,
    'fedprox': fedavg,
    'median': coordinate_wise(median),
    'trimmed-mean': coordinate_wise(trimmed_mean),
}

# What a committed round without a strategy was aggregated with: it was written before strategies were recorded.
DEFAULT_STRATEGY = {'name': 'fedavg', 'weighting': 'samples'}


def checked_strategy(named, prefix: str) -> tuple:
    """A strategy with its defaults filled in, and None; or None and what makes it none this verifier knows."""
    if not isinstance(named, dict):
        return None, f"{prefix.rstrip('.') or 'strategy'} is {jcs(named)}, not an object"
    name = named.get('name')
    if not isinstance(name, str) or name not in STRATEGIES:
        shown = jcs(name) if 'name' in named else 'missing'
        return None, f"{prefix}name is {shown}, not one of {', '.join(STRATEGIES)}"
    params = STRATEGIES[name]
    for param in named:
        if param != 'name' and param not in params:
            return None, f'{prefix}{param} is not a parameter of {name}'
    strategy = {'name': name}
    for param, ((what, ok), default) in params.items():
        if param in named:
            if not ok(named[param]):
                return None, f'{prefix}{param} is {jcs(named[param])}, not {what}'
            strategy[param] = named[param]
        elif default is REQUIRED:
            return None, f'{prefix}{param} is missing'
        elif default is not None:
            strategy[param] = default
    return strategy, None


def strategy_of(spec: dict) -> tuple:
    """The strategy a job.created spec gives its job, defaults filled in, and None; or None and why it names none."""
    if spec.get('model') == 'kmeans':
        # A kmeans model chooses k-means with the job's k, whatever the spec's strategy says (the schema fills in fedavg).
        return checked_strategy({'name': 'kmeans', **({'k': spec['k']} if 'k' in spec else {})}, '')
    if 'strategy' not in spec:
        return dict(DEFAULT_STRATEGY), None  # a spec written before strategies were recorded
    return checked_strategy(spec['strategy'], 'strategy.')


# The local training settings `audit verify` reads from every job's spec (it counts SCAFFOLD's local steps with them),
# bounded as the job spec's JSON Schema bounds them; one left out takes its default.
TRAINING = {
    'localEpochs': number(1, 1000, integer=True),
    'batchSize': number(1, 1_000_000, integer=True),
    'learningRate': number(0, 100, low_open=True),
}


def training_problem(spec: dict):
    """What is wrong with a job spec's local training settings; None when nothing is."""
    for field, (what, ok) in TRAINING.items():
        if field in spec and not ok(spec[field]):
            return f'{field} is {jcs(spec[field])}, not {what}'
    return None


def js_truthy(value) -> bool:
    """Whether JavaScript takes a JSON value as true, as audit verify takes a spec's dp: an object or list is, even empty."""
    return value not in (None, False, 0, '')


# The name under which a central-DP round's noise seed is kept beside its updates: never a site's name.
CENTRAL_NOISE = ':central-noise'


def verify(bundle: Bundle, trusted_key: str = None, say=print):
    m = bundle.manifest
    lines = bundle.records()
    participants, jobs, accepted, masked, missing = {}, {}, {}, {}, {}
    counts = {'updates': 0, 'retained': 0, 'checked': 0}
    unknown, unmasking = {}, {}
    coordinator = None
    prev = GENESIS
    where = lambda seq: f'audit record {seq} (records.jsonl line {seq})'
    shown = lambda key: fingerprint(decode_key(key)) if decode_key(key) else key
    # The bundle must name the key the auditor trusts, as fl-agent audit verify insists; record 1 must then announce it.
    if trusted_key is not None and m['coordinatorKey'] != trusted_key:
        raise Inconsistency('manifest.json', f"its coordinator key {shown(m['coordinatorKey'])} is not the one given with --key ({shown(trusted_key)})")

    for seq, raw in enumerate(lines, start=1):
        at = where(seq)

        def check(ok, reason, place=at):
            if not ok:
                raise Inconsistency(place, reason)

        try:
            text = raw.decode('utf-8')
            record = parse_json(text)
        except ValueError:
            raise Inconsistency(at, 'not JSON')
        check(isinstance(record, dict), 'not an audit record')
        version = record.get('version', 1)
        check(version in (1, 2), f'written in format version {version!r}, which this verifier does not know')
        try:
            stored_form = canonical(version, record)
        except ValueError:
            stored_form = None
        check(stored_form == text, 'not stored as its canonical JSON: its bytes were changed')
        fields = ['seq', 'at', 'kind', 'actor', 'data', 'prev', 'hash', 'signature'] + (['version'] if 'version' in record else [])
        check(sorted(record) == sorted(fields), 'not an audit record: its fields are ' + ', '.join(sorted(record)))
        check(record['seq'] == seq, f"says it is record {record['seq']}")
        check(record['prev'] == prev, f"its prev {record['prev']} is not the hash of {'the genesis' if seq == 1 else f'record {seq - 1}'} ({prev})")
        hashed = {k: record[k] for k in fields if k not in ('hash', 'signature')}
        check(sha256(canonical(version, hashed).encode('utf-8')) == record['hash'], 'its hash does not match its content')
        kind, data = record['kind'], record['data']
        check(isinstance(data, dict), 'its data is not an object')
        if seq == 1:
            check(kind == 'coordinator.key', f'the first record is {kind}, not coordinator.key')
            coordinator = decode_key(data.get('publicKey'))
            check(coordinator is not None, 'the coordinator key is not a base64 Ed25519 public key')
            check(data.get('fingerprint') == fingerprint(coordinator), 'the fingerprint is not that of the coordinator key')
            pinned = trusted_key or m['coordinatorKey']
            check(data['publicKey'] == pinned, f"announces coordinator key {fingerprint(coordinator)}, not the {'trusted key' if trusted_key else 'key the manifest names,'} {pinned}")
        check(signed(version, 'audit', {'seq': seq, 'hash': record['hash']}, record['signature'], coordinator), 'not signed by the coordinator key of record 1')
        prev = record['hash']

        job = jobs.get(data.get('job')) if isinstance(data.get('job'), str) else None

        def need_job():
            check(job is not None, f"job {data.get('job')} was never created (no job.created before this record)")
            return job

        def participant_key(name, approved=True):
            who = participants.get(name)
            check(who is not None, f'participant {name} has no key in the log')
            check(not approved or who['status'] == 'approved', f"participant {name} is {who['status']}, not approved")
            return who['key']

        def stored(item, data_bytes, path, digest, size=None):
            check(sha256(data_bytes) == digest, f'its bytes do not hash to {digest}, the SHA-256 in audit record {seq}', f'{item} ({path})')
            if size is not None:
                check(len(data_bytes) == size * 4, f'{len(data_bytes)} bytes, not the {size * 4} of the job\'s {size} parameters', f'{item} ({path})')

        if kind == 'coordinator.key':
            check(data.get('publicKey') == base64.b64encode(coordinator).decode(), 'announces a coordinator key other than the one of record 1')
        elif kind in ('participant.enrolled', 'participant.registered'):
            key = decode_key(data.get('publicKey'))
            check(key is not None, f"participant {data.get('name')}: the key is not a base64 Ed25519 public key")
            known = participants.get(data['name'])
            check(known is None or known['status'] in ('rejected', 'revoked'), f"participant {data['name']} already has a key")
            participants[data['name']] = {'key': key, 'status': 'approved' if kind == 'participant.registered' else 'pending'}
        elif kind in ('participant.approved', 'participant.rejected', 'participant.revoked'):
            known = participants.get(data.get('name'))
            allowed = ('pending', 'approved') if kind == 'participant.revoked' else ('pending',)
            check(known is not None and known['status'] in allowed, f"participant {data.get('name')} cannot be {kind.split('.')[1]} from its state")
            known['status'] = kind.split('.')[1]
        elif kind == 'job.created':
            check(data['job'] not in jobs, f"job {data['job']} is created a second time")
            spec = data.get('spec')
            check(isinstance(spec, dict), 'not a valid job.created record: its spec is not an object')
            strategy, problem = strategy_of(spec)
            check(strategy is not None, f"job {data['job']}: its spec names no strategy this verifier knows ({problem})")
            problem = training_problem(spec)
            check(problem is None, f"job {data['job']}: its spec's local training settings are not valid: {problem}")
            # Central DP: the coordinator adds the noise to the sum, so every round of the job commits to a noise seed.
            central = spec['dp'] if js_truthy(spec.get('dp')) and not js_truthy(spec.get('secureAggregation')) else None
            jobs[data['job']] = {'round': -1, 'strategy': strategy, 'central': central, 'rounds': 0, 'recomputed': 0, 'skipped': {}, 'methods': set()}
        elif kind in ('job.control', 'job.resumed'):
            need_job()  # a job paused, resumed or stopped is one the log created
        elif kind == 'model.initial':
            job = need_job()
            check(job['round'] == -1, f"job {data['job']} already has an initial model")
            attested = {k: v for k, v in data.items() if k != 'signature'}
            check(signed(version, 'model', {'type': 'model', **attested}, data['signature'], coordinator), 'the initial model is not signed by the coordinator key')
            blob, path = bundle.model(data['job'], 0)
            check(blob is not None, f'missing (audit record {seq} records it)', f"initial model of job {data['job']} ({path})")
            stored(f"initial model of job {data['job']}", blob, path, data['sha256'], data['size'])
            job.update(round=0, sha256=data['sha256'], size=data['size'], weights=float32s(blob))
        elif kind in ('update.accepted', 'update.excluded', 'secagg.input'):
            header = data['header']
            key = participant_key(data['participant'], approved=kind != 'update.excluded')
            differs = [f for f in ('job', 'round', 'participant') if header.get(f) != data.get(f)]
            if kind == 'update.accepted':
                differs += ['numSamples'] if header.get('numSamples') != data['numSamples'] else []
                differs += ['sha256'] if header.get('weightsSha256') != data['sha256'] else []
            if kind == 'secagg.input' and (header.get('maskedSha256') != data['sha256'] or header.get('step') != 'masked'):
                differs.append('sha256')
            check(not differs, 'the signed header and the record disagree on ' + ', '.join(differs))
            domain = 'secagg' if kind == 'secagg.input' else 'update'
            check(signed(version, domain, header, data['signature'], key), f"{'the masked input' if domain == 'secagg' else 'the update'} is not signed by the key of {data['participant']}")
            if kind == 'update.excluded':
                continue
            job = need_job()
            statistics = kind == 'secagg.input' and data['round'] <= 0
            if statistics:
                # A secure job's statistics phase (rounds -2 to 0) comes before its initial model.
                check(job['round'] == -1, f"a statistics-phase input of round {data['round']} after job {data['job']}'s initial model")
            else:
                check(data['round'] == job['round'] + 1, f"an update for round {data['round']} while round {job['round'] + 1} of job {data['job']} is open")
            counts['updates'] += 1
            counts['retained'] += data['retained']
            item = f"update of {data['participant']}, round {data['round']} of job {data['job']}"
            blob, path = bundle.update(data['job'], data['round'], data['participant'], data['sha256'])
            exported = m.get('participant') in (None, data['participant'])
            if blob is not None:
                size = None if statistics else job['size'] + 1 if kind == 'secagg.input' else job['size']
                stored(item, blob, path, data['sha256'], size)
                counts['checked'] += 1
            elif data['retained'] and exported:
                missing[(data['job'], data['round'], data['participant'], data['sha256'])] = (f'{item} ({path})', seq)
            entry = {'sha256': data['sha256'], 'numSamples': data.get('numSamples', 0), 'retained': data['retained'], 'seq': seq, 'blob': blob}
            table = masked if kind == 'secagg.input' else accepted
            table.setdefault((data['job'], data['round'], data['participant']), []).append(entry)
        elif kind == 'model.committed':
            job = need_job()
            attested = {k: v for k, v in data.items() if k != 'signature'}
            check(job['round'] >= 0, f"job {data['job']} has no initial model")
            check(data['round'] == job['round'] + 1, f"commits round {data['round']} after round {job['round']}")
            check(data['previous'] == job['sha256'], f"its previous model {data['previous']} is not round {job['round']}'s {job['sha256']}")
            check(signed(version, 'model', {'type': 'model', **attested}, data['signature'], coordinator), 'the committed model is not signed by the coordinator key')
            check(len(data['contributors']) > 0, 'a committed model without contributors')
            secure = 'secure' in data
            folded = []
            for c in data['contributors']:
                table = masked if secure else accepted
                match = [u for u in table.get((data['job'], data['round'], c['participant']), [])
                         if u['sha256'] == c['sha256'] and (secure or u['numSamples'] == c['numSamples'])]
                check(match, f"contributor {c['participant']}: no accepted {'masked input' if secure else 'update'} of round {data['round']} with SHA-256 {c['sha256']}")
                folded.append(match[0])
            check(len({c['participant'] for c in data['contributors']}) == len(data['contributors']), 'a participant contributes twice')
            # A record without a strategy was written before strategies were recorded: FedAvg, no state.
            strategy = data['strategy'] if 'strategy' in data else DEFAULT_STRATEGY
            named = job['strategy']
            check(jcs(strategy) == jcs(named), f"aggregated with {jcs(strategy)}, not the {jcs(named)} its job's spec names")
            check('strategy' not in data or 'stateSha256' in data, 'names a strategy but no digest of its state')
            # Participants revoked before the round's starting state was committed, whose part of it (SCAFFOLD's c_i) the round dropped.
            revoked = data.get('revoked', [])
            check(isinstance(revoked, list) and all(isinstance(n, str) for n in revoked), 'not a valid model.committed record: revoked is not a list of names')
            for name in revoked:
                status = participants.get(name, {}).get('status', 'not a participant')
                check(status == 'revoked', f"drops from its strategy's state what it kept of {name}, who is {status} here, not revoked")
            blob, path = bundle.model(data['job'], data['round'])
            check(blob is not None, f'missing (audit record {seq} commits it)', f"model of round {data['round']} of job {data['job']} ({path})")
            stored(f"model of round {data['round']} of job {data['job']}", blob, path, data['sha256'], job['size'])
            if 'stateSha256' in data:
                state, state_path = bundle.state(data['job'], data['round'])
                check(state is not None, f'missing (audit record {seq} names its SHA-256)', f"strategy state after round {data['round']} of job {data['job']} ({state_path})")
                stored(f"strategy state after round {data['round']} of job {data['job']}", state, state_path, data['stateSha256'])
            job['rounds'] += 1
            central = 'centralNoise' in data
            check(central == (job['central'] is not None), 'commits central noise in a job without central differential privacy' if central
                  else 'a central differential privacy round that commits to no noise seed')
            pruned = any((data['job'], data['round'], c['participant'], c['sha256']) in missing for c in data['contributors'])
            if central:
                digest = data['centralNoise'].get('seedSha256') if isinstance(data['centralNoise'], dict) else None
                check(isinstance(digest, str) and re.fullmatch('[0-9a-f]{64}', digest),
                      'not a valid model.committed record: centralNoise.seedSha256 is not a lowercase hex SHA-256')
            exported = lambda participant: m.get('participant') in (None, participant)
            # The seed is kept, and exported, with all of a round's updates: then it must be there.
            seed = None
            if (central and exported(CENTRAL_NOISE) and not pruned and all(u['retained'] for u in folded)
                    and all(exported(c['participant']) for c in data['contributors'])):
                seed, seed_path = bundle.update(data['job'], data['round'], CENTRAL_NOISE, digest)
                item = f"central noise seed of round {data['round']} of job {data['job']}"
                check(seed is not None, f"missing, though the round's updates were retained (audit record {seq} commits to it)", f'{item} ({seed_path})')
                stored(item, seed, seed_path, digest)
            why = None
            if strategy['name'] not in RECOMPUTED:
                why = f"strategy {strategy['name']} (this verifier recomputes {', '.join(RECOMPUTED)})"
            elif pruned:
                why = 'updates deleted by the retention policy'
            elif not all(u['retained'] for u in folded):
                why = 'updates not retained'
            elif any(u['blob'] is None for u in folded):
                why = "other sites' updates are not in this export"
            elif central and seed is None:
                why = 'its central noise seed is not in this export'
            if why:
                job['skipped'][why] = job['skipped'].get(why, 0) + 1
            else:
                method = RECOMPUTED[strategy['name']]
                if secure:
                    # The round's one update: the unmasked sum's weighted mean; no single input is unmasked.
                    check((data['job'], data['round']) in unmasking, 'a secure round without its secagg.unmasked record')
                    useq, u = unmasking[(data['job'], data['round'])]
                    inputs = {c['participant']: list(struct.unpack(f"<{len(f['blob']) // 4}I", f['blob'])) for c, f in zip(data['contributors'], folded)}
                    try:
                        weights, weight = secure_update(job['weights'], unmasked_sum(u, inputs), u['quantization'])
                    except (ValueError, KeyError) as err:
                        raise Inconsistency(where(useq), f'the masks cannot be removed: {err}')
                    check(weight == data['secure']['weight'], f"the unmasked sum carries weight {weight}, not the recorded {data['secure']['weight']}")
                    updates = [(weights, weight)]
                elif central:
                    # The round's one update: the clipped updates' noisy mean, its noise drawn from the kept seed.
                    updates = [central_update(job['weights'], [float32s(u['blob']) for u in folded], job['central'], seed)]
                else:
                    updates = [(float32s(u['blob']), u['numSamples']) for u in folded]
                model = method(strategy, job['weights'], updates)
                recomputed = sha256(struct.pack(f'<{len(model)}f', *model))  # rounded to float32 once
                check(recomputed == data['sha256'],
                      f"the committed model is not the {strategy['name']} of its contributors' updates: recomputed SHA-256 {recomputed}, recorded {data['sha256']}")
                check(data.get('stateSha256') in (None, sha256(EMPTY_STATE)), f"{strategy['name']} keeps no state, but the record names a non-empty one")
                job['recomputed'] += 1
                job['methods'].add(strategy['name'] + (' with central noise' if central else ''))
            job.update(round=data['round'], sha256=data['sha256'], weights=float32s(blob))
        elif kind in ('statistics.secure', 'vocabulary.secure'):
            # Signed and chained like every record; the sums of the statistics phase are not recomputed here.
            need_job()['statistics'] = True
        elif kind == 'secagg.unmasked':
            job = need_job()
            if data['round'] <= 0:
                check(job['round'] == -1, f"unmasks statistics round {data['round']} after job {data['job']}'s initial model")
            else:
                check(data['round'] == job['round'] + 1, f"unmasks round {data['round']} while round {job['round'] + 1} of job {data['job']} is open")
            unmasking[(data['job'], data['round'])] = (seq, data)
        elif kind not in CHAIN_ONLY and kind != 'updates.pruned':
            unknown[kind] = unknown.get(kind, 0) + 1
        elif kind == 'updates.pruned':
            job = need_job()
            check(data['throughRound'] <= job['round'], f"prunes updates up to round {data['throughRound']} of job {data['job']}, which has committed {job['round']}")
            for k in [k for k in missing if k[0] == data['job'] and k[1] <= data['throughRound']]:
                del missing[k]

    if not lines:
        raise Inconsistency('records.jsonl', 'holds no record')
    for place, seq in missing.values():
        raise Inconsistency(place, f'missing, though audit record {seq} says it was retained and no updates.pruned record deletes it')
    if m['records'] != len(lines) or m['head'] != prev:
        raise Inconsistency('manifest.json', f"says the log ends at record {m['records']} with hash {m['head']}; its records end at {len(lines)} with {prev}")

    say(f'chain: {len(lines)} records, hashes and coordinator signatures verified (coordinator key {fingerprint(coordinator)})')
    if bundle.unknown_fields:
        say('manifest fields this verifier does not know (ignored): ' + ', '.join(bundle.unknown_fields))
    if unknown:
        say('records of kinds this verifier does not know (chain and signature verified, content not): ' + ', '.join(f'{n} {k}' for k, n in unknown.items()))
    say(f"updates: {counts['updates']} accepted, participant signatures verified; {counts['retained']} retained, {counts['checked']} in this bundle, bytes match their hashes")
    for name, job in jobs.items():
        line = f"job {name}: {job['rounds']} round{'s' if job['rounds'] != 1 else ''} committed, {job['recomputed']} recomputed bit for bit"
        if job['recomputed']:
            line += f" ({', '.join(sorted(job['methods']))}: float64 in the recorded order, float32 once; models match)"
        for why, n in job['skipped'].items():
            line += f'; {n} not recomputed: {why}'
        if job.get('statistics'):
            line += '; secure statistics phase: masked inputs match their hashes, sums not recomputed'
        say(line)
    return jobs


# ---- the test vectors -------------------------------------------------------------

def verify_vectors(root: Path, say=print):
    """The vectors of docs/protocol.md, recomputed here: RFC 8785, signatures from seeds, digests."""
    vectors = json.loads((root / 'jcs.json').read_text('utf-8'))
    for case in vectors['cases']:
        out = jcs(parse_json(case['input']))
        if out != case['canonical'] or out.encode('utf-8').hex() != case['canonicalUtf8Hex']:
            raise Inconsistency(f"jcs.json case {case['name']}", f'canonical form {out!r}, not {case["canonical"]!r}')
    for n in vectors['numbers']:
        out = es_number(struct.unpack('>d', bytes.fromhex(n['ieee']))[0])
        if out != n['canonical']:
            raise Inconsistency(f"jcs.json number {n['ieee']}", f"written {out}, not {n['canonical']}")
    for n in vectors['refused']:
        try:
            es_number(struct.unpack('>d', bytes.fromhex(n['ieee']))[0])
            raise Inconsistency(f"jcs.json refused {n['ieee']}", 'accepted')
        except ValueError:
            pass
    say(f"jcs.json: {len(vectors['cases'])} RFC 8785 examples and {len(vectors['numbers'])} numbers match")

    sigs = json.loads((root / 'signatures.json').read_text('utf-8'))
    seeds = {}
    for k in sigs['keys']:
        public, _ = ed25519_sign(bytes.fromhex(k['seed']), b'')
        if base64.b64encode(public).decode() != k['publicKey']:
            raise Inconsistency(f"signatures.json key {k['name']}", 'its seed gives another public key')
        seeds[k['name']] = (bytes.fromhex(k['seed']), public)
    for i, msg in enumerate(sigs['messages']):
        place = f"signatures.json message {i + 1} ({msg['domain']}, version {msg['version']})"
        if canonical(msg['version'], msg['header']) != msg['canonical']:
            raise Inconsistency(place, 'its canonical JSON differs')
        data = signed_bytes(msg['version'], msg['domain'], msg['header'])
        if data.hex() != msg['signedBytes']:
            raise Inconsistency(place, 'its signed bytes differ')
        seed, public = seeds[msg['signer']]
        if base64.b64encode(ed25519_sign(seed, data)[1]).decode() != msg['signature'] or not signed(msg['version'], msg['domain'], msg['header'], msg['signature'], public):
            raise Inconsistency(place, 'its signature differs or does not verify')
    say(f"signatures.json: {len(sigs['messages'])} signed headers, canonical bytes and signatures match")

    d = json.loads((root / 'digests.json').read_text('utf-8'))
    weights = struct.pack(f"<{len(d['weights']['values'])}f", *d['weights']['values'])
    masked = struct.pack(f"<{len(d['maskedInput']['values'])}I", *d['maskedInput']['values'])
    for name, data in (('weights', weights), ('maskedInput', masked)):
        if data.hex() != d[name]['bytes'] or sha256(data) != d[name]['sha256']:
            raise Inconsistency(f'digests.json {name}', 'bytes or SHA-256 differ')
    if EMPTY_STATE.hex() != d['emptyState']['bytes'] or sha256(EMPTY_STATE) != d['emptyState']['sha256']:
        raise Inconsistency('digests.json emptyState', 'bytes or SHA-256 differ')
    setup = next(m['header'] for m in sigs['messages'] if m['domain'] == 'setup')
    if sha256(jcs(setup).encode('utf-8')) != d['setup']['sha256']:
        raise Inconsistency('digests.json setup', 'the SHA-256 of the setup header differs')
    for r in d['auditRecords']:
        if canonical(r['version'], r['hashed']) != r['hashedCanonical'] or sha256(r['hashedCanonical'].encode('utf-8')) != r['hash']:
            raise Inconsistency(f"digests.json audit record of version {r['version']}", 'its hash differs')
    say('digests.json: weights, masked input, state, setup and audit record digests match')

    noise = json.loads((root / 'central-noise.json').read_text('utf-8'))
    seed = bytes.fromhex(noise['seed'])
    if prg(seed, 'dp-noise', len(noise['words'])) != noise['words']:
        raise Inconsistency('central-noise.json words', "the seed's PRG words differ")
    drawn = seeded_gaussians(seed, len(noise['gaussians']))
    for i, (x, g) in enumerate(zip(drawn, noise['gaussians'])):
        if struct.pack('>d', x).hex() != g['ieee'] or x != g['value']:
            raise Inconsistency(f'central-noise.json Gaussian {i + 1}', f"drawn as {x!r} ({struct.pack('>d', x).hex()}), not {g['ieee']}")
    c = noise['centralUpdate']
    weights, weight = central_update(c['global'], c['updates'], c['dp'], seed)
    data = struct.pack(f'<{len(weights)}f', *weights)
    if weights != c['weights'] or weight != c['weight'] or data.hex() != c['bytes'] or sha256(data) != c['sha256']:
        raise Inconsistency('central-noise.json centralUpdate', 'its weights, bytes or SHA-256 differ')
    say(f"central-noise.json: {len(drawn)} Gaussians drawn from the seed and a central-DP update match")


def main(argv):
    args = list(argv)
    if '--vectors' in args:
        i = args.index('--vectors')
        run, target = verify_vectors, Path(args[i + 1]) if i + 1 < len(args) else None
        key = None
    else:
        key = None
        if '--key' in args:
            i = args.index('--key')
            key = args[i + 1] if i + 1 < len(args) else None
            del args[i:i + 2]
        run, target = None, Path(args[0]) if len(args) == 1 else None
    if target is None or not target.is_dir():
        print(__doc__.strip().split('\n\n')[2], file=sys.stderr)
        return 2
    try:
        if run:
            run(target)
        else:
            if key is None:
                print('note: no --key given: trusting the coordinator key the manifest names; compare its fingerprint out of band')
            verify(Bundle(target), key)
    except Inconsistency as err:
        print(f'FAILED: {err.where}: {err.reason}')
        return 1
    except (KeyError, TypeError, ValueError, struct.error) as err:
        print(f'FAILED: the bundle is malformed: {type(err).__name__}: {err}')
        return 1
    print('OK')
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
