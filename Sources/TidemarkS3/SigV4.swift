import Crypto
import TidemarkSystem

/// AWS Signature Version 4, header form: a pure function of the request, the time and the key.
///
/// The caller supplies every header that is to be signed (including `host`, `x-amz-date` and,
/// for S3, `x-amz-content-sha256`); the signer canonicalises, hashes and returns the
/// `Authorization` value together with the intermediate texts, so tests can compare each step
/// with AWS's published vectors.
public enum SigV4 {
    public struct Request: Sendable {
        public var method: String
        /// The path as it is sent, *not* yet encoded: each segment is encoded here.
        public var path: String
        /// Query parameters, not yet encoded, in any order.
        public var query: [(String, String)]
        /// Headers to sign, any case, any order. Values are trimmed and inner runs of spaces folded.
        public var headers: [(String, String)]
        /// Hex SHA-256 of the payload.
        public var payloadHash: String

        public init(method: String, path: String, query: [(String, String)] = [], headers: [(String, String)], payloadHash: String) {
            self.method = method
            self.path = path
            self.query = query
            self.headers = headers
            self.payloadHash = payloadHash
        }
    }

    public struct Signature: Sendable {
        public var canonicalRequest: String
        public var stringToSign: String
        public var signature: String
        public var signedHeaders: String
        public var authorization: String
    }

    /// `date` is the `x-amz-date` value (`yyyyMMdd'T'HHmmss'Z'`); its first 8 characters name the day of the scope.
    public static func sign(
        _ request: Request, accessKeyID: String, secret: S3Secret, date: String, region: String, service: String
    ) -> Signature {
        let canonical = canonicalRequest(request)
        let day = String(date.prefix(8))
        let scope = "\(day)/\(region)/\(service)/aws4_request"
        let stringToSign = ["AWS4-HMAC-SHA256", date, scope, hex(SHA256.hash(data: Array(canonical.text.utf8)))]
            .joined(separator: "\n")
        let key = signingKey(secret: secret, day: day, region: region, service: service)
        let signature = hex(HMAC<SHA256>.authenticationCode(for: Array(stringToSign.utf8), using: key))
        let authorization = "AWS4-HMAC-SHA256 Credential=\(accessKeyID)/\(scope), SignedHeaders=\(canonical.signedHeaders), Signature=\(signature)"
        return Signature(
            canonicalRequest: canonical.text, stringToSign: stringToSign, signature: signature,
            signedHeaders: canonical.signedHeaders, authorization: authorization)
    }

    static func signingKey(secret: S3Secret, day: String, region: String, service: String) -> SymmetricKey {
        var key = SymmetricKey(data: Array(("AWS4" + secret.value).utf8))
        for part in [day, region, service, "aws4_request"] {
            key = SymmetricKey(data: Array(HMAC<SHA256>.authenticationCode(for: Array(part.utf8), using: key)))
        }
        return key
    }

    static func canonicalRequest(_ request: Request) -> (text: String, signedHeaders: String) {
        var merged: [String: [String]] = [:]
        for (name, value) in request.headers {
            merged[name.lowercased(), default: []].append(normalizeHeaderValue(value))
        }
        let names = merged.keys.sorted()
        let headerLines = names.map { "\($0):\(merged[$0]!.joined(separator: ","))\n" }.joined()
        let signedHeaders = names.joined(separator: ";")
        let text = [
            request.method,
            canonicalPath(request.path),
            canonicalQuery(request.query),
            headerLines,
            signedHeaders,
            request.payloadHash,
        ].joined(separator: "\n")
        return (text, signedHeaders)
    }

    /// Each `/`-separated segment percent-encoded except the unreserved characters (S3 style: no
    /// double encoding, no dot-segment normalisation).
    public static func canonicalPath(_ path: String) -> String {
        let p = path.isEmpty ? "/" : path
        return p.split(separator: "/", omittingEmptySubsequences: false).map { uriEncode(String($0)) }.joined(separator: "/")
    }

    /// `name=value` pairs, both encoded, sorted by name then value, joined with `&`.
    public static func canonicalQuery(_ query: [(String, String)]) -> String {
        query.map { (uriEncode($0.0), uriEncode($0.1)) }
            .sorted { $0.0 == $1.0 ? $0.1 < $1.1 : $0.0 < $1.0 }
            .map { "\($0.0)=\($0.1)" }
            .joined(separator: "&")
    }

    /// RFC 3986 encoding as AWS specifies it: everything but `A-Z a-z 0-9 - . _ ~` becomes `%XX`
    /// (upper-case hex) of its UTF-8 bytes; a space is `%20`, never `+`.
    public static func uriEncode(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        for b in s.utf8 {
            if (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || (b >= 0x30 && b <= 0x39)
                || b == 0x2D || b == 0x2E || b == 0x5F || b == 0x7E
            {
                out.unicodeScalars.append(Unicode.Scalar(b))
            } else {
                out += "%" + String(hexDigits[Int(b >> 4)]) + String(hexDigits[Int(b & 0xF)])
            }
        }
        return out
    }

    private static let hexDigits = Array("0123456789ABCDEF")

    static func normalizeHeaderValue(_ value: String) -> String {
        let trimmed = value.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
        return trimmed
    }

    /// Lower-case hex of any byte sequence.
    public static func hex<D: Sequence>(_ digest: D) -> String where D.Element == UInt8 {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        for b in digest {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Hex SHA-256 of `bytes`.
    public static func sha256Hex(_ bytes: [UInt8]) -> String { hex(SHA256.hash(data: bytes)) }

    /// The hash of an empty payload.
    public static let emptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

    /// `yyyyMMdd'T'HHmmss'Z'` for a Unix time in seconds (UTC).
    public static func amzDate(unixSeconds: Int64) -> String {
        String(S3Date.iso8601(unixSeconds: unixSeconds).filter { $0 != "-" && $0 != ":" })
    }
}
