import Foundation
import Testing
import TidemarkStorage
import TidemarkS3
import TidemarkTesting

/// Pins what the one S3 settings resolution gives: its defaults and the AWS_* variables that
/// count. These are `tidemark`'s (docs/configuration.md); the S3 module's own entry points
/// (`S3Configuration.fromEnvironment`, the initialiser's defaults) must give the same, so the
/// engine and the module can never disagree again.
@Suite("S3 settings: one resolution, pinned", .tags(.small))
struct S3SettingsPinTests {
    let keys = ["AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "s3cr3t-value", "AWS_BACKUP_BUCKET": "my-bucket/pg/main"]

    func env(_ changes: [String: String?]) -> [String: String] {
        var e = keys
        for (k, v) in changes { e[k] = v }
        return e
    }

    @Test func theDefaults() throws {
        let c = try S3Configuration.fromEnvironment(keys)
        #expect(c.partSize == 8 << 20 && S3Configuration.defaultPartSize == 8 << 20)
        #expect(c.concurrency == 4)
        #expect(c.region == "us-east-1")
        #expect(c.endpoint == "https://s3.us-east-1.amazonaws.com")
        #expect(c.addressing == .virtual)
        #expect(c.caBundlePath == nil)
        #expect(c.operationDeadline == 60 && c.readTimeout == 30, "the engine's default I/O timeout, reads capped at 30 s")
        #expect(c.credentials.sessionToken == nil)
        // The initialiser's defaults are the same ones.
        let direct = try S3Configuration(bucket: "my-bucket", credentials: S3Credentials(accessKeyID: "AKID", secretAccessKey: S3Secret("x")))
        #expect(direct.endpoint == c.endpoint && direct.region == c.region && direct.addressing == c.addressing)
        #expect(direct.partSize == c.partSize && direct.concurrency == c.concurrency)
        #expect(direct.operationDeadline == c.operationDeadline && direct.readTimeout == c.readTimeout)
    }

    @Test func theSecretMayComeFromAWS_SECRET_ACCESS_KEY_FILE() throws {
        let dir = try ScratchDirectory(prefix: "s3-secret", mode: 0o700)
        let file = dir.child("secret")
        try FileManager.default.writeFile(file, Data("from-the-file\n".utf8), mode: 0o600, owner: nil)
        let c = try S3Configuration.fromEnvironment(env(["AWS_SECRET_ACCESS_KEY": nil, "AWS_SECRET_ACCESS_KEY_FILE": file]))
        #expect(c.credentials.secretAccessKey == S3Secret("from-the-file"), "read from the file, without its newline")
        let both = try S3Configuration.fromEnvironment(env(["AWS_SECRET_ACCESS_KEY_FILE": file]))
        #expect(both.credentials.secretAccessKey == S3Secret("s3cr3t-value"), "AWS_SECRET_ACCESS_KEY wins over the file")

        let open = dir.child("open")
        try FileManager.default.writeFile(open, Data("world-readable-secret".utf8), mode: 0o644, owner: nil)
        do {
            _ = try S3Configuration.fromEnvironment(env(["AWS_SECRET_ACCESS_KEY": nil, "AWS_SECRET_ACCESS_KEY_FILE": open]))
            Issue.record("a secret file every user can read must be refused")
        } catch {
            #expect(error.code == .invalidConfiguration)
            #expect(error.message.contains("AWS_SECRET_ACCESS_KEY_FILE") && error.message.contains("chmod 600"), "\(error.message)")
            #expect(!error.message.contains("world-readable-secret"))
        }
    }

    @Test func sessionTokenRegionAndEndpointCount() throws {
        let c = try S3Configuration.fromEnvironment(env(["AWS_SESSION_TOKEN": "tok", "AWS_REGION": "eu-west-3"]))
        #expect(c.credentials.sessionToken == S3Secret("tok"))
        #expect(c.region == "eu-west-3" && c.endpoint == "https://s3.eu-west-3.amazonaws.com" && c.addressing == .virtual)
        let custom = try S3Configuration.fromEnvironment(env(["AWS_ENDPOINT_URL": "https://minio.internal:9000/"]))
        #expect(custom.endpoint == "https://minio.internal:9000" && custom.addressing == .path && custom.region == "us-east-1")
    }

    /// Variables other AWS tools read that Tidemark does not: setting them changes nothing.
    @Test(arguments: [("AWS_DEFAULT_REGION", "eu-west-1"), ("AWS_CA_BUNDLE", "/etc/ssl/private-ca.pem"),
                      ("AWS_S3_ADDRESSING_STYLE", "path")])
    func variablesThatDoNotCount(_ name: String, _ value: String) throws {
        let plain = try S3Configuration.fromEnvironment(keys)
        let c = try S3Configuration.fromEnvironment(env([name: value]))
        #expect(c.region == plain.region && c.endpoint == plain.endpoint && c.addressing == plain.addressing)
        #expect(c.caBundlePath == plain.caBundlePath)
    }

    /// The resolution itself, as the engine calls it: the same defaults, the secret's source
    /// and file kept for the restored server's configuration.
    @Test func theResolutionKeepsWhereTheSecretCameFrom() throws {
        #expect(S3RepositorySettings.defaultPartSizeMiB == 8 && S3RepositorySettings.defaultRegion == "us-east-1")
        #expect(S3RepositorySettings.defaultConcurrency == 4 && S3RepositorySettings.defaultTimeoutSeconds == 60)
        let dir = try ScratchDirectory(prefix: "s3-secret", mode: 0o700)
        let file = dir.child("secret")
        try FileManager.default.writeFile(file, Data("from-the-file".utf8), mode: 0o600, owner: nil)
        let settings = try S3RepositorySettings.fromEnvironment(env(["AWS_SECRET_ACCESS_KEY": nil, "AWS_SECRET_ACCESS_KEY_FILE": file]))
        #expect(settings.partSizeMiB == 8 && settings.timeoutSeconds == 60)
        #expect(settings.credentials.secretFile == file && settings.credentials.source == "file \(file)")
        #expect(!"\(settings.credentials)".contains("from-the-file"))
        let fromVariable = try S3RepositorySettings.fromEnvironment(keys)
        #expect(fromVariable.credentials.secretFile == nil && fromVariable.credentials.source == "AWS_SECRET_ACCESS_KEY")
        let c = try S3Configuration(settings)
        #expect(c.secretSource == "file \(file)" && c.partSize == S3Configuration.defaultPartSize)
    }
}
