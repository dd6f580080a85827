import Foundation
import Testing
@testable import TidemarkS3
import TidemarkSystem

enum SHA {
    static func hex(_ s: String) -> String { SigV4.sha256Hex(Array(s.utf8)) }
}

extension Tag {
    @Tag static var small: Self
    @Tag static var large: Self
}

@Suite("SigV4", .tags(.small))
struct SigV4Tests {
    @Test(arguments: SigV4Vectors.suite + SigV4Vectors.s3Examples)
    func reproducesPublishedVector(_ v: SigV4Vector) {
        let signed = SigV4.sign(
            SigV4.Request(method: v.method, path: v.path, query: v.query, headers: v.headers, payloadHash: SHA.hex(v.body)),
            accessKeyID: v.keyID, secret: S3Secret(v.secret), date: v.date, region: "us-east-1", service: v.service)
        #expect(signed.canonicalRequest == v.canonicalRequest)
        if let hash = v.canonicalRequestHash {
            #expect(signed.stringToSign.split(separator: "\n").last.map(String.init) == hash)
        }
        #expect(signed.stringToSign.hasPrefix("AWS4-HMAC-SHA256\n\(v.date)\n\(v.date.prefix(8))/us-east-1/\(v.service)/aws4_request\n"))
        #expect(signed.signature == v.signature)
        #expect(signed.authorization
            == "AWS4-HMAC-SHA256 Credential=\(v.keyID)/\(v.date.prefix(8))/us-east-1/\(v.service)/aws4_request, SignedHeaders=\(v.signedHeaders), Signature=\(v.signature)")
    }

    @Test func uriEncodingFollowsAWSRules() {
        #expect(SigV4.uriEncode("a b/c+d~e_f-g.h") == "a%20b%2Fc%2Bd~e_f-g.h")
        #expect(SigV4.canonicalPath("/bucket/wal/0000000100000000000000A1") == "/bucket/wal/0000000100000000000000A1")
        #expect(SigV4.canonicalPath("/b/k:x") == "/b/k%3Ax")
        #expect(SigV4.canonicalQuery([("prefix", "wal/"), ("delimiter", "/"), ("list-type", "2")])
            == "delimiter=%2F&list-type=2&prefix=wal%2F")
    }

    @Test func amzDateFormatsUTC() {
        #expect(SigV4.amzDate(unixSeconds: 1_440_938_160) == "20150830T123600Z")
        #expect(SigV4.amzDate(unixSeconds: 1_369_353_600) == "20130524T000000Z")
        #expect(SigV4.amzDate(unixSeconds: 0) == "19700101T000000Z")
    }

    @Test func sessionTokenIsSigned() {
        let headers = [("host", "example.amazonaws.com"), ("x-amz-date", "20150830T123600Z"), ("x-amz-security-token", "TOKEN")]
        let signed = SigV4.sign(
            SigV4.Request(method: "GET", path: "/", headers: headers, payloadHash: SigV4.emptyPayloadHash),
            accessKeyID: "AKIDEXAMPLE", secret: S3Secret("x"), date: "20150830T123600Z", region: "us-east-1", service: "s3")
        #expect(signed.signedHeaders == "host;x-amz-date;x-amz-security-token")
    }

    /// botocore (installed on the development machines and in CI by scripts/test.sh) signs the
    /// same S3 request; both signatures must agree.
    @Test func agreesWithBotocore() async throws {
        let script = """
        import datetime
        from unittest import mock
        import botocore.auth as A
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials
        when = datetime.datetime(2015, 8, 30, 12, 36, 0)
        req = AWSRequest(method='PUT', url='http://127.0.0.1:9000/bucket/wal/0000000100000000000000A1.partial?partNumber=3&uploadId=abc%2Fdef',
                         headers={'Content-MD5': 'XrY7u+Ae7tCTyyK7j1rNww=='}, data=b'hello world')
        with mock.patch.object(A.datetime, 'datetime', mock.Mock(wraps=datetime.datetime)) as m:
            m.utcnow.return_value = when
            m.now.return_value = when
            A.S3SigV4Auth(Credentials('AKID', 'se/cr+et'), 's3', 'eu-west-1').add_auth(req)
        print(req.headers['Authorization'])
        """
        // python3 takes seconds to start: wait on a pool thread, not a cooperative one.
        let (status, output) = try await BlockingPool.shared.run("run python3") { () throws -> (Int32, String) in
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["python3", "-c", script]
            let pipe = Pipe()
            process.standardOutput = pipe
            try process.run()
            let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            return (process.terminationStatus, output)
        }
        try #require(status == 0, "python3 with botocore is needed (scripts/test.sh installs it)")
        let body = Array("hello world".utf8)
        let headers = [
            ("content-md5", "XrY7u+Ae7tCTyyK7j1rNww=="), ("host", "127.0.0.1:9000"), ("x-amz-date", "20150830T123600Z"),
            ("x-amz-content-sha256", SigV4.sha256Hex(body)),
        ]
        let signed = SigV4.sign(
            SigV4.Request(method: "PUT", path: "/bucket/wal/0000000100000000000000A1.partial",
                query: [("partNumber", "3"), ("uploadId", "abc/def")], headers: headers, payloadHash: SigV4.sha256Hex(body)),
            accessKeyID: "AKID", secret: S3Secret("se/cr+et"), date: "20150830T123600Z", region: "eu-west-1", service: "s3")
        #expect(output.trimmingCharacters(in: .whitespacesAndNewlines) == signed.authorization)
    }

    @Test func secretsNeverPrint() throws {
        let secret = S3Secret("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
        #expect("\(secret)" == "<redacted>")
        #expect(String(reflecting: secret) == "<redacted>")
        var dumped = ""
        dump(secret, to: &dumped)
        #expect(!dumped.contains("EXAMPLEKEY"))
        let config = try S3Configuration(
            bucket: "b-1", credentials: S3Credentials(accessKeyID: "AKID", secretAccessKey: secret, sessionToken: S3Secret("tok-secret")))
        #expect(!"\(config)".contains("EXAMPLEKEY"))
        var dumpedConfig = ""
        dump(config, to: &dumpedConfig)
        #expect(!dumpedConfig.contains("EXAMPLEKEY") && !dumpedConfig.contains("tok-secret"))
    }
}
