#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import TidemarkCodec
import TidemarkCore
import TidemarkStorage
import TidemarkSystem
import TidemarkRepository

/// The directory where `wal-fetch` finds WAL segments fetched ahead of PostgreSQL's requests
/// (docs/wal-fetch-prefetch.md).
///
/// ```
/// <spool>/<segment>           the plaintext segment, authenticated when fetched, fsynced
/// <spool>/<segment>.meta      JSON sidecar, MAC'd under the repository's data key: stanza,
///                             repository, object key, the object's envelope salt and size,
///                             plaintext length and XXH3-128 (computed as it was written)
/// <spool>/request             "<segment> <segment size>": the last segment wal-fetch served
/// <spool>/inflight            the segment the prefetcher is fetching now
/// <spool>/lock                flock(2)ed by the one running prefetcher
/// <spool>/served, prefetched  counters (decimal), for tests and the curious
/// ```
///
/// A spooled segment is served only when all of these hold; otherwise it is deleted and the
/// normal fetch runs ("never stale"):
/// - its sidecar authenticates under the data key of the repository being read now (so a
///   spool from another repository or key is refused), and names the same stanza, repository
///   location, object key and file name (a different timeline is a different name);
/// - the repository still holds an object under that key with the same size and the same
///   envelope salt (32 random bytes per written object: a replaced object has a new one);
/// - the spooled bytes have the plaintext length and the XXH3-128 recorded when the
///   authenticated plaintext was written to the spool (a flipped bit in the spool is caught).
public struct PrefetchSpool: Sendable {
    public let path: String
    /// At most this many segments are kept (the prefetch window).
    public let capacity: Int

    public init(path: String, capacity: Int) {
        self.path = path
        self.capacity = capacity
    }

    /// Creates the directory (0700) or checks an existing one: a directory (not a symlink)
    /// owned by this user with no group or other permissions. Anything else is refused.
    public func prepare() throws {
        if mkdir(path, 0o700) != 0 && errno != EEXIST {
            throw TidemarkError(.io, "unable to create prefetch spool '\(path)': \(String(cString: strerror(errno)))")
        }
        var st = stat()
        guard lstat(path, &st) == 0, st.st_mode & S_IFMT == S_IFDIR else {
            throw TidemarkError(.configuration, "prefetch spool '\(path)' is not a directory")
        }
        guard st.st_uid == geteuid(), st.st_mode & 0o077 == 0 else {
            throw TidemarkError(.configuration, "prefetch spool '\(path)' must belong to this user with mode 0700")
        }
    }

    package func file(_ name: String) -> String { path + "/" + name }

    // MARK: sidecar

    package struct Sidecar: Codable, Equatable {
        /// 2 since the sidecar records XXH3-128 (`xxh3`) where it recorded SHA-256; a version 1
        /// entry is refused (deleted, fetched again).
        package var version = 2
        package var stanza: String
        package var repository: String
        package var keyID: String
        package var objectKey: String
        package var name: String
        package var objectSize: Int64
        package var salt: String
        package var length: UInt64
        package var xxh3: String
        package var mac = ""

        package func canonicalBytes() throws -> [UInt8] {
            var copy = self
            copy.mac = ""
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            return Array(try encoder.encode(copy))
        }

        package static let macPurpose = "prefetch-spool"
    }

    // MARK: prefetch (the background worker)

    public enum PrefetchResult: Sendable, Equatable {
        case stored
        case alreadySpooled
        /// The archive does not hold the segment (yet).
        case absent
    }

    /// Fetches `name` from `archive` into the spool: decoded and authenticated into a temp
    /// file, fsynced, renamed; then the sidecar. Nothing is left behind on failure.
    @discardableResult
    public func prefetch(_ name: WALSegmentName, from archive: WALArchive) async throws -> PrefetchResult {
        let file = WALFileName.segment(name)
        if entryExists(name.description) { return .alreadySpooled }
        let key = RepositoryLayout.wal(archive.stanza, file)
        let reader: (any ObjectReader)?
        do {
            reader = try await archive.store.openReader(key)
        } catch {
            throw TidemarkError.wrap(error, doing: "read '\(archive.location)/\(key)'")
        }
        guard let reader else { return .absent }
        let out = try DestinationFile(destination: self.file(name.description))
        var segmentHeader: WALLongPageHeader?
        var salt: [UInt8]?
        var keyID: [UInt8]?
        let hasher = XXH3Hasher()
        let trailer = try await archive.decodeStream(reader, expecting: file, inspect: { decoder in
            if salt == nil, let header = decoder.header {
                salt = header.salt
                keyID = header.keyID
            }
        }) { chunk in
            if segmentHeader == nil {
                segmentHeader = try WALLongPageHeader.validate(segment: chunk.prefix(WALLongPageHeader.size), count: chunk.count,
                                                               named: name, checkSize: false)
            }
            chunk.withUnsafeBytes { hasher.update($0) }
            try out.write(chunk)
        }
        guard let salt, let keyID, let segmentHeader, trailer.length == UInt64(segmentHeader.segmentSize) else {
            throw TidemarkError(.corrupt, "the archived '\(name)' is not a whole segment")
        }
        // The object read must be the one the store holds now: same salt, and its size.
        guard let size = try await archive.store.size(key), let head = try await archive.store.get(key, range: 0..<Int64(EnvelopeHeader.size)),
              let now = try? EnvelopeHeader(parsing: head), now.salt == salt else {
            throw TidemarkError(.conflict, "the archived '\(name)' changed while it was prefetched")
        }
        try out.commit()
        var sidecar = Sidecar(stanza: archive.stanza, repository: archive.location, keyID: hexString(keyID), objectKey: key,
                              name: name.description, objectSize: size, salt: hexString(salt), length: trailer.length,
                              xxh3: hexString(hasher.finalize()))
        sidecar.mac = hexString(archive.repository.key.mac(try sidecar.canonicalBytes(), purpose: Sidecar.macPurpose))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let meta = try DestinationFile(destination: self.file(name.description + ".meta"))
        try meta.write(Array(try encoder.encode(sidecar)))
        try meta.commit()
        bumpCounter("prefetched")
        return .stored
    }

    package func entryExists(_ name: String) -> Bool {
        access(file(name), F_OK) == 0 && access(file(name + ".meta"), F_OK) == 0
    }

    // MARK: serve (wal-fetch)

    public enum ServeOutcome: Sendable, Equatable {
        case served
        case notSpooled
        /// A spooled copy existed but was not served (and was deleted): the reason.
        case refused(String)
    }

    /// Moves the spooled `name` to `destination` when it is provably what `archive` holds now
    /// (see the type's comment). Never throws: any doubt is `.refused`, the entry is deleted
    /// and the caller fetches from the archive as usual.
    public func serve(_ name: WALFileName, to destination: String, archive: WALArchive) async -> ServeOutcome {
        guard case .segment = name, entryExists(name.description) else { return .notSpooled }
        let data = file(name.description)
        do {
            let reason = try await check(name, data: data, archive: archive)
            if let reason {
                remove(name.description)
                return .refused(reason)
            }
            // Same file system: rename (the spool file was fsynced when it was written).
            if rename(data, destination) == 0 {
                unlink(data + ".meta")
                let dfd = open(DestinationFile.parent(destination), O_RDONLY | O_DIRECTORY | O_CLOEXEC)
                if dfd >= 0 {
                    _ = fsync(dfd)
                    close(dfd)
                }
            } else {
                guard errno == EXDEV, let bytes = try FileIO.readAll(data) else {
                    remove(name.description)
                    return .refused("unable to move it: \(String(cString: strerror(errno)))")
                }
                guard hexString(bytes.withUnsafeBytes { XXH3Hasher.hash($0) }) == (try readSidecar(name.description)?.xxh3) else {
                    remove(name.description)
                    return .refused("its content changed")
                }
                let out = try DestinationFile(destination: destination)
                try out.write(bytes)
                try out.commit()
                remove(name.description)
            }
            bumpCounter("served")
            return .served
        } catch {
            remove(name.description)
            return .refused("\(error)")
        }
    }

    package func readSidecar(_ name: String) throws -> Sidecar? {
        guard let bytes = try FileIO.readAll(file(name + ".meta")) else { return nil }
        return try JSONDecoder().decode(Sidecar.self, from: Data(bytes))
    }

    /// nil when the entry may be served, else why not.
    package func check(_ name: WALFileName, data: String, archive: WALArchive) async throws -> String? {
        guard let sidecar = try readSidecar(name.description) else { return "no sidecar" }
        let expected = hexString(archive.repository.key.mac(try sidecar.canonicalBytes(), purpose: Sidecar.macPurpose))
        guard constantTimeEqual(Array(expected.utf8), Array(sidecar.mac.utf8)) else {
            return "its sidecar does not authenticate under this repository's key"
        }
        let key = RepositoryLayout.wal(archive.stanza, name)
        guard sidecar.version == 2, sidecar.stanza == archive.stanza, sidecar.repository == archive.location,
              sidecar.objectKey == key, sidecar.name == name.description, sidecar.keyID == archive.repository.key.idHex else {
            return "it was fetched for another stanza, repository or file"
        }
        guard let size = try await archive.store.size(key), size == sidecar.objectSize,
              let head = try await archive.store.get(key, range: 0..<Int64(EnvelopeHeader.size)),
              let header = try? EnvelopeHeader(parsing: head), hexString(header.salt) == sidecar.salt else {
            return "the archive no longer holds the object it was fetched from"
        }
        // Mapped, not read: the file is in the page cache, and a fresh 16 MiB buffer costs more
        // in page faults than the hashing.
        let file = try LocalFile(path: data)
        guard UInt64(file.size) == sidecar.length, hexString(XXH3Hasher.hash(file.bytes)) == sidecar.xxh3 else {
            return "its content does not match the XXH3-128 recorded when it was fetched"
        }
        return nil
    }

    // MARK: bookkeeping

    /// Deletes a spooled segment and its sidecar.
    public func remove(_ name: String) {
        unlink(file(name))
        unlink(file(name + ".meta"))
    }

    /// The segments in the spool (with or without a sidecar), sorted.
    public func spooled() -> [WALSegmentName] {
        let entries = (try? FileIO.listDirectory(path)) ?? []
        return entries.compactMap { $0.isRegular ? WALSegmentName($0.name) : nil }.sorted()
    }

    /// The names the prefetcher should hold after `request` was served: the next `capacity`
    /// segments on the same timeline.
    public func window(after request: WALSegmentName, size: WALSegmentSize) -> [WALSegmentName] {
        guard let n = request.segmentNumber(size: size), capacity > 0 else { return [] }
        return (1...capacity).map { WALSegmentName(timeline: request.timeline, segment: n + UInt64($0), size: size) }
    }

    /// Deletes every spooled segment outside `window`, and sidecars or temp files left over.
    public func prune(keeping window: [WALSegmentName]) {
        let keep = Set(window.map(\.description))
        for entry in (try? FileIO.listDirectory(path)) ?? [] where entry.isRegular {
            let base = entry.name.hasSuffix(".meta") ? String(entry.name.dropLast(5)) : entry.name
            if WALSegmentName(base) != nil, !keep.contains(base) {
                unlink(file(entry.name))
            } else if entry.name.hasPrefix("."), entry.name.hasSuffix(".tmp"), !tempOwnerAlive(entry.name) {
                unlink(file(entry.name))
            }
        }
    }

    /// `.<name>.tidemark-<pid>.tmp`: true while that process runs.
    package func tempOwnerAlive(_ name: String) -> Bool {
        guard let dash = name.range(of: ".tidemark-", options: .backwards),
              let pid = Int32(name[dash.upperBound...].dropLast(4)) else { return false }
        return kill(pid, 0) == 0 || errno == EPERM
    }

    /// Records the segment wal-fetch just served, for the prefetcher.
    public func recordRequest(_ name: WALSegmentName, size: UInt64) {
        writeSmall("request", "\(name) \(size)\n")
    }

    public func lastRequest() -> (WALSegmentName, WALSegmentSize)? {
        guard let text = readSmall("request") else { return nil }
        let parts = text.split(separator: " ")
        guard parts.count == 2, let name = WALSegmentName(parts[0]), let raw = UInt64(parts[1]),
              let size = WALSegmentSize(rawValue: raw) else { return nil }
        return (name, size)
    }

    public func setInflight(_ name: WALSegmentName?) {
        if let name { writeSmall("inflight", name.description) } else { unlink(file("inflight")) }
    }

    public func inflight() -> WALSegmentName? { readSmall("inflight").flatMap { WALSegmentName($0) } }

    public func counter(_ name: String) -> Int { readSmall(name).flatMap { Int($0) } ?? 0 }

    package func bumpCounter(_ name: String) { writeSmall(name, String(counter(name) + 1)) }

    package func readSmall(_ name: String) -> String? {
        guard let bytes = try? FileIO.readAll(file(name)) else { return nil }
        return String(String(decoding: bytes, as: UTF8.self).filter { !$0.isWhitespace || $0 == " " })
    }

    /// Temp + rename, no fsync: bookkeeping only, nothing depends on it surviving a crash.
    package func writeSmall(_ name: String, _ text: String) {
        let temp = file(".\(name).\(getpid()).small")
        let fd = open(temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return }
        let bytes = Array(text.utf8)
        let ok = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, bytes.count) } == bytes.count
        close(fd)
        if !ok || rename(temp, file(name)) != 0 { unlink(temp) }
    }

    /// Takes the prefetcher lock without waiting: the file descriptor, or nil when another
    /// prefetcher holds it.
    /// The lock file is the one at its path when taken: a spool removed (and made again) by
    /// its last prefetcher meanwhile is not locked through the old, unlinked file.
    public func tryLock() -> Int32? {
        let fd = open(file("lock"), O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return nil }
        var held = stat(), current = stat()
        guard flock(fd, LOCK_EX | LOCK_NB) == 0, fstat(fd, &held) == 0, stat(file("lock"), &current) == 0,
              held.st_ino == current.st_ino, held.st_dev == current.st_dev else {
            close(fd)
            return nil
        }
        return fd
    }

    /// True while a prefetcher holds the lock.
    public func prefetcherRunning() -> Bool {
        guard let fd = tryLock() else { return true }
        close(fd)
        return false
    }
}

package func sha256Digest(_ bytes: [UInt8]) -> [UInt8] {
    var hasher = ContentHasher()
    hasher.update(bytes)
    return hasher.finalize()
}
