// swift-tools-version:6.1
import PackageDescription

let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "tidemark",
    products: [
        .executable(name: "tidemark", targets: ["tidemark"]),
        .library(name: "Tidemark", targets: ["Tidemark"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
    ],
    targets: [
        .systemLibrary(name: "CLZ4", pkgConfig: "liblz4", providers: [.apt(["liblz4-dev"])]),
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        // XXH3-128, the plaintext checksum of WAL objects (docs/format.md).
        .systemLibrary(name: "CXXHash", pkgConfig: "libxxhash", providers: [.apt(["libxxhash-dev"])]),
        // Headers only (no pkg-config, so nothing links libpq): CLibPQLazy loads it on demand.
        .systemLibrary(name: "CLibPQ", providers: [.apt(["libpq-dev"])]),

        .target(name: "CTidemarkSupport"),
        // CRC-32C with the CPU's instruction; TidemarkCore falls back to tables without it.
        .target(name: "CTidemarkCRC32C"),
        // Modules, lowest first; each imports only modules above it (docs/architecture.md).
        .target(name: "TidemarkCore", dependencies: ["CTidemarkCRC32C"], swiftSettings: strict),
        .target(name: "TidemarkSystem", dependencies: ["TidemarkCore"], swiftSettings: strict),
        // Pure policy decisions beside the core (retention; later cron and scheduling): no I/O.
        .target(name: "TidemarkPolicy", dependencies: ["TidemarkCore"], swiftSettings: strict),
        .target(
            name: "TidemarkCodec",
            dependencies: [
                "TidemarkCore", "TidemarkSystem", "CLZ4", "CZstd", "CZlib", "CXXHash",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CryptoExtras", package: "swift-crypto"),
            ],
            swiftSettings: strict),
        .target(name: "TidemarkStorage", dependencies: ["TidemarkCore", "TidemarkSystem"], swiftSettings: strict),
        // libpq is loaded on first use (see Sources/CLibPQLazy/lazy.c), not linked.
        .target(name: "CLibPQLazy", dependencies: ["CLibPQ"]),
        .target(
            name: "PostgresReplication", dependencies: ["CLibPQ", "CLibPQLazy", "TidemarkCore", "TidemarkSystem"],
            swiftSettings: strict),
        .target(
            name: "TidemarkS3",
            dependencies: [
                "TidemarkStorage", "TidemarkCore", "TidemarkSystem",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict),
        // Notifications: SMTP (hand-written, STARTTLS), Slack, a JSON webhook, a heartbeat URL.
        .target(
            name: "TidemarkNotify",
            dependencies: [
                "TidemarkCore", "TidemarkSystem",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict),
        .target(
            name: "TidemarkRepository",
            dependencies: ["TidemarkCore", "TidemarkSystem", "TidemarkCodec", "TidemarkStorage"],
            swiftSettings: strict),
        .target(
            name: "TidemarkArchive",
            dependencies: ["TidemarkCore", "TidemarkSystem", "TidemarkCodec", "TidemarkStorage", "TidemarkRepository"],
            swiftSettings: strict),
        .target(
            name: "TidemarkBackup",
            dependencies: [
                "TidemarkCore", "TidemarkSystem", "TidemarkCodec", "TidemarkStorage", "PostgresReplication",
                "TidemarkRepository",
            ],
            swiftSettings: strict),
        // File-storage backups: content-defined chunks, packs, an index, snapshot trees (docs/files.md).
        .target(
            name: "TidemarkFiles",
            dependencies: [
                "TidemarkCore", "TidemarkSystem", "TidemarkCodec", "TidemarkStorage", "TidemarkRepository",
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strict),
        // The audit log: hash-chained entries, encrypted in the repository, mirrored locally.
        .target(
            name: "TidemarkAudit",
            dependencies: [
                "TidemarkCore", "TidemarkSystem", "TidemarkCodec", "TidemarkStorage", "TidemarkRepository",
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strict),
        // Expiry in one repository: what retention weighs, the plan, its execution.
        .target(
            name: "TidemarkRetention",
            dependencies: [
                "TidemarkCore", "TidemarkSystem", "TidemarkCodec", "TidemarkStorage", "TidemarkRepository", "TidemarkArchive",
                "TidemarkFiles", "TidemarkPolicy", .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strict),
        // Verification of one repository: the ledger, object reads, catalogs, WAL continuity.
        .target(
            name: "TidemarkVerify",
            dependencies: [
                "TidemarkCore", "TidemarkSystem", "TidemarkCodec", "TidemarkStorage", "TidemarkRepository", "TidemarkArchive",
                "TidemarkPolicy",
            ],
            swiftSettings: strict),
        // The configuration: the file's shape and sections, the environment, the resolved `Configuration`.
        .target(
            name: "TidemarkConfiguration",
            dependencies: [
                "TidemarkCore", "TidemarkSystem", "TidemarkCodec", "TidemarkStorage", "TidemarkS3", "TidemarkRepository",
                "TidemarkArchive", "TidemarkBackup", "TidemarkPolicy", "TidemarkNotify",
            ],
            swiftSettings: strict),
        .target(
            name: "Tidemark",
            dependencies: [
                "TidemarkConfiguration",
                "TidemarkCore", "TidemarkSystem", "TidemarkCodec", "TidemarkStorage", "TidemarkS3", "PostgresReplication",
                "TidemarkRepository", "TidemarkArchive", "TidemarkBackup", "TidemarkPolicy", "TidemarkRetention",
                "TidemarkVerify", "TidemarkAudit", "TidemarkFiles",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strict),
        // The resident archiver's socket and inotify calls (sockaddr_un, SO_PEERCRED).
        .target(name: "CTidemarkUnix"),
        // The resident archiver: the queue's driver, the ready watcher, the socket, wal-push's client.
        .target(
            name: "TidemarkArchiver",
            dependencies: [
                "Tidemark", "TidemarkConfiguration", "TidemarkCore", "TidemarkSystem", "TidemarkPolicy", "TidemarkArchive",
                "TidemarkCodec", "CTidemarkUnix",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strict),
        // The service: jobs, the scheduler and watchdog loops, notifications, metrics, HTTP.
        .target(
            name: "TidemarkServer",
            dependencies: [
                "Tidemark", "TidemarkArchiver", "TidemarkCore", "TidemarkSystem", "TidemarkPolicy", "TidemarkNotify", "TidemarkAudit",
                "TidemarkRepository", "TidemarkArchive", "TidemarkRetention", "PostgresReplication",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict),
        // The admin API of `serve` (docs/api.md): tokens, routes, API jobs, TLS.
        .target(
            name: "TidemarkAPI",
            dependencies: [
                "TidemarkServer", "Tidemark", "TidemarkCore", "TidemarkSystem", "TidemarkPolicy", "TidemarkAudit",
                "TidemarkRepository", "TidemarkCodec", "TidemarkStorage", "TidemarkFiles",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict),
        .target(
            name: "TidemarkTesting",
            dependencies: ["TidemarkCore", "TidemarkSystem", "TidemarkStorage", "TidemarkS3"],
            swiftSettings: strict),
        .executableTarget(
            name: "tidemark",
            dependencies: [
                "Tidemark", "TidemarkCore", "TidemarkSystem", "TidemarkRepository", "TidemarkArchive", "TidemarkBackup", "TidemarkPolicy",
                "TidemarkRetention", "TidemarkVerify", "TidemarkServer", "TidemarkNotify", "TidemarkAudit",
                "TidemarkArchiver", "TidemarkAPI", "TidemarkFiles", "CTidemarkSupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict,
            // A --static-swift-stdlib link exports every symbol of the executable
            // (-export-dynamic, from the toolchain's static-stdlib-args.lnk): some 36,000 dynamic
            // symbols that the loader and dladdr walk at every start, about 1 ms of each wal-push
            // (PostgreSQL starts one per segment). Nothing looks them up; backtraces read the
            // symbol table from the file.
            linkerSettings: [.unsafeFlags(["-Xlinker", "--no-export-dynamic"])]),
        // Benchmark driver for scripts/bench/s3.sh; not a product, not part of `tidemark`.
        .executableTarget(
            name: "tidemark-s3-bench", dependencies: ["TidemarkS3", "TidemarkStorage"], swiftSettings: strict),
        // Repository generator for scripts/bench/expire.sh; not a product, not part of `tidemark`.
        .executableTarget(
            name: "tidemark-bench-repo",
            dependencies: [
                "TidemarkTesting", "TidemarkRepository", "TidemarkArchive", "TidemarkBackup", "TidemarkCodec", "TidemarkCore",
                "TidemarkSystem", "TidemarkStorage",
            ],
            swiftSettings: strict),

        // Chunker microbenchmark for scripts/bench/chunker.sh; not a product, not part of `tidemark`.
        .executableTarget(name: "tidemark-files-bench", dependencies: ["TidemarkFiles"], swiftSettings: strict),

        .testTarget(name: "TidemarkCoreTests", dependencies: ["TidemarkCore"], swiftSettings: strict),
        .testTarget(name: "TidemarkPolicyTests", dependencies: ["TidemarkPolicy", "TidemarkCore"], swiftSettings: strict),
        .testTarget(
            name: "TidemarkCodecTests",
            dependencies: [
                "TidemarkCodec", "TidemarkSystem",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CryptoExtras", package: "swift-crypto"),
            ],
            swiftSettings: strict),
        .testTarget(
            name: "TidemarkSystemTests", dependencies: ["TidemarkSystem", "TidemarkTesting"], swiftSettings: strict),
        .testTarget(
            name: "TidemarkStorageTests", dependencies: ["TidemarkStorage", "TidemarkTesting"],
            swiftSettings: strict),
        .testTarget(
            name: "TidemarkS3Tests",
            dependencies: [
                "TidemarkS3", "TidemarkStorage", "TidemarkSystem", "TidemarkTesting",
            ],
            swiftSettings: strict),
        .testTarget(
            name: "TidemarkRepositoryTests",
            dependencies: ["TidemarkRepository", "TidemarkCore", "TidemarkSystem", "TidemarkCodec", "TidemarkStorage", "TidemarkTesting"],
            swiftSettings: strict),
        .testTarget(
            name: "TidemarkArchiveTests",
            dependencies: [
                "TidemarkArchive", "TidemarkRepository", "TidemarkCore", "TidemarkSystem", "TidemarkCodec", "TidemarkStorage",
                "TidemarkTesting",
            ],
            swiftSettings: strict),
        .testTarget(
            name: "TidemarkBackupTests",
            dependencies: [
                "TidemarkBackup", "TidemarkRepository", "TidemarkCore", "TidemarkSystem", "TidemarkCodec", "TidemarkStorage",
                "TidemarkTesting",
            ],
            swiftSettings: strict),
        .testTarget(
            name: "TidemarkFilesTests",
            dependencies: [
                "TidemarkFiles", "TidemarkRepository", "TidemarkCore", "TidemarkSystem", "TidemarkCodec", "TidemarkStorage",
                "TidemarkTesting",
            ],
            swiftSettings: strict),
        .testTarget(
            name: "TidemarkVerifyTests",
            dependencies: [
                "TidemarkVerify", "TidemarkRepository", "TidemarkArchive", "TidemarkCore", "TidemarkSystem", "TidemarkCodec",
                "TidemarkStorage", "TidemarkPolicy", "TidemarkTesting",
            ],
            swiftSettings: strict),
        .testTarget(
            name: "TidemarkNotifyTests",
            dependencies: ["TidemarkNotify", "TidemarkCore", "TidemarkSystem", "TidemarkTesting"],
            swiftSettings: strict),
        .testTarget(
            name: "TidemarkAuditTests",
            dependencies: [
                "TidemarkAudit", "TidemarkRepository", "TidemarkCore", "TidemarkSystem", "TidemarkCodec", "TidemarkStorage",
                "TidemarkTesting",
            ],
            swiftSettings: strict),
        .testTarget(
            name: "TidemarkServerTests",
            dependencies: [
                "TidemarkServer", "Tidemark", "TidemarkPolicy", "TidemarkNotify", "TidemarkAudit", "TidemarkCore",
                "TidemarkSystem", "TidemarkTesting", "TidemarkRepository", "TidemarkCodec",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict),
        .testTarget(
            name: "TidemarkArchiverTests",
            dependencies: ["TidemarkArchiver", "Tidemark", "TidemarkCore", "TidemarkSystem", "TidemarkTesting"],
            swiftSettings: strict),
        .testTarget(
            name: "TidemarkAPITests",
            dependencies: [
                "TidemarkAPI", "TidemarkServer", "Tidemark", "TidemarkPolicy", "TidemarkCore", "TidemarkSystem",
                "TidemarkTesting", "TidemarkRepository", "TidemarkAudit", "TidemarkCodec",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Hummingbird", package: "hummingbird"),
            ],
            swiftSettings: strict),
        .testTarget(
            name: "TidemarkTests",
            dependencies: [
                "Tidemark", "TidemarkTesting", "TidemarkS3", "TidemarkSystem", "TidemarkRepository", "TidemarkArchive",
                "TidemarkBackup", "TidemarkPolicy",
            ],
            swiftSettings: strict),
        // The executable's own layer: exit-code mapping, the wal-push/wal-fetch fast path, logging.
        .testTarget(
            name: "TidemarkCLITests",
            dependencies: [
                "tidemark", "TidemarkCore", "TidemarkTesting",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict),
        .testTarget(
            name: "PostgresReplicationTests",
            dependencies: [
                "PostgresReplication", "TidemarkTesting", "TidemarkCore",
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strict),
        .testTarget(
            name: "IntegrationTests",
            dependencies: [
                "Tidemark", "TidemarkArchiver", "TidemarkTesting", "TidemarkCore", "TidemarkSystem", "TidemarkRepository", "TidemarkArchive",
                "TidemarkBackup",
            ],
            swiftSettings: strict),
    ],
    swiftLanguageModes: [.v6]
)
