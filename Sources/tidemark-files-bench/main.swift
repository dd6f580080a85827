// Benchmark driver for scripts/bench/chunker.sh (not a test, not part of `tidemark`): the keyed
// FastCDC chunker of file backups over random bytes, alone and with the keyed chunk id
// (HMAC-SHA-256) of every chunk, one thread. Prints one line per measure: the median GB/s of
// ROUNDS passes, the chunk count and mean chunk size.
//
//   tidemark-files-bench chunk [--mib 1024] [--rounds 5] [--out FILE]
//
// `--out FILE` also writes the bytes, so the script can time reference tools on the same data.
#if canImport(Glibc)
import Glibc
#endif
import TidemarkFiles

func argument(_ name: String, _ fallback: String) -> String {
    let args = CommandLine.arguments
    if let i = args.firstIndex(of: name), i + 1 < args.count { return args[i + 1] }
    return fallback
}

func seconds() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_MONOTONIC, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
}

guard CommandLine.arguments.dropFirst().first == "chunk" else {
    print("usage: tidemark-files-bench chunk [--mib 1024] [--rounds 5] [--out FILE]")
    exit(2)
}
let mib = Int(argument("--mib", "1024")) ?? 1024
let rounds = max(1, Int(argument("--rounds", "5")) ?? 5)
let size = mib << 20
let data = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 64)
// SplitMix64: deterministic, incompressible.
var state: UInt64 = 0x1234_5678
let words = data.bindMemory(to: UInt64.self)
for i in 0..<words.count {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    words[i] = z ^ (z >> 31)
}
let bytes = UnsafeRawBufferPointer(data)
let out = argument("--out", "")
if !out.isEmpty, let f = fopen(out, "wb") {
    _ = fwrite(bytes.baseAddress, 1, bytes.count, f)
    fclose(f)
}
let secret = FilesSecret(bytes: (0..<32).map { UInt8($0) })

@MainActor func measure(_ name: String, withIDs: Bool) {
    var rates: [Double] = []
    var chunks = 0
    var sink: UInt8 = 0
    for _ in 0..<rounds {
        var chunker = FilesChunker(secret: secret)
        let start = seconds()
        var from = 0
        chunks = 0
        while let cut = chunker.nextCut(in: bytes, from: from) {
            if withIDs { sink ^= secret.chunkID(of: UnsafeRawBufferPointer(rebasing: bytes[from..<cut])).bytes[0] }
            chunks += 1
            from = cut
        }
        if from < bytes.count {
            if withIDs { sink ^= secret.chunkID(of: UnsafeRawBufferPointer(rebasing: bytes[from...])).bytes[0] }
            chunks += 1
        }
        rates.append(Double(size) / (seconds() - start) / 1e9)
    }
    rates.sort()
    let median = rates[rates.count / 2]
    let mean = Double(size) / Double(chunks) / Double(1 << 20)
    print("\(name): \(String(format2(median))) GB/s (median of \(rounds)), \(chunks) chunks, mean \(format2(mean)) MiB [\(sink & 0)]")
}

func format2(_ v: Double) -> String {
    let r = (v * 100).rounded() / 100
    return "\(r)"
}

measure("chunker", withIDs: false)
measure("chunker+hmac-id", withIDs: true)
data.deallocate()
