import Logging
import NIOHTTP1
import TidemarkStorage
import TidemarkSystem

#if canImport(Glibc)
import Glibc
#endif

/// An in-flight multipart upload, as `ListMultipartUploads` reports it.
public struct S3MultipartUpload: Sendable, Hashable {
    /// The key relative to the store's prefix.
    public var key: String
    public var uploadID: String
}

/// An `ObjectStore` on an S3 bucket (AWS, R2, MinIO, moto…) under a key prefix.
///
/// Contract as `ObjectStore` says, and on S3 in particular:
/// - A write is one PUT (objects up to `partSize`) or one completed multipart upload, so readers
///   see nothing or everything. After every write the object's size and ETag (the MD5 of the
///   body, or of the part MD5s for multipart) are read back and compared before success is
///   reported; a mismatch is `StorageError.integrity`.
/// - `ifAbsent` never overwrites: `If-None-Match: *` where the server supports it. A server that
///   answers 501/NotImplemented to the condition gets HEAD-then-PUT instead, which has a race:
///   two writers that both see "absent" both write, the later one wins. AWS, R2 and moto
///   support the condition.
/// - Retries (backoff with full jitter) and the per-operation deadline live in the transport;
///   past the deadline the caller gets `StorageError.timeout` and never a false success.
/// - The store owns an `HTTPClient`: call `shutdown()` when done.
public final class S3ObjectStore: ObjectStore {
    let transport: S3Transport
    public let configuration: S3Configuration
    public var location: String { configuration.location }
    /// Whether the server honours `If-None-Match: *`: nil until a server said it does not.
    let conditionalWritesUnsupported = Locked(false)
    /// Keys per ListObjectsV2 page (S3's maximum and default is 1000).
    let pageSize: Int

    /// - Conditional create: atomic (`If-None-Match: *` on the PUT or on
    ///   CompleteMultipartUpload) until the server answered that it does not support the
    ///   condition; from then on check-then-write (HEAD, then PUT). A server that ignores the
    ///   header without saying so cannot be told apart.
    /// - Ranged reads: native (a `Range` header). A server that ignores the header sends the
    ///   whole object and the store cuts the range out of it: still right, only slower.
    /// - Listing: read-after-write on AWS, which guarantees strong consistency for LIST since
    ///   December 2020; eventual on any other endpoint, whose server the store cannot know.
    public var capabilities: StoreCapabilities {
        StoreCapabilities(
            conditionalCreate: conditionalWritesUnsupported.value ? .checkThenWrite : .atomic,
            rangedReads: .native,
            listing: transport.endpoint.isAWS ? .readAfterWrite : .eventual)
    }

    /// A store on `configuration`'s bucket and prefix. Nothing is sent until the first call;
    /// retries are logged at debug level on `logger` (keys and failures, never credentials).
    public convenience init(_ configuration: S3Configuration, logger: Logger = Logger(label: "tidemark.s3")) throws(StorageError) {
        try self.init(configuration, pageSize: 1000, logger: logger, tamper: nil)
    }

    init(
        _ configuration: S3Configuration, pageSize: Int, logger: Logger = Logger(label: "tidemark.s3"),
        tamper: (@Sendable (inout [(String, String)]) -> Void)?
    ) throws(StorageError) {
        self.configuration = configuration
        self.pageSize = pageSize
        transport = try S3Transport(config: configuration, logger: logger, tamper: tamper)
    }

    /// Closes the HTTP client's connections. The store cannot be used afterwards.
    public func shutdown() async { await transport.shutdown() }

    func fullKey(_ key: String) throws(StorageError) -> String {
        try ObjectKey.validate(key)
        return configuration.prefix + key
    }

    func fullPrefix(_ prefix: String) throws(StorageError) -> String {
        if prefix.isEmpty { return configuration.prefix }
        guard prefix.hasSuffix("/") else { throw StorageError(.invalidKey, key: prefix, message: "a prefix must end in '/'") }
        try ObjectKey.validate(String(prefix.dropLast()))
        return configuration.prefix + prefix
    }

    // MARK: reads

    public func get(_ key: String) async throws -> [UInt8]? {
        let full = try fullKey(key)
        let r = try await transport.send(S3Request(method: .GET, key: full, maxResponseBytes: Int.max), operation: "read")
        switch r.status {
        case 200: return r.body
        case 404: try missingOrNoBucket(r, full); return nil
        default: throw unexpected(r, "read", full)
        }
    }

    public func get(_ key: String, range: Range<Int64>) async throws -> [UInt8]? {
        let full = try fullKey(key)
        if range.isEmpty { return try await size(key).map { _ in [] } }
        let request = S3Request(
            method: .GET, key: full, headers: [("range", "bytes=\(range.lowerBound)-\(range.upperBound - 1)")],
            maxResponseBytes: max(Int(range.count) + 1, 1 << 16))
        let r = try await transport.send(request, operation: "read a range of")
        switch r.status {
        case 206: return r.body
        case 200:
            let lower = min(Int(range.lowerBound), r.body.count)
            let upper = min(Int(range.upperBound), r.body.count)
            return Array(r.body[lower..<upper])
        case 416: return []
        case 404: try missingOrNoBucket(r, full); return nil
        default: throw unexpected(r, "read a range of", full)
        }
    }

    public func size(_ key: String) async throws -> Int64? {
        try await head(fullKey(key)).map(\.size)
    }

    /// HEAD: size and ETag, nil when missing.
    func head(_ full: String) async throws -> (size: Int64, etag: String)? {
        try await headResponse(full).map { ($0.contentLength ?? 0, $0.etag ?? "") }
    }

    /// The HEAD answer (200), nil when missing.
    func headResponse(_ full: String) async throws -> S3Response? {
        let r = try await transport.send(S3Request(method: .HEAD, key: full), operation: "look up")
        switch r.status {
        case 200: return r
        case 404: return nil
        case 403:
            // A HEAD answer has no body to say why: ask again with a one-byte GET, whose error
            // document tells a wrong secret (thrown as `.authentication`) from a missing permission.
            _ = try await transport.send(S3Request(method: .GET, key: full, headers: [("range", "bytes=0-0")]), operation: "look up")
            throw unexpected(r, "look up", full)
        default: throw unexpected(r, "look up", full)
        }
    }

    public func list(prefix: String) async throws -> ObjectListing {
        let full = try fullPrefix(prefix)
        var objects: [ObjectInfo] = []
        var prefixes: [String] = []
        var token: String?
        repeat {
            var query = [("list-type", "2"), ("prefix", full), ("delimiter", "/"), ("max-keys", String(pageSize))]
            if let token { query.append(("continuation-token", token)) }
            let r = try await transport.send(S3Request(method: .GET, key: nil, query: query), operation: "list")
            guard r.status == 200, let root = XMLElement.parse(r.body), root.name != "Error" else {
                throw unexpected(r, "list", full)
            }
            for c in root.all("Contents") {
                guard let k = c["Key"], k.hasPrefix(configuration.prefix) else { continue }
                objects.append(ObjectInfo(key: String(k.dropFirst(configuration.prefix.count)), size: Int64(c["Size"] ?? "") ?? 0))
            }
            for p in root.all("CommonPrefixes") {
                guard let k = p["Prefix"], k.hasPrefix(configuration.prefix) else { continue }
                prefixes.append(String(k.dropFirst(configuration.prefix.count)))
            }
            token = root["IsTruncated"] == "true" ? root["NextContinuationToken"] : nil
        } while token != nil
        return ObjectListing(objects: objects.sorted { $0.key < $1.key }, prefixes: prefixes.sorted())
    }

    /// Every key (full, prefix included) below a full prefix, recursively.
    func listAll(_ full: String) async throws -> [String] {
        var keys: [String] = []
        var token: String?
        repeat {
            var query = [("list-type", "2"), ("prefix", full), ("max-keys", String(pageSize))]
            if let token { query.append(("continuation-token", token)) }
            let r = try await transport.send(S3Request(method: .GET, key: nil, query: query), operation: "list")
            guard r.status == 200, let root = XMLElement.parse(r.body), root.name != "Error" else {
                throw unexpected(r, "list", full)
            }
            keys += root.all("Contents").compactMap { $0["Key"] }
            token = root["IsTruncated"] == "true" ? root["NextContinuationToken"] : nil
        } while token != nil
        return keys
    }

    public func openReader(_ key: String) async throws -> (any ObjectReader)? {
        let full = try fullKey(key)
        guard let info = try await head(full) else { return nil }
        return S3Reader(store: self, key: full, size: info.size, etag: info.etag)
    }

    // MARK: writes

    public func put(_ key: String, bytes: [UInt8], ifAbsent: Bool) async throws -> PutOutcome {
        let full = try fullKey(key)
        if bytes.count <= configuration.partSize {
            return try await putSingle(full, bytes: bytes, ifAbsent: ifAbsent)
        }
        let writer = S3Writer(store: self, key: full)
        do {
            try await writer.write(bytes)
            return try await writer.commit(ifAbsent: ifAbsent)
        } catch {
            await writer.abort()
            throw error
        }
    }

    public func makeWriter(_ key: String) async throws -> any ObjectWriter {
        S3Writer(store: self, key: try fullKey(key))
    }

    /// The Object Lock headers for an object written now (none without `objectLock`). A PUT
    /// that carries them must carry Content-MD5 too, which every PUT here does.
    func lockHeaders() -> [(String, String)] {
        configuration.objectLock?.headers(now: Int64(time(nil))) ?? []
    }

    /// One PUT with Content-MD5 (and the Object Lock headers), then a HEAD that confirms size and ETag.
    func putSingle(_ full: String, bytes: [UInt8], ifAbsent: Bool) async throws -> PutOutcome {
        let md5 = Digest.md5(bytes)
        let md5Hex = SigV4.hex(md5)
        var conditional = ifAbsent && !conditionalWritesUnsupported.value
        if ifAbsent && !conditional, try await head(full) != nil { return .alreadyExists }
        while true {
            var headers = [("content-md5", Digest.base64(md5)), ("content-type", "application/octet-stream")] + lockHeaders()
            if conditional { headers.append(("if-none-match", "*")) }
            let attempts = Locked(0)
            let r = try await transport.send(
                S3Request(method: .PUT, key: full, headers: headers, body: bytes), operation: "write",
                attempted: { n in attempts.withLock { $0 = n } })
            switch r.status {
            case 200:
                try await verifyOrRemove(full, size: Int64(bytes.count), etag: md5Hex, reportedETag: r.etag, created: ifAbsent)
                return .created
            case 412 where conditional:
                // A retried PUT may find the object its own earlier attempt created.
                if attempts.value > 1, let info = try await head(full), info.size == Int64(bytes.count), info.etag == md5Hex {
                    return .created
                }
                return .alreadyExists
            case 501 where conditional, 400 where conditional && r.errorBody?.code == "NotImplemented":
                conditionalWritesUnsupported.withLock { $0 = true }
                conditional = false
                if try await head(full) != nil { return .alreadyExists }
            default:
                throw unexpected(r, "write", full)
            }
        }
    }

    /// `verify`, and when the object is wrong and certainly ours (`created`: a conditional create
    /// succeeded), deletes it so that no corrupt object stays visible.
    func verifyOrRemove(_ full: String, size: Int64, etag: String, reportedETag: String?, created: Bool) async throws {
        do {
            try await verify(full, size: size, etag: etag, reportedETag: reportedETag)
        } catch let error as StorageError where error.code == .integrity && created {
            _ = try? await transport.send(S3Request(method: .DELETE, key: full), operation: "delete")
            throw error
        }
    }

    /// Confirms that `full` holds `size` bytes with ETag `etag`.
    func verify(_ full: String, size: Int64, etag: String, reportedETag: String?) async throws {
        if let reportedETag, reportedETag.lowercased() != etag {
            throw StorageError(.integrity, key: full,
                message: "unable to write '\(transport.display(full))': the store reports ETag \(reportedETag), expected \(etag)")
        }
        guard let info = try await head(full) else {
            throw StorageError(.integrity, key: full,
                message: "unable to write '\(transport.display(full))': the object is not there after a successful upload")
        }
        guard info.size == size, info.etag.lowercased() == etag else {
            throw StorageError(.integrity, key: full,
                message: "unable to write '\(transport.display(full))': the store holds \(info.size) bytes with ETag \(info.etag), expected \(size) bytes with ETag \(etag)")
        }
    }

    public func delete(_ key: String) async throws {
        let full = try fullKey(key)
        let r = try await transport.send(S3Request(method: .DELETE, key: full), operation: "delete")
        guard r.status == 204 || r.status == 200 || r.status == 404 else { throw unexpected(r, "delete", full) }
    }

    public func removeAll(prefix: String) async throws {
        let full = try fullPrefix(prefix)
        try await deleteBatches(fullKeys: listAll(full), operation: "delete objects below", display: full)
        for upload in try await multipartUploads(fullPrefix: full) {
            try await abortUpload(full: configuration.prefix + upload.key, uploadID: upload.uploadID, required: true)
        }
    }

    // MARK: multipart bookkeeping

    /// Multipart uploads started and neither completed nor aborted below `prefix`.
    public func multipartUploadsInFlight(prefix: String = "") async throws -> [S3MultipartUpload] {
        try await multipartUploads(fullPrefix: fullPrefix(prefix))
    }

    func multipartUploads(fullPrefix: String) async throws -> [S3MultipartUpload] {
        var uploads: [S3MultipartUpload] = []
        var keyMarker: String?
        var uploadMarker: String?
        while true {
            var query = [("uploads", "")]
            if !fullPrefix.isEmpty { query.append(("prefix", fullPrefix)) }
            if let keyMarker { query.append(("key-marker", keyMarker)) }
            if let uploadMarker { query.append(("upload-id-marker", uploadMarker)) }
            let r = try await transport.send(S3Request(method: .GET, key: nil, query: query), operation: "list uploads below")
            guard r.status == 200, let root = XMLElement.parse(r.body), root.name != "Error" else {
                throw unexpected(r, "list uploads below", fullPrefix)
            }
            for u in root.all("Upload") {
                guard let k = u["Key"], let id = u["UploadId"], k.hasPrefix(configuration.prefix) else { continue }
                uploads.append(S3MultipartUpload(key: String(k.dropFirst(configuration.prefix.count)), uploadID: id))
            }
            guard root["IsTruncated"] == "true", let next = root["NextKeyMarker"], !next.isEmpty else { break }
            keyMarker = next
            uploadMarker = root["NextUploadIdMarker"]
        }
        return uploads
    }

    /// Aborts an upload; 404 (already gone) is fine. With `required` false, failures are swallowed
    /// (an abort on an error path must not hide the original error).
    func abortUpload(full: String, uploadID: String, required: Bool) async throws {
        do {
            let r = try await transport.send(
                S3Request(method: .DELETE, key: full, query: [("uploadId", uploadID)]), operation: "abort the upload of")
            guard r.status == 204 || r.status == 200 || r.status == 404 else { throw unexpected(r, "abort the upload of", full) }
        } catch {
            if required { throw error }
        }
    }

    // MARK: errors

    func missingOrNoBucket(_ r: S3Response, _ full: String) throws(StorageError) {
        if r.errorBody?.code == "NoSuchBucket" {
            throw StorageError(.io, key: full,
                message: "unable to read '\(transport.display(full))': the bucket '\(configuration.bucket)' does not exist\nHINT: create it, or fix AWS_BACKUP_BUCKET")
        }
    }

    func unexpected(_ r: S3Response, _ operation: String, _ full: String) -> StorageError {
        let error = r.errorBody
        let detail = error.map { "\($0.code): \($0.message)" } ?? (r.status == 200 ? "an unreadable answer" : "no details")
        let what = "unable to \(operation) '\(transport.display(full))': HTTP \(r.status) \(detail)"
        switch (r.status, error?.code ?? "") {
        case (403, _):
            return StorageError(.permissionDenied, key: full,
                message: what + "\nHINT: the credentials in \(configuration.keyIDSource) lack permission for this bucket and prefix, or the secret is wrong")
        case (_, "NoSuchBucket"):
            return StorageError(.io, key: full, message: what + "\nHINT: create the bucket, or fix AWS_BACKUP_BUCKET")
        default:
            return StorageError(.io, key: full, message: what)
        }
    }
}
