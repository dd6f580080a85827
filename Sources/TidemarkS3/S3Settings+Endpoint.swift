import TidemarkCore

extension S3RepositorySettings {
    /// Checks an endpoint URL: https anywhere, plain http only to a loopback host (the
    /// requests carry credentials' signatures and the repository's metadata).
    package static func validateEndpoint(_ text: String, repository name: String) throws -> String {
        let lower = text.lowercased()
        let secure: Bool
        let rest: Substring
        if lower.hasPrefix("https://") {
            secure = true
            rest = text.dropFirst(8)
        } else if lower.hasPrefix("http://") {
            secure = false
            rest = text.dropFirst(7)
        } else {
            throw TidemarkError(.configuration, "repository '\(name)': endpoint '\(text)' is not an https:// URL",
                                hints: ["write it as https://host[:port] (AWS_ENDPOINT_URL or s3.endpoint)"])
        }
        let authority = rest.prefix { $0 != "/" }
        let path = rest.dropFirst(authority.count)
        guard path.isEmpty || path == "/" else {
            throw TidemarkError(.configuration, "repository '\(name)': endpoint '\(text)' has a path",
                                hints: ["give only scheme, host and port; put the bucket in AWS_BACKUP_BUCKET or s3.bucket and a prefix after it"])
        }
        guard !authority.isEmpty, !authority.contains("@") else {
            throw TidemarkError(.configuration, "repository '\(name)': endpoint '\(text)' has no host (or carries a user name)",
                                hints: ["write it as https://host[:port]; credentials go in AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY"])
        }
        let host: Substring
        var portText: Substring = ""
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else {
                throw TidemarkError(.configuration, "repository '\(name)': endpoint '\(text)' has an unterminated IPv6 address")
            }
            host = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            if after.hasPrefix(":") { portText = after.dropFirst() } else if !after.isEmpty {
                throw TidemarkError(.configuration, "repository '\(name)': endpoint '\(text)' is not host[:port]")
            }
        } else {
            let parts = authority.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
            host = parts[0]
            if parts.count == 2 { portText = parts[1] }
        }
        if !portText.isEmpty {
            guard let port = Int(portText), (1...65535).contains(port) else {
                throw TidemarkError(.configuration, "repository '\(name)': endpoint '\(text)' has port '\(portText)', which is not 1-65535")
            }
        }
        guard !host.isEmpty else {
            throw TidemarkError(.configuration, "repository '\(name)': endpoint '\(text)' has no host")
        }
        if !secure && !isLoopback(String(host)) {
            throw TidemarkError(.configuration, "repository '\(name)': endpoint '\(text)' uses plain http:// to '\(host)', which is not a loopback address; refusing to send requests and repository metadata unencrypted over the network",
                                hints: ["use https:// (s3.caBundle names the CA for a private certificate)",
                                        "plain http:// is allowed only to 127.0.0.0/8, ::1 or localhost (a proxy or test server on this host)"])
        }
        return String(text.hasSuffix("/") ? text.dropLast() : Substring(text))
    }

    /// 127.0.0.0/8, ::1 or localhost.
    package static func isLoopback(_ host: String) -> Bool {
        let h = host.lowercased()
        if h == "localhost" || h == "::1" || h == "0:0:0:0:0:0:0:1" { return true }
        let octets = h.split(separator: ".", omittingEmptySubsequences: false)
        guard octets.count == 4 else { return false }
        let values = octets.compactMap { o -> Int? in
            guard !o.isEmpty, o.count <= 3, o.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
            return Int(o)
        }
        return values.count == 4 && values.allSatisfy { $0 <= 255 } && values[0] == 127
    }
}
