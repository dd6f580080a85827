#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import TidemarkCodec
import TidemarkCore
import TidemarkStorage
import TidemarkSystem
import TidemarkRepository

/// What `push` did in one repository.
public enum PushOutcome: Sendable, Equatable {
    case stored
    /// The same content was archived before (PostgreSQL retries after a crash): nothing written.
    case alreadyArchived
    /// A different `.partial` of this name existed; this one was kept beside it under `key`.
    case storedAlongside(key: String)
}

/// The archive path: `wal-push` (archive_command) and `wal-fetch` (restore_command).
///
/// Rules (docs/wal-archive.md): a file is stored only after it is validated; a name is never
/// overwritten; identical re-pushes succeed without writing; different content under the same
/// name is a conflict naming both checksums; fetch authenticates everything before the
/// destination appears.
public struct WALArchive: Sendable {
    public let repository: Repository
    public let stanza: String
    public var compression: CompressionAlgorithm
    public var compressionLevel: Int32?
    /// Plaintext bytes per envelope chunk.
    public var chunkSize: Int = 1 << 20
    /// Encrypted bytes gathered before they are handed to the store in one call.
    package static let writeBatchBytes = 32 << 20
    /// Scan segments and store their WAL facts in the summary (off only to test `reindex`
    /// against archives written by version 1).
    package var recordsWALFacts = true
    /// The configured repository name, for messages (nil: the store's location).
    public var repositoryName: String?
    /// The stanza identity and the pushed file's object as read when the repository was opened
    /// (`Engine` sets it for one push; a copy used for another push must not carry it).
    package var preloaded = PreloadedObjects()

    public init(repository: Repository, stanza: String, compression: CompressionAlgorithm, compressionLevel: Int32? = nil) {
        self.repository = repository
        self.stanza = stanza
        self.compression = compression
        self.compressionLevel = compressionLevel
    }

    package var store: any ObjectStore { repository.store }
    package var location: String { store.location }

    // MARK: push

    /// Archives the file at `path` (its base name must be a WAL file name).
    public func push(path: String) async throws -> PushOutcome {
        try await PreparedWALFile.open(path: path).use { try await push($0) }
    }

    /// Archives a file whose SHA-256 and WAL facts are being computed already (the same
    /// `prepared` may serve several repositories).
    package func push(_ prepared: PreparedWALFile) async throws -> PushOutcome {
        let (path, name, file) = (prepared.path, prepared.name, prepared.file)
        var summary = WALSummary(version: 1, name: name.description, kind: Self.kindName(name), timeline: name.timeline.rawValue,
                                 systemIdentifier: nil, startLSN: nil, endLSN: nil, size: UInt64(file.size))
        var segmentSize: WALSegmentSize?

        switch name {
        case .segment(let segment), .partial(let segment):
            let header = try validateSegmentHeader(file: file, segment: segment)
            let size = WALSegmentSize(rawValue: UInt64(header.segmentSize)) ?? .default
            summary.systemIdentifier = String(header.systemIdentifier)
            summary.startLSN = segment.startLSN(size: size)
            summary.endLSN = summary.startLSN.map { LSN($0.rawValue + size.rawValue) }
            try await checkStanza(header: header, path: path)
            segmentSize = size
        case .history, .backupHistory:
            guard file.size <= 1 << 20 else {
                throw TidemarkError(.invalidInput, "'\(path)' is \(file.size) bytes; a \(Self.kindName(name)) file is a small text file")
            }
            try Self.validateHistoryText(file: file, name: name)
        }

        let key = RepositoryLayout.wal(stanza, name)
        if try await objectExists(key) {
            // A retry after a crash: nothing to scan, only to compare.
            return try await compareExisting(key: key, prepared: prepared, summary: summary, segmentSize: segmentSize)
        }
        let plain = summary
        let outcome = try await write(prepared, key: key) { await withFacts(plain, prepared: prepared, segmentSize: segmentSize) }
        if outcome == .created { return .stored }
        // Lost a race with a concurrent push of the same name: judge the winner's content.
        return try await compareExisting(key: key, prepared: prepared, summary: summary, segmentSize: segmentSize)
    }

    /// `summary` with the segment's WAL facts (version 2), for segments and `.partial` files
    /// that are about to be written.
    package func withFacts(_ summary: WALSummary, prepared: PreparedWALFile, segmentSize: WALSegmentSize?) async -> WALSummary {
        guard recordsWALFacts, summary.wal == nil, let size = segmentSize, let segment = prepared.name.segment else { return summary }
        var s = summary
        s.version = 2
        if let facts = await prepared.walFacts() {
            s.wal = facts
        } else {
            s.wal = WALSummaryFacts(scan: WALSegmentScan.scan(prepared.file.bytes, name: segment, size: size))
        }
        return s
    }

    package static func kindName(_ name: WALFileName) -> String {
        switch name {
        case .segment: return "segment"
        case .history: return "history"
        case .backupHistory: return "backup"
        case .partial: return "partial"
        }
    }

    package static func objectKind(_ name: WALFileName) -> ObjectKind {
        switch name {
        case .segment: return .walSegment
        case .history: return .timelineHistory
        case .backupHistory: return .backupHistory
        case .partial: return .partialSegment
        }
    }

    package func validateSegmentHeader(file: LocalFile, segment: WALSegmentName) throws -> WALLongPageHeader {
        do {
            return try WALLongPageHeader.validate(segment: file.bytes.prefix(WALLongPageHeader.size), count: Int(file.size),
                                                  named: segment)
        } catch {
            throw TidemarkError(.invalidInput, "'\(file.path)' is not a valid WAL segment: \(error)",
                                hints: ["PostgreSQL only archives complete segments; check archive_command passes %p unchanged"])
        }
    }

    /// Refuses to mix two clusters (or segment sizes) in one stanza; records the first.
    package func checkStanza(header: WALLongPageHeader, path: String) async throws {
        let proposed = StanzaInfo(name: stanza, systemIdentifier: String(header.systemIdentifier),
                                  walSegmentSize: UInt64(header.segmentSize), postgresVersion: header.postgresMajorVersion,
                                  created: "")
        let recorded = try await repository.establishStanza(proposed, preloaded: preloaded.objects[RepositoryLayout.stanzaInfo(stanza)])
        guard recorded.systemIdentifier == proposed.systemIdentifier else {
            throw TidemarkError(.conflict,
                                "'\(path)' belongs to the cluster with system identifier \(proposed.systemIdentifier), but stanza '\(stanza)' in '\(location)' holds cluster \(recorded.systemIdentifier)",
                                hints: ["each cluster needs its own stanza: set --stanza / TIDEMARK_STANZA for this cluster",
                                        "if this cluster was re-created with initdb on purpose, archive it to a new stanza"])
        }
        guard recorded.walSegmentSize == proposed.walSegmentSize else {
            throw TidemarkError(.conflict, "'\(path)' has wal_segment_size \(proposed.walSegmentSize) but stanza '\(stanza)' holds \(recorded.walSegmentSize)")
        }
    }

    package func objectExists(_ key: String) async throws -> Bool {
        if let known = preloaded.objects[key] { return known != nil }
        do {
            return try await store.size(key) != nil
        } catch {
            throw TidemarkError.wrap(error, doing: "check '\(location)/\(key)'")
        }
    }

    /// Encrypts the file into `key` (if absent).
    ///
    /// The chunks of each 16 MiB batch are compressed and sealed on all cores straight from the
    /// file's mapping; the plaintext XXH3-128 comes from `prepared`, whose thread has been at it
    /// since the command started. The temporary object is created while the WAL scan that
    /// `summary` waits for may still run. The frames go to the store as they are, not copied
    /// into one buffer first, and in as few calls as memory allows (`writeBatchBytes`): a
    /// 16 MiB segment is written, fsynced and published in one call.
    package func write(_ prepared: PreparedWALFile, key: String, summary: () async -> WALSummary) async throws -> PutOutcome {
        let (file, name) = (prepared.file, prepared.name)
        let writer: any ObjectWriter
        do {
            writer = try await store.makeWriter(key)
        } catch {
            throw TidemarkError.wrap(error, doing: "archive '\(name)' to '\(location)'")
        }
        do {
            var encoder = EnvelopeWriter(key: repository.key, kind: Self.objectKind(name), compression: compression,
                                         level: compressionLevel, chunkSize: chunkSize, summary: WALSummary.encode(await summary()),
                                         batchChunks: 16, digest: .xxh3, hashesInput: false)
            var pieces = [encoder.start()]
            var pending = pieces[0].count
            let bytes = file.bytes
            let batch = chunkSize * 16
            var offset = 0
            while offset < bytes.count {
                let end = min(offset + batch, bytes.count)
                let frames = encoder.writeFrames(UnsafeRawBufferPointer(rebasing: bytes[offset..<end]))
                pieces += frames
                pending += frames.reduce(0) { $0 + $1.count }
                if pending >= Self.writeBatchBytes {
                    try await writer.write(contentsOf: pieces)
                    pieces = []
                    pending = 0
                }
                offset = end
            }
            pieces += encoder.finishFrames(plaintextDigest: await prepared.xxh3()).frames
            return try await writer.commit(ifAbsent: true, afterWriting: pieces)
        } catch {
            await writer.abort()
            throw TidemarkError.wrap(error, doing: "archive '\(name)' to '\(location)'")
        }
    }

    // MARK: fetch

    /// A repository to fetch from, opened only when the ones before it do not serve the file.
    public struct Source: Sendable {
        public var name: String
        public var open: @Sendable () async throws -> WALArchive
        public init(name: String, open: @escaping @Sendable () async throws -> WALArchive) {
            self.name = name
            self.open = open
        }
    }

    /// Restores `name` into `destination` (written to a temp name, verified, then renamed).
    /// Throws `.notFound` only when no repository holds the file.
    public static func fetch(name text: String, to destination: String, from archives: [WALArchive]) async throws {
        try await fetch(name: text, to: destination,
                        from: archives.map { a in Source(name: a.repositoryName ?? a.location) { a } }, report: { _ in })
    }

    /// Restores `name` from the first source holding a valid copy. A missing, damaged or
    /// unreadable copy moves on to the next source, and `report` gets a line saying so (lines
    /// about missing copies only when a later source serves the file: PostgreSQL asks for
    /// files that do not exist, and that must stay quiet). Throws `.notFound` only when every
    /// source confirms the file absent; otherwise the first failure.
    public static func fetch(name text: String, to destination: String, from sources: [Source],
                             report: (String) -> Void) async throws {
        guard let name = WALFileName(text) else {
            throw TidemarkError(.invalidInput, "'\(text)' is not a WAL file name",
                                hints: ["restore_command must pass %f and %p: restore_command = 'tidemark wal-fetch %f %p'"])
        }
        var failures: [TidemarkError] = []
        var missing: [String] = []
        for (i, source) in sources.enumerated() {
            let next = i + 1 < sources.count ? sources[i + 1].name : nil
            do {
                let archive = try await source.open()
                if try await archive.fetch(name, to: destination) {
                    missing.forEach(report)
                    return
                }
                if let next { missing.append("tidemark: '\(name)' not in repository '\(source.name)'; trying '\(next)'") }
            } catch {
                let e = TidemarkError.wrap(error, doing: "fetch '\(name)' from repository '\(source.name)'")
                failures.append(e)
                if let next {
                    missing.forEach(report)
                    missing = []
                    let what = e.code == .corrupt ? "is damaged in '\(source.name)'" : "could not be read from '\(source.name)'"
                    report("tidemark: '\(name)' \(what) (\(e.message)); trying '\(next)'")
                }
            }
        }
        if let first = failures.first {
            // A damaged or unreadable copy is never reported as "not archived".
            missing.forEach(report)
            throw first
        }
        throw TidemarkError(.notFound, "'\(name)' is not in the archive")
    }

    /// Returns false when this repository does not hold `name`.
    package func fetch(_ name: WALFileName, to destination: String) async throws -> Bool {
        try await requireStanza()
        let key = RepositoryLayout.wal(stanza, name)
        let reader: (any ObjectReader)?
        do {
            reader = try await store.openReader(key)
        } catch {
            throw TidemarkError.wrap(error, doing: "read '\(location)/\(key)'")
        }
        guard let reader else { return false }
        let out = try DestinationFile(destination: destination)
        var segmentHeader: WALLongPageHeader?
        do {
            let trailer = try await decodeStream(reader, expecting: name) { chunk in
                if segmentHeader == nil, case .segment(let segment) = name {
                    segmentHeader = try WALLongPageHeader.validate(segment: chunk.prefix(WALLongPageHeader.size), count: chunk.count,
                                                                   named: segment, checkSize: false)
                }
                try out.write(chunk)
            }
            if case .segment = name, trailer.length != UInt64(segmentHeader?.segmentSize ?? 0) {
                throw TidemarkError(.corrupt, "the archived '\(name)' at '\(location)/\(key)' is \(trailer.length) bytes, not a whole segment")
            }
        } catch let e as TidemarkError {
            throw e
        } catch let e as EnvelopeError {
            if !e.isDamage { throw TidemarkError.wrap(e, doing: "fetch '\(name)'") }
            throw TidemarkError(.corrupt, "the archived copy of '\(name)' at '\(location)/\(key)' is damaged: \(e)",
                                hints: ["recovery cannot continue past this file from this repository; fetch it from another copy of the archive"])
        } catch let e as WALLongPageHeader.ParseError {
            throw TidemarkError(.corrupt, "the archived '\(name)' at '\(location)/\(key)' does not hold that segment: \(e)")
        } catch {
            throw TidemarkError.wrap(error, doing: "fetch '\(name)' from '\(location)'")
        }
        try out.commit()
        return true
    }

    /// A fetch from a repository that does not know the stanza is a configuration error, not
    /// "not archived" — otherwise recovery would end early on a typo.
    package func requireStanza() async throws {
        do {
            if try await store.size(RepositoryLayout.stanzaInfo(stanza)) != nil { return }
            let listing = try await store.list(prefix: stanza + "/")
            // A lock alone (a backup refused or failed before it wrote anything) is no stanza.
            if !listing.objects.isEmpty || listing.prefixes.contains(where: { $0 != RepositoryLayout.lockPrefix(stanza) }) { return }
        } catch {
            throw TidemarkError.wrap(error, doing: "read stanza '\(stanza)' in '\(location)'")
        }
        throw TidemarkError(.repository, "stanza '\(stanza)' does not exist in repository '\(location)'",
                            hints: ["check --stanza / TIDEMARK_STANZA and BACKUP_DIR; `tidemark info` lists the stanzas"])
    }

    /// Streams an object through the envelope decoder, handing out authenticated chunks.
    /// Checks the summary names `name` when given.
    package func decodeStream(_ reader: any ObjectReader, expecting name: WALFileName? = nil,
                      inspect: (EnvelopeDecoder) throws -> Void = { _ in },
                      _ sink: ([UInt8]) throws -> Void) async throws -> EnvelopeTrailer {
        var summaryChecked = name == nil
        let location = self.location
        return try await decodeObject(reader, key: repository.key, inspect: { decoder in
            try inspect(decoder)
            guard !summaryChecked, decoder.header != nil, let name else { return }
            if let summaryBytes = decoder.summary {
                let summary = try? JSONDecoder().decode(WALSummary.self, from: Data(summaryBytes))
                guard let summary, summary.name == name.description else {
                    throw TidemarkError(.corrupt, "the object stored as '\(name)' in '\(location)' holds '\(summary?.name ?? "?")'",
                                        hints: ["objects were renamed or swapped in the repository; do not use this copy"])
                }
                summaryChecked = true
            } else if decoder.header?.summaryFrameLength == 0 {
                throw TidemarkError(.corrupt, "the object stored as '\(name)' in '\(location)' has no WAL summary")
            }
        }, sink)
    }
}
