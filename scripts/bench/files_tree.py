#!/usr/bin/env python3
"""The file tree of scripts/bench/files.sh (issue 16), deterministic for a seed.

  files_tree.py create DIR [--scale S] [--seed N]   the first tree
  files_tree.py mutate DIR [--scale S] [--seed N]   the change before the second backup

create: 20,000 x S small documents (1-200 KiB, text: compressible), 2,000 x S JPEG-like images
(0.5-5 MiB: a JPEG header, then random bytes: incompressible) and 50 x S large files
(20-100 MiB; even ones MP4-like random bytes, odd ones text exports), in a few hundred
directories as an upload tree would be (uploads/YYYY/MM/, avatars/, attachments/). Sizes are
log-uniform within each range (many small files, few big ones).

mutate: 5 % of the files changed (a document gets a paragraph inserted somewhere, an image is
replaced by another of the same size, a large file has 1 MiB rewritten in the middle), 200 x S
files added (documents and images in the same proportion as the tree) and 100 x S renamed
(moved to another directory).

Prints one JSON line: files, bytes, and per kind counts.
"""
import argparse
import json
import math
import os
import random
import sys

KiB = 1024
MiB = 1024 * 1024
JPEG_HEADER = bytes.fromhex("ffd8ffe000104a46494600010101004800480000ffdb004300")
MP4_HEADER = b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41"


def log_uniform(rng, lo, hi):
    return int(math.exp(rng.uniform(math.log(lo), math.log(hi))))


class Text:
    """Slices of a 64 MiB pool of words: compressible like prose (about 3:1), and large
    enough that two documents rarely share a slice within a compressor's window."""

    def __init__(self, rng):
        syllables = ["ka", "ri", "to", "mel", "an", "su", "ve", "lo", "ne", "dra", "pi", "or", "us", "th", "en", "qu"]
        vocabulary = ["".join(rng.choice(syllables) for _ in range(rng.randint(1, 4))) for _ in range(6000)]
        weights = [1.0 / (i + 1) for i in range(len(vocabulary))]
        words = rng.choices(vocabulary, weights=weights, k=11_000_000)
        for i in range(0, len(words), 13):
            words[i] += ".\n" if i % 7 == 0 else ","
        self.pool = " ".join(words).encode()
        self.rng = rng

    def bytes(self, size, header=b""):
        out = [header]
        have = len(header)
        while have < size:
            n = min(size - have, self.rng.randint(4 * KiB, 16 * KiB))
            start = self.rng.randrange(0, len(self.pool) - n)
            out.append(self.pool[start:start + n])
            have += n
        return b"".join(out)[:size]


def directories(rng, count):
    dirs = []
    for i in range(count):
        kind = rng.random()
        if kind < 0.6:
            dirs.append("uploads/%d/%02d" % (2020 + i % 7, 1 + (i // 7) % 12))
        elif kind < 0.8:
            dirs.append("attachments/chat-%04d" % i)
        else:
            dirs.append("avatars/%02x" % (i % 256))
    return sorted(set(dirs))


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def create(root, scale, seed):
    rng = random.Random(seed)
    text = Text(rng)
    dirs = directories(rng, max(8, int(400 * scale)))
    stats = {"documents": 0, "images": 0, "large": 0}
    total = 0
    for i in range(max(1, int(20000 * scale))):
        size = log_uniform(rng, 1 * KiB, 200 * KiB)
        write(os.path.join(root, rng.choice(dirs), "doc-%06d.txt" % i), text.bytes(size, b"document %d\n" % i))
        stats["documents"] += 1
        total += size
    for i in range(max(1, int(2000 * scale))):
        size = log_uniform(rng, MiB // 2, 5 * MiB)
        write(os.path.join(root, rng.choice(dirs), "img-%05d.jpg" % i), JPEG_HEADER + rng.randbytes(size - len(JPEG_HEADER)))
        stats["images"] += 1
        total += size
    for i in range(max(1, int(50 * scale))):
        size = log_uniform(rng, 20 * MiB, 100 * MiB)
        if i % 2 == 0:
            data = MP4_HEADER + rng.randbytes(size - len(MP4_HEADER))
            name = "video-%03d.mp4" % i
        else:
            data = text.bytes(size, b"export %d\n" % i)
            name = "export-%03d.csv" % i
        write(os.path.join(root, "media", name), data)
        stats["large"] += 1
        total += size
    return stats, total


def all_files(root):
    out = []
    for d, _, names in os.walk(root):
        for n in names:
            out.append(os.path.join(d, n))
    return sorted(out)


def mutate(root, scale, seed):
    rng = random.Random(seed + 1)
    text = Text(random.Random(seed + 2))
    files = all_files(root)
    changed = rng.sample(files, max(1, int(len(files) * 0.05)))
    for path in changed:
        size = os.path.getsize(path)
        if path.endswith(".jpg"):
            write(path, JPEG_HEADER + rng.randbytes(max(0, size - len(JPEG_HEADER))))
        elif size > 8 * MiB:
            with open(path, "r+b") as f:
                f.seek(size // 2)
                f.write(rng.randbytes(MiB) if path.endswith(".mp4") else text.bytes(MiB))
        else:
            with open(path, "rb") as f:
                data = f.read()
            at = rng.randrange(0, max(1, len(data)))
            write(path, data[:at] + text.bytes(rng.randint(200, 4 * KiB)) + data[at:])
    dirs = sorted({os.path.relpath(os.path.dirname(p), root) for p in files if "/media" not in p})
    added = max(1, int(200 * scale))
    for i in range(added):
        if rng.random() < 0.9:
            size = log_uniform(rng, 1 * KiB, 200 * KiB)
            write(os.path.join(root, rng.choice(dirs), "new-doc-%05d.txt" % i), text.bytes(size, b"new document %d\n" % i))
        else:
            size = log_uniform(rng, MiB // 2, 5 * MiB)
            write(os.path.join(root, rng.choice(dirs), "new-img-%05d.jpg" % i), JPEG_HEADER + rng.randbytes(size - len(JPEG_HEADER)))
    unchanged = sorted(set(files) - set(changed))
    renamed = rng.sample(unchanged, min(len(unchanged), max(1, int(100 * scale))))
    for i, path in enumerate(renamed):
        target = os.path.join(root, rng.choice(dirs), "moved-%04d-" % i + os.path.basename(path))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        os.rename(path, target)
    return {"changed": len(changed), "added": added, "renamed": len(renamed)}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("action", choices=["create", "mutate"])
    p.add_argument("dir")
    p.add_argument("--scale", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=16)
    a = p.parse_args()
    if a.action == "create":
        if os.path.exists(a.dir) and os.listdir(a.dir):
            sys.exit("files_tree.py: %s is not empty" % a.dir)
        stats, _ = create(a.dir, a.scale, a.seed)
    else:
        stats = mutate(a.dir, a.scale, a.seed)
    files = all_files(a.dir)
    stats["files"] = len(files)
    stats["bytes"] = sum(os.path.getsize(f) for f in files)
    print(json.dumps(stats))


if __name__ == "__main__":
    main()
