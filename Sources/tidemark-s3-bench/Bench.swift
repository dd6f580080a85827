// Benchmark driver for scripts/bench/s3.sh (not a test, not part of `tidemark`): writes the
// same bytes through the file-system store and through the S3 store (for each part size and
// concurrency asked for) and prints one line per run: store, part size, concurrency, MB/s.
//
//   tidemark-s3-bench --endpoint URL --bucket NAME --dir DIR [--mib 256] [--parts 5,8,16,32]
//                     [--concurrency 1,2,4,8] [--rounds 2]
//
// Settings go through TidemarkS3's one resolution (S3RepositorySettings.resolve), as
// `tidemark`'s do: credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or
// AWS_SECRET_ACCESS_KEY_FILE (any pair for moto without signature checking; `bench` when unset),
// AWS_REGION for signing (default us-east-1).
import Foundation
import TidemarkS3
import TidemarkStorage
import TidemarkSystem

@main
enum Bench {
    static func main() async throws {
        func argument(_ name: String, _ fallback: String) -> String {
            let args = CommandLine.arguments
            if let i = args.firstIndex(of: name), i + 1 < args.count { return args[i + 1] }
            return fallback
        }

        let endpoint = argument("--endpoint", "")
        let bucket = argument("--bucket", "bench")
        let dir = argument("--dir", NSTemporaryDirectory())
        let mib = Int(argument("--mib", "256")) ?? 256
        let partSizes = argument("--parts", "5,8,16,32").split(separator: ",").compactMap { Int($0) }
        let concurrencies = argument("--concurrency", "1,2,4,8").split(separator: ",").compactMap { Int($0) }
        let rounds = Int(argument("--rounds", "2")) ?? 2
        // Any key pair will do for moto without signature checking.
        var environment = ProcessInfo.processInfo.environment
        if environment["AWS_ACCESS_KEY_ID", default: ""].isEmpty { environment["AWS_ACCESS_KEY_ID"] = "bench" }
        if environment["AWS_SECRET_ACCESS_KEY", default: ""].isEmpty && environment["AWS_SECRET_ACCESS_KEY_FILE", default: ""].isEmpty {
            environment["AWS_SECRET_ACCESS_KEY"] = "bench"
        }

        // Incompressible, deterministic bytes; written in 1 MiB pieces as the engine's writers do.
        var data = [UInt8](repeating: 0, count: mib << 20)
        var x: UInt64 = 0x9E37_79B9_7F4A_7C15
        for i in stride(from: 0, to: data.count, by: 8) {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17
            withUnsafeBytes(of: x.littleEndian) { raw in
                for j in 0..<min(8, data.count - i) { data[i + j] = raw[j] }
            }
        }
        let payload = data

        func timeWrite(_ store: any ObjectStore, key: String) async throws -> Double {
            let start = ContinuousClock.now
            let writer = try await store.makeWriter(key)
            var offset = 0
            while offset < payload.count {
                let n = min(1 << 20, payload.count - offset)
                try await writer.write(Array(payload[offset..<(offset + n)]))
                offset += n
            }
            guard try await writer.commit(ifAbsent: true) == .created else { fatalError("\(key) existed") }
            let elapsed = ContinuousClock.now - start
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            return Double(payload.count) / 1e6 / seconds
        }

        func best(_ runs: Int, _ body: (Int) async throws -> Double) async throws -> Double {
            var top = 0.0
            for r in 0..<runs { top = max(top, try await body(r)) }
            return top
        }

        let fs = FileSystemStore(root: dir, timeout: 120)
        let fsRate = try await best(rounds) { r in
            let rate = try await timeWrite(fs, key: "bench/fs-\(r)")
            try await fs.delete("bench/fs-\(r)")
            return rate
        }
        print(String(format: "fs\t-\t-\t%.1f", fsRate))

        for part in partSizes {
            for concurrency in concurrencies {
                // The same resolution `tidemark` uses: the flags are the config file's s3
                // section, the AWS_* variables fill in what they leave out.
                var section = S3Section(bucket: bucket, prefix: "bench", endpoint: endpoint)
                section.addressing = S3AddressingStyle.path.rawValue
                section.partSizeMiB = part
                section.concurrency = concurrency
                let settings = try S3RepositorySettings.resolve(
                    name: "bench", section: section, environment: environment, environmentWins: false, configFile: nil,
                    timeout: 600)
                let config = try S3Configuration(settings)
                let store = try S3ObjectStore(config)
                let rate = try await best(rounds) { r in
                    let key = "p\(part)-c\(concurrency)-\(r)"
                    let rate = try await timeWrite(store, key: key)
                    try await store.delete(key)
                    return rate
                }
                await store.shutdown()
                print(String(format: "s3\t%d\t%d\t%.1f", part, concurrency, rate))
            }
        }
    }
}
