import TidemarkStorage
import TidemarkSystem

/// A streamed write to S3: bytes are buffered up to the part size; an object that stays within
/// one part is a single PUT at `commit`, a larger one a multipart upload whose parts go up in
/// parallel (at most `concurrency` at once) while the caller keeps writing.
///
/// Nothing is visible before `commit`. Any failure (and `abort`) aborts the multipart upload, so
/// no upload is left open to accrue storage.
actor S3Writer: ObjectWriter {
    struct Part: Sendable {
        var number: Int
        var etag: String
        var md5: [UInt8]
        var size: Int
    }

    let store: S3ObjectStore
    let key: String
    private var buffer: [UInt8] = []
    private var uploadID: String?
    private var done: [Part] = []
    private var inFlight: [Task<Part, any Error>] = []
    private var nextPart = 1
    private var total: Int64 = 0
    private var finished = false
    /// Set when CreateMultipartUpload had to be retried: an earlier attempt may have created an
    /// upload whose id never reached us.
    private var createRetried = false

    init(store: S3ObjectStore, key: String) {
        self.store = store
        self.key = key
    }

    var partSize: Int { store.configuration.partSize }

    func write(_ bytes: [UInt8]) async throws {
        guard !finished else { throw StorageError(.io, key: key, message: "unable to write '\(key)': the writer is closed") }
        buffer += bytes
        total += Int64(bytes.count)
        while buffer.count >= partSize + 1 || (buffer.count >= partSize && uploadID != nil) {
            // Keep at least one byte back until commit so the last part is never empty, and a
            // body of exactly one part stays a single PUT.
            let part = Array(buffer[..<partSize])
            buffer = Array(buffer[partSize...])
            do {
                try await startPart(part)
            } catch {
                await abort()
                throw error
            }
        }
    }

    private func startPart(_ bytes: [UInt8]) async throws {
        if uploadID == nil { uploadID = try await create() }
        while inFlight.count >= store.configuration.concurrency {
            let first = inFlight.removeFirst()
            done.append(try await first.value)
        }
        let number = nextPart
        nextPart += 1
        let (store, key, id) = (store, key, uploadID!)
        inFlight.append(Task { try await Self.upload(store: store, key: key, uploadID: id, number: number, bytes: bytes) })
    }

    private func create() async throws -> String {
        let attempts = Locked(0)
        let r = try await store.transport.send(
            S3Request(method: .POST, key: key, query: [("uploads", "")],
                      headers: [("content-type", "application/octet-stream")] + store.lockHeaders()),
            operation: "start a multipart upload of", attempted: { n in attempts.withLock { $0 = n } })
        if attempts.value > 1 { createRetried = true }
        guard r.status == 200, let root = XMLElement.parse(r.body), root.name != "Error",
              let id = root["UploadId"], !id.isEmpty
        else { throw store.unexpected(r, "start a multipart upload of", key) }
        return id
    }

    private static func upload(store: S3ObjectStore, key: String, uploadID: String, number: Int, bytes: [UInt8]) async throws -> Part {
        let md5 = Digest.md5(bytes)
        let r = try await store.transport.send(
            S3Request(method: .PUT, key: key, query: [("partNumber", String(number)), ("uploadId", uploadID)],
                headers: [("content-md5", Digest.base64(md5))], body: bytes),
            operation: "upload part \(number) of")
        guard r.status == 200 else { throw store.unexpected(r, "upload part \(number) of", key) }
        let expected = SigV4.hex(md5)
        if let etag = r.etag?.lowercased(), etag != expected {
            throw StorageError(.integrity, key: key,
                message: "unable to upload part \(number) of '\(store.transport.display(key))': ETag \(etag), expected \(expected)")
        }
        return Part(number: number, etag: expected, md5: md5, size: bytes.count)
    }

    func commit(ifAbsent: Bool) async throws -> PutOutcome {
        guard !finished else { throw StorageError(.io, key: key, message: "unable to commit '\(key)': the writer is closed") }
        guard let uploadID else {
            finished = true
            return try await store.putSingle(key, bytes: buffer, ifAbsent: ifAbsent)
        }
        do {
            if !buffer.isEmpty {
                try await startPart(buffer)
                buffer = []
            }
            finished = true
            for task in inFlight { done.append(try await task.value) }
            inFlight = []
            let outcome = try await complete(uploadID: uploadID, ifAbsent: ifAbsent)
            if outcome == .alreadyExists {
                try await store.abortUpload(full: key, uploadID: uploadID, required: false)
            }
            await abortOrphans(except: uploadID)
            return outcome
        } catch {
            finished = false
            await abort()
            throw error
        }
    }

    /// The ETag S3 gives a multipart object: MD5 of the concatenated part MD5s, then `-N`.
    static func multipartETag(_ parts: [Part]) -> String {
        SigV4.hex(Digest.md5(parts.flatMap(\.md5))) + "-\(parts.count)"
    }

    private func complete(uploadID: String, ifAbsent: Bool) async throws -> PutOutcome {
        let parts = done.sorted { $0.number < $1.number }
        let expected = Self.multipartETag(parts)
        var conditional = ifAbsent && !store.conditionalWritesUnsupported.value
        // Checked first in any case: a server that ignores the condition on completion (moto
        // does) would otherwise replace the object.
        if ifAbsent, try await store.head(key) != nil { return .alreadyExists }
        var xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
        for p in parts { xml += "<Part><PartNumber>\(p.number)</PartNumber><ETag>\"\(p.etag)\"</ETag></Part>" }
        xml += "</CompleteMultipartUpload>"
        let body = Array(xml.utf8)
        var rounds = 0
        while true {
            rounds += 1
            var headers = [("content-type", "application/xml")]
            if conditional { headers.append(("if-none-match", "*")) }
            let attempts = Locked(0)
            let r = try await store.transport.send(
                S3Request(method: .POST, key: key, query: [("uploadId", uploadID)], headers: headers, body: body),
                operation: "complete the upload of", attempted: { n in attempts.withLock { $0 = n } })
            let retried = attempts.value > 1 || rounds > 1
            let root = XMLElement.parse(r.body)
            switch r.status {
            case 200 where root?.name != "Error":
                try await store.verifyOrRemove(key, size: total, etag: expected, reportedETag: root?["ETag"]?.replacingQuotes, created: conditional || ifAbsent)
                return .created
            case 200 where root?.name == "Error" && rounds < 4:
                // S3 may answer 200 and report an error in the body after a long completion.
                continue
            case 412 where conditional, 404 where retried:
                // An earlier attempt may have completed the upload: then the object is ours.
                if retried, let info = try await store.head(key), info.size == total, info.etag == expected { return .created }
                if r.status == 404 { throw store.unexpected(r, "complete the upload of", key) }
                return .alreadyExists
            case 501 where conditional, 400 where conditional && r.errorBody?.code == "NotImplemented":
                store.conditionalWritesUnsupported.withLock { $0 = true }
                conditional = false
            default:
                throw store.unexpected(r, "complete the upload of", key)
            }
        }
    }

    func abort() async {
        guard !finished else { return }
        finished = true
        for task in inFlight { task.cancel() }
        for task in inFlight { _ = try? await task.value }
        inFlight = []
        buffer = []
        if let uploadID {
            try? await store.abortUpload(full: key, uploadID: uploadID, required: false)
            await abortOrphans(except: uploadID)
        }
    }

    /// After a retried CreateMultipartUpload, aborts the other uploads in flight for this very
    /// key: an attempt whose answer was lost may have created one. A concurrent writer of the
    /// same key would see its upload aborted and fail (and retry), which loses nothing; an
    /// orphaned upload would be billed forever.
    private func abortOrphans(except ours: String) async {
        guard createRetried else { return }
        guard let uploads = try? await store.multipartUploads(fullPrefix: key) else { return }
        for upload in uploads where store.configuration.prefix + upload.key == key && upload.uploadID != ours {
            try? await store.abortUpload(full: key, uploadID: upload.uploadID, required: false)
        }
    }
}

/// A streamed read: ranged GETs of up to 8 MiB, each pinned to the ETag seen at open
/// (`If-Match`), so an object replaced mid-read is an error, not a mix of two objects.
actor S3Reader: ObjectReader {
    let store: S3ObjectStore
    let key: String
    let size: Int64
    let etag: String
    private var position: Int64 = 0
    private var buffer: [UInt8] = []
    private var offset = 0
    static let chunk = 8 << 20

    init(store: S3ObjectStore, key: String, size: Int64, etag: String) {
        self.store = store
        self.key = key
        self.size = size
        self.etag = etag
    }

    func read(upTo count: Int) async throws -> [UInt8] {
        if offset >= buffer.count {
            guard position < size else { return [] }
            let end = min(size, position + Int64(max(count, Self.chunk)))
            var headers = [("range", "bytes=\(position)-\(end - 1)")]
            if !etag.isEmpty { headers.append(("if-match", "\"\(etag)\"")) }
            let r = try await store.transport.send(
                S3Request(method: .GET, key: key, headers: headers, maxResponseBytes: max(Int(end - position) + 1, 1 << 16)), operation: "read")
            switch r.status {
            case 206 where r.body.count == Int(end - position):
                buffer = r.body
            case 200 where r.body.count == Int(size):
                buffer = Array(r.body[Int(position)...])
            case 412, 404:
                throw StorageError(.io, key: key, message: "unable to read '\(store.transport.display(key))': the object changed or vanished while being read")
            default:
                throw store.unexpected(r, "read", key)
            }
            offset = 0
            position += Int64(buffer.count)
        }
        let n = min(count, buffer.count - offset)
        defer { offset += n }
        return Array(buffer[offset..<(offset + n)])
    }

    func close() async {
        buffer = []
        position = size
    }
}
