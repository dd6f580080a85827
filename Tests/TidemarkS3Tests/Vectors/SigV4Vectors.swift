/// Published SigV4 vectors, reproduced exactly.
///
/// `suite`: cases of AWS's "Signature Version 4 test suite" (credentials AKIDEXAMPLE /
/// wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY, 20150830T123600Z, us-east-1, service `service`).
/// `s3Examples`: the examples of the S3 documentation "Signature Calculations for the
/// Authorization Header: Transferring Payload in a Single Chunk" (AKIAIOSFODNN7EXAMPLE /
/// wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY, 20130524T000000Z, us-east-1, s3, examplebucket).
struct SigV4Vector: Sendable, CustomStringConvertible {
    var name: String
    var method: String
    var path: String
    var query: [(String, String)]
    var headers: [(String, String)]
    var body: String
    var canonicalRequest: String
    /// The last line of the string to sign: hex SHA-256 of the canonical request (nil where the
    /// source publishes only the signature).
    var canonicalRequestHash: String?
    var signature: String
    var signedHeaders: String
    var keyID: String
    var secret: String
    var date: String
    var service: String
    var description: String { name }
}

enum SigV4Vectors {
    static let empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

    static func suiteCase(
        _ name: String, method: String = "GET", path: String = "/", query: [(String, String)] = [],
        extraHeaders: [(String, String)] = [], body: String = "", canonicalPath: String? = nil, canonicalQuery: String = "",
        hash: String? = nil, signature: String
    ) -> SigV4Vector {
        let headers = extraHeaders + [("Host", "example.amazonaws.com"), ("X-Amz-Date", "20150830T123600Z")]
        let lines = headers.map { ($0.0.lowercased(), $0.1) }.sorted { $0.0 < $1.0 }
        let canonical = [method, canonicalPath ?? path, canonicalQuery] + lines.map { "\($0.0):\($0.1)" }
            + ["", lines.map(\.0).joined(separator: ";"), SHA.hex(body)]
        return SigV4Vector(
            name: name, method: method, path: path, query: query, headers: headers, body: body,
            canonicalRequest: canonical.joined(separator: "\n"), canonicalRequestHash: hash, signature: signature,
            signedHeaders: lines.map(\.0).joined(separator: ";"),
            keyID: "AKIDEXAMPLE", secret: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", date: "20150830T123600Z", service: "service")
    }

    static let suite: [SigV4Vector] = [
        suiteCase("get-vanilla", hash: "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63",
            signature: "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
        suiteCase("get-vanilla-query-order-key-case", query: [("Param2", "value2"), ("Param1", "value1")],
            canonicalQuery: "Param1=value1&Param2=value2",
            hash: "816cd5b414d056048ba4f7c5386d6e0533120fb1fcfa93762cf0fc39e2cf19e0",
            signature: "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"),
        suiteCase("post-vanilla", method: "POST", signature: "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"),
        suiteCase("post-x-www-form-urlencoded", method: "POST",
            extraHeaders: [("Content-Type", "application/x-www-form-urlencoded")], body: "Param1=value1",
            signature: "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a"),
        suiteCase("get-utf8", path: "/\u{1234}", canonicalPath: "/%E1%88%B4",
            signature: "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85"),
        suiteCase("get-space", path: "/example space/", canonicalPath: "/example%20space/",
            signature: "652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741"),
        suiteCase("get-unreserved", path: "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
            signature: "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f"),
        suiteCase("post-header-value-case", method: "POST", extraHeaders: [("My-Header1", "VALUE1")],
            signature: "cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d"),
    ]

    static func s3Case(
        _ name: String, method: String, path: String, query: [(String, String)] = [], headers: [(String, String)],
        body: String = "", canonicalRequest: [String], hash: String?, signature: String, signedHeaders: String
    ) -> SigV4Vector {
        SigV4Vector(
            name: name, method: method, path: path, query: query, headers: headers, body: body,
            canonicalRequest: canonicalRequest.joined(separator: "\n"), canonicalRequestHash: hash, signature: signature,
            signedHeaders: signedHeaders,
            keyID: "AKIAIOSFODNN7EXAMPLE", secret: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", date: "20130524T000000Z", service: "s3")
    }

    static let host = ("host", "examplebucket.s3.amazonaws.com")
    static let date = ("x-amz-date", "20130524T000000Z")

    static let s3Examples: [SigV4Vector] = [
        s3Case("s3-get-object-range", method: "GET", path: "/test.txt",
            headers: [host, ("range", "bytes=0-9"), ("x-amz-content-sha256", empty), date],
            canonicalRequest: ["GET", "/test.txt", "", "host:examplebucket.s3.amazonaws.com", "range:bytes=0-9",
                "x-amz-content-sha256:\(empty)", "x-amz-date:20130524T000000Z", "",
                "host;range;x-amz-content-sha256;x-amz-date", empty],
            hash: "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972",
            signature: "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
            signedHeaders: "host;range;x-amz-content-sha256;x-amz-date"),
        s3Case("s3-put-object", method: "PUT", path: "/test$file.text",
            headers: [("date", "Fri, 24 May 2013 00:00:00 GMT"), host,
                ("x-amz-content-sha256", "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072"), date,
                ("x-amz-storage-class", "REDUCED_REDUNDANCY")],
            body: "Welcome to Amazon S3.",
            canonicalRequest: ["PUT", "/test%24file.text", "", "date:Fri, 24 May 2013 00:00:00 GMT",
                "host:examplebucket.s3.amazonaws.com",
                "x-amz-content-sha256:44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072",
                "x-amz-date:20130524T000000Z", "x-amz-storage-class:REDUCED_REDUNDANCY", "",
                "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class",
                "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072"],
            hash: "9e0e90d9c76de8fa5b200d8c849cd5b8dc7a3be3951ddb7f6a76b4158342019d",
            signature: "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd",
            signedHeaders: "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class"),
        s3Case("s3-get-bucket-lifecycle", method: "GET", path: "/", query: [("lifecycle", "")],
            headers: [host, ("x-amz-content-sha256", empty), date],
            canonicalRequest: ["GET", "/", "lifecycle=", "host:examplebucket.s3.amazonaws.com",
                "x-amz-content-sha256:\(empty)", "x-amz-date:20130524T000000Z", "",
                "host;x-amz-content-sha256;x-amz-date", empty],
            hash: nil,
            signature: "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543",
            signedHeaders: "host;x-amz-content-sha256;x-amz-date"),
        s3Case("s3-list-objects", method: "GET", path: "/", query: [("prefix", "J"), ("max-keys", "2")],
            headers: [host, ("x-amz-content-sha256", empty), date],
            canonicalRequest: ["GET", "/", "max-keys=2&prefix=J", "host:examplebucket.s3.amazonaws.com",
                "x-amz-content-sha256:\(empty)", "x-amz-date:20130524T000000Z", "",
                "host;x-amz-content-sha256;x-amz-date", empty],
            hash: nil,
            signature: "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7",
            signedHeaders: "host;x-amz-content-sha256;x-amz-date"),
    ]
}
