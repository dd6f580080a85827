import TidemarkStorage
import TidemarkSystem

extension S3ObjectStore {
    /// The object's Object Lock retain-until date (seconds since the epoch, as HEAD reports it in
    /// `x-amz-object-lock-retain-until-date`), `Int64.max` while a legal hold is on, nil when
    /// the object is missing or holds no lock. Asked of every key whatever this store writes: a
    /// bucket's default retention locks objects written without the headers. The date may lie
    /// in the past (the lock has ended); the caller compares.
    public func retainUntil(_ key: String) async throws -> Int64? {
        let full = try fullKey(key)
        guard let r = try await headResponse(full) else { return nil }
        if r.headers.first(name: "x-amz-object-lock-legal-hold")?.uppercased() == "ON" { return Int64.max }
        guard let text = r.headers.first(name: "x-amz-object-lock-retain-until-date"), !text.isEmpty else { return nil }
        guard let until = S3Date.parseISO8601(text) else {
            throw StorageError(.io, key: full,
                message: "unable to read the retention of '\(transport.display(full))': unreadable retain-until date '\(text)'")
        }
        return until
    }

    /// DeleteObjects of up to 1000 keys a request (plain deletes: on a versioned bucket each
    /// adds a delete marker). Missing keys are not an error; the first key the store refuses
    /// is thrown, after the batches before it were deleted.
    public func deleteMany(_ keys: [String]) async throws {
        var full: [String] = []
        full.reserveCapacity(keys.count)
        for key in keys { full.append(try fullKey(key)) }
        try await deleteBatches(fullKeys: full, operation: "delete", display: full.first ?? configuration.prefix)
    }

    /// POST ?delete in batches of 1000 keys, quiet mode (only failures are reported).
    func deleteBatches(fullKeys keys: [String], operation: String, display: String) async throws {
        var start = 0
        while start < keys.count {
            let batch = keys[start..<min(start + 1000, keys.count)]
            start += batch.count
            var xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Delete xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Quiet>true</Quiet>"
            for k in batch { xml += "<Object><Key>\(XMLElement.escape(k))</Key></Object>" }
            xml += "</Delete>"
            let body = Array(xml.utf8)
            let r = try await transport.send(
                S3Request(method: .POST, key: nil, query: [("delete", "")],
                    headers: [("content-md5", Digest.base64(Digest.md5(body))), ("content-type", "application/xml")], body: body),
                operation: operation)
            guard r.status == 200, let root = XMLElement.parse(r.body), root.name != "Error" else {
                throw unexpected(r, operation, batch.first ?? display)
            }
            if let failed = root.all("Error").first {
                let key = failed["Key"] ?? display
                let code = failed["Code"] ?? ""
                let what = "unable to delete '\(transport.display(key))': \(code) \(failed["Message"] ?? "")"
                if code == "AccessDenied" {
                    throw StorageError(.permissionDenied, key: key,
                        message: what + "\nHINT: the object may be under Object Lock retention, or the credentials lack s3:DeleteObject")
                }
                throw StorageError(.io, key: key, message: what)
            }
        }
    }
}
