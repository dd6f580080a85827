import AsyncHTTPClient
import NIOCore
import TidemarkCore

/// A URL that is a secret (a Slack webhook URL carries its token in the path; a Healthchecks
/// ping URL its check's UUID): it never prints itself, and errors never quote it.
public struct SecretURL: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public let value: String
    public init(_ value: String) { self.value = value }
    public var description: String { "<redacted>" }
    public var debugDescription: String { "<redacted>" }
    public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .struct) }

    /// The URL is `http://` or `https://` with a host: checked when the settings load, so a
    /// typing mistake is a configuration error naming the setting, not a failed delivery later.
    public var isWellFormed: Bool {
        let lower = value.lowercased()
        let rest: Substring
        if lower.hasPrefix("https://") { rest = lower.dropFirst(8) } else if lower.hasPrefix("http://") { rest = lower.dropFirst(7) } else { return false }
        let host = rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        return !host.isEmpty && !value.contains(where: { $0.isWhitespace || $0.isNewline })
    }
}

/// One HTTP request of a channel through the shared `HTTPClient`: a time limit, a 2xx answer
/// or an error that names the channel and the status (or the transport's failure), never the URL.
///
/// Errors are classified for the `Notifier`'s retries: `.io` (timeouts, connection failures,
/// 5xx, 429) may succeed later; `.configuration` (401, 403, 404, 410: a wrong or revoked URL)
/// and `.invalidInput` (another 4xx: the payload was refused) will not.
enum HTTPDelivery {
    /// GET (no body) when `json` is nil, else POST of `json`.
    static func send(_ client: HTTPClient, channel: String, url: SecretURL, json body: [UInt8]?, timeout: Duration) async throws {
        var request = HTTPClientRequest(url: url.value)
        request.method = body == nil ? .GET : .POST
        request.headers.add(name: "User-Agent", value: "tidemark")
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json; charset=utf-8")
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        let status: (code: UInt, reason: String)
        let answer: String
        do {
            let response = try await client.execute(request, timeout: timeAmount(timeout))
            status = (response.status.code, response.status.reasonPhrase)
            answer = try await shortBody(response.body)
        } catch {
            throw TidemarkError(.io, "\(channel): unable to deliver the notification: \(redacting(url, in: transportFailure(error)))",
                                hints: ["check that the \(channel) endpoint is reachable from this host"])
        }
        guard (200..<300).contains(status.code) else {
            let detail = answer.isEmpty ? "" : " (\(redacting(url, in: answer)))"
            let message = "\(channel): the endpoint answered HTTP \(status.code) \(status.reason)\(detail)"
            switch status.code {
            case 401, 403, 404, 410:
                throw TidemarkError(.configuration, message, hints: ["the \(channel) URL is wrong, revoked or lacks permission: set a new one"])
            case 429, 500...:
                throw TidemarkError(.io, message)
            default:
                throw TidemarkError(.invalidInput, message)
            }
        }
    }

    /// At most 300 bytes of the answer, one line: enough for Slack's `no_service` or
    /// `invalid_payload`, not enough to fill a log.
    private static func shortBody(_ body: HTTPClientResponse.Body) async throws -> String {
        var bytes: [UInt8] = []
        for try await chunk in body {
            bytes += chunk.readableBytesView.prefix(300 - bytes.count)
            if bytes.count >= 300 { break }
        }
        let text = String(decoding: bytes, as: UTF8.self)
        return text.split(whereSeparator: \.isNewline).joined(separator: " ").trimmingCharacters(in: .whitespaces)
    }

    /// A transport error in words: AsyncHTTPClient's own errors by their case, others by type,
    /// so no error text that might carry the URL is passed on.
    private static func transportFailure(_ error: any Error) -> String {
        if let error = error as? HTTPClientError {
            switch error {
            case .deadlineExceeded, .readTimeout, .writeTimeout: return "no answer within the time limit"
            case .connectTimeout: return "connection timed out"
            case .remoteConnectionClosed: return "the server closed the connection"
            case .invalidURL, .emptyHost, .emptyScheme: return "the URL is not valid"
            default: return "HTTP client error (\(error.shortDescription))"
            }
        }
        if error is CancellationError { return "cancelled" }
        let text = String(describing: error)
        // Connection refused and friends: NIO's errors name the host and port, not the path.
        if text.contains("connectionRefused") || text.contains("Connection refused") { return "connection refused" }
        if let error = error as? IOError { return "I/O error: errno \(error.errnoCode)" }
        return "\(type(of: error))"
    }

    static func timeAmount(_ d: Duration) -> TimeAmount {
        let (seconds, attoseconds) = d.components
        return .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }

    /// `text` without the URL or its path (some servers echo the request line).
    static func redacting(_ url: SecretURL, in text: String) -> String {
        var out = text.replacingOccurrences(of: url.value, with: "<redacted>")
        if let schemeEnd = url.value.range(of: "://") {
            let afterScheme = url.value[schemeEnd.upperBound...]
            if let slash = afterScheme.firstIndex(of: "/") {
                let path = String(afterScheme[slash...])
                if path.count > 1 { out = out.replacingOccurrences(of: path, with: "<redacted>") }
            }
        }
        return out
    }
}

extension HTTPClientError {
    /// `HTTPClientError.x` → `x`.
    fileprivate var shortDescription: String {
        String(describing: self).replacingOccurrences(of: "HTTPClientError.", with: "")
    }
}
