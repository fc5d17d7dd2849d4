#!/usr/bin/python3
"""augment_numpy.py TEST_AUGMENT: augment crop_flip against an independent numpy reference.

The draws: rng.c (splitmix64 seeding, xoshiro256**, rejection rng_below) rewritten here in
Python integers, rng_seed_counter(seed, RNG_STREAM_AUGMENT = 7, epoch << 32 | image), then
top, left in 0..8 and a flip bit, as augment.c draws them. The transform: np.pad by 4 zeros,
the crop [top:top+H, left:left+W], [..., ::-1] if flipped (torchvision's RandomCrop(padding=4)
then RandomHorizontalFlip). Random float32 images of several shapes, seeds and epochs; C's
draws and pixels must equal these exactly.
"""
import os
import subprocess
import sys
import tempfile

import numpy as np

M = (1 << 64) - 1
PAD, STREAM = 4, 7


def splitmix64(x):
    x = (x + 0x9E3779B97F4A7C15) & M
    z = x
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M
    return x, z ^ (z >> 31)


def rotl(x, k):
    return ((x << k) | (x >> (64 - k))) & M


class Xoshiro:
    def __init__(self, seed, stream, counter):
        x = seed ^ ((stream * 0xD1B54A32D192ED03) & M)
        x, h = splitmix64(x)
        x = h ^ counter
        self.s = []
        for _ in range(4):
            x, v = splitmix64(x)
            self.s.append(v)

    def u64(self):
        s = self.s
        result = (rotl((s[1] * 5) & M, 7) * 9) & M
        t = (s[1] << 17) & M
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = rotl(s[3], 45)
        return result

    def below(self, n):
        limit = M - M % n
        while True:
            x = self.u64()
            if x < limit:
                return x % n


def draw(seed, epoch, i):
    r = Xoshiro(seed, STREAM, (epoch << 32) | i)
    dy = r.below(2 * PAD + 1)
    dx = r.below(2 * PAD + 1)
    return dy, dx, r.u64() >> 63


def transform(img, dy, dx, flip):
    c, h, w = img.shape
    out = np.pad(img, ((0, 0), (PAD, PAD), (PAD, PAD)))[:, dy:dy + h, dx:dx + w]
    return out[:, :, ::-1] if flip else out


def main():
    exe = sys.argv[1]
    rng = np.random.default_rng(0)
    cases = [(0, 0, (3, 32, 32), 40), (12345, 7, (1, 28, 28), 40), (2**31 - 1, 199, (1, 16, 16), 20)]
    bad = checked = flips = 0
    offsets = set()
    with tempfile.TemporaryDirectory() as t:
        for seed, epoch, shape, n in cases:
            x = (rng.standard_normal((n,) + shape) + 0.5).astype(np.float32)
            x.tofile(os.path.join(t, "in"))
            subprocess.run([exe, "dump", str(seed), str(epoch), *map(str, shape), str(n),
                            os.path.join(t, "in"), os.path.join(t, "out")], check=True)
            raw = np.fromfile(os.path.join(t, "out"), dtype=np.uint8)
            d = int(np.prod(shape))
            rec = raw.reshape(n, 12 + 4 * d)
            for i in range(n):
                got_draw = tuple(int(v) for v in rec[i, :12].view(np.int32))
                got = rec[i, 12:].view(np.float32).reshape(shape)
                want_draw = draw(seed, epoch, i)
                want = transform(x[i], *want_draw)
                checked += 1
                flips += want_draw[2]
                offsets.add(want_draw[:2])
                if got_draw != want_draw or not np.array_equal(got, want):
                    bad += 1
                    print(f"seed {seed} epoch {epoch} image {i}: C {got_draw} numpy {want_draw}, "
                          f"pixels equal: {np.array_equal(got, want)}")
    # the cases must exercise the transform: flips both ways, many offsets
    ok = bad == 0 and 0 < flips < checked and len(offsets) > 30
    print(f"augment_numpy: {checked - bad} passed, {bad} failed ({flips} flips, {len(offsets)} offsets)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
