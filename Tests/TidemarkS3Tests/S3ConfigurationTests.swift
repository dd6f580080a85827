import Testing
import TidemarkStorage
@testable import TidemarkS3
import TidemarkSystem

@Suite("S3 configuration", .tags(.small))
struct S3ConfigurationTests {
    let base = ["AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "s3cr3t-value", "AWS_BACKUP_BUCKET": "my-bucket/pg/main"]

    func env(_ changes: [String: String?]) -> [String: String] {
        var e = base
        for (k, v) in changes { e[k] = v }
        return e
    }

    @Test func readsTheUsualVariables() throws {
        let c = try S3Configuration.fromEnvironment(env(["AWS_REGION": "eu-central-1", "AWS_SESSION_TOKEN": "tok"]))
        #expect(c.bucket == "my-bucket")
        #expect(c.prefix == "pg/main/")
        #expect(c.region == "eu-central-1")
        #expect(c.endpoint == "https://s3.eu-central-1.amazonaws.com")
        #expect(c.addressing == .virtual)
        #expect(c.credentials.sessionToken == S3Secret("tok"))
        #expect(c.location == "s3://my-bucket/pg/main/")
        let plain = try S3Configuration.fromEnvironment(env(["AWS_BACKUP_BUCKET": "solo"]))
        #expect(plain.prefix == "" && plain.region == "us-east-1" && plain.location == "s3://solo/")
    }

    @Test func customEndpointsDefaultToPathStyleAndR2UsesAuto() async throws {
        let r2 = try S3Configuration.fromEnvironment(env(["AWS_REGION": "auto", "AWS_ENDPOINT_URL": "https://acct.r2.cloudflarestorage.com"]))
        #expect(r2.addressing == .path && r2.region == "auto")
        // Addressing is forced in the config file's s3 section (AWS_S3_ADDRESSING_STYLE does not count).
        var section = S3Section(bucket: "my-bucket", prefix: "pg/main", endpoint: "https://minio.internal:9000")
        section.addressing = "virtual"
        let forced = try S3Configuration(S3RepositorySettings.resolve(
            name: "offsite", section: section, environment: base, environmentWins: false, configFile: nil, timeout: 60))
        #expect(forced.addressing == .virtual)
        let transport = try S3Transport(config: forced)
        #expect(transport.target(for: "pg/main/x").host == "my-bucket.minio.internal:9000")
        #expect(transport.target(for: "pg/main/x").path == "/pg/main/x")
        await transport.shutdown()
        let pathStyle = try S3Transport(config: r2)
        #expect(pathStyle.target(for: "k").host == "acct.r2.cloudflarestorage.com")
        #expect(pathStyle.target(for: "k").path == "/my-bucket/k")
        await pathStyle.shutdown()
    }

    @Test(arguments: ["http://127.0.0.1:9000", "http://127.9.8.7", "http://localhost:4566", "http://[::1]:9000"])
    func plainHTTPIsAcceptedForLoopback(_ endpoint: String) throws {
        _ = try S3Configuration.fromEnvironment(env(["AWS_ENDPOINT_URL": endpoint]))
    }

    @Test(arguments: ["http://10.0.0.5:9000", "http://s3.amazonaws.com", "http://128.0.0.1", "http://localhost.evil.com", "ftp://x"])
    func plainHTTPIsRefusedElsewhere(_ endpoint: String) throws {
        #expect(throws: StorageError.self) { _ = try S3Configuration.fromEnvironment(env(["AWS_ENDPOINT_URL": endpoint])) }
    }

    @Test func errorsNameTheVariableAndNeverTheSecret() throws {
        for (missing, name) in [("AWS_ACCESS_KEY_ID", "AWS_ACCESS_KEY_ID"), ("AWS_SECRET_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY"), ("AWS_BACKUP_BUCKET", "AWS_BACKUP_BUCKET")] {
            do {
                _ = try S3Configuration.fromEnvironment(env([missing: nil]))
                Issue.record("expected an error without \(missing)")
            } catch {
                #expect(error.code == .invalidConfiguration)
                #expect(error.message.contains(name))
                #expect(!error.message.contains("s3cr3t-value"))
            }
        }
        #expect(throws: StorageError.self) { _ = try S3Configuration.fromEnvironment(env(["AWS_REGION": "auto"])) }
        #expect(throws: StorageError.self) { _ = try S3Configuration.fromEnvironment(env(["AWS_BACKUP_BUCKET": "Bad_Bucket"])) }
        #expect(throws: StorageError.self) { _ = try S3Configuration.fromEnvironment(env(["AWS_BACKUP_BUCKET": "b-1/../x"])) }
    }

    @Test func xmlParserReadsS3Answers() throws {
        let xml = """
        <?xml version="1.0" encoding="UTF-8"?>
        <ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><IsTruncated>true</IsTruncated>
        <Contents><Key>a&amp;b</Key><Size>12</Size></Contents><Contents><Key>c</Key><Size>0</Size></Contents>
        <CommonPrefixes><Prefix>d/</Prefix></CommonPrefixes><NextContinuationToken>1/x+y=</NextContinuationToken><Empty/></ListBucketResult>
        """
        let root = try #require(XMLElement.parse(Array(xml.utf8)))
        #expect(root.name == "ListBucketResult")
        #expect(root.all("Contents").compactMap { $0["Key"] } == ["a&b", "c"])
        #expect(root["NextContinuationToken"] == "1/x+y=")
        #expect(root.all("CommonPrefixes").first?["Prefix"] == "d/")
        #expect(XMLElement.parse(Array("<a><b></a>".utf8)) == nil)
        #expect(Digest.base64(Array("hello world".utf8)) == "aGVsbG8gd29ybGQ=")
        #expect(Digest.base64([1, 2]) == "AQI=")
    }
}
