import Foundation
import Testing
@testable import Tidemark
import TidemarkCore
import TidemarkPolicy
import TidemarkTesting

@Suite("Retention configuration")
struct RetentionConfigurationTests {
    func load(_ env: [String: String], file text: String? = nil) throws -> Configuration {
        var env = env
        env["BACKUP_ENCRYPTION_KEY"] = "k"
        guard let text else {
            env["BACKUP_DIR"] = env["BACKUP_DIR"] ?? "/r"
            return try ConfigurationLoader.load(configPath: nil, stanza: nil, environment: env)
        }
        let dir = try Scratch()
        let path = try dir.write("tidemark.json", Array(text.utf8))
        return try ConfigurationLoader.load(configPath: path, stanza: nil, environment: env)
    }

    @Test func theGuidesPolicyIsTheDefault() throws {
        let c = try load([:])
        #expect(c.retention["local"] == RetentionPolicy(daily: 7, weekly: 4, monthly: 12, yearly: 0, pitrDays: 7, minFullChains: 1))
    }

    @Test func theEnvironmentSetsThePolicyWithoutAFile() throws {
        let c = try load(["BACKUP_RETENTION_DAILY": "3", "BACKUP_RETENTION_WEEKLY": "2", "BACKUP_RETENTION_MONTHLY": "6",
                          "BACKUP_RETENTION_PITR_DAYS": "14"])
        #expect(c.retention["local"] == RetentionPolicy(daily: 3, weekly: 2, monthly: 6, yearly: 0, pitrDays: 14, minFullChains: 1))
    }

    /// The 3-2-1 sample: a local repository keeping a week, an offsite one keeping a year.
    @Test func theThreeTwoOneSampleGivesEachRepositoryItsPolicy() throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../pg-conf/tidemark.3-2-1.sample.json").path
        let dir = try Scratch()
        let secret = try dir.write("s3-secret", Array("secret\n".utf8))
        chmod(secret, 0o600)
        let text = try String(contentsOfFile: path, encoding: .utf8).replacingOccurrences(of: "/etc/tidemark/s3-secret", with: secret)
        let c = try load(["BACKUP_RETENTION_PITR_DAYS": "3"], file: text)
        // The repository's own fields win over the environment, which wins over the file's top level.
        #expect(c.retention["local"] == RetentionPolicy(daily: 7, weekly: 0, monthly: 0, yearly: 0, pitrDays: 7, minFullChains: 1, timeZone: "Europe/Berlin"))
        #expect(c.retention["offsite"] == RetentionPolicy(daily: 7, weekly: 4, monthly: 12, yearly: 0, pitrDays: 14, minFullChains: 1, timeZone: "Europe/Berlin"))
    }

    @Test func badPoliciesAreConfigurationErrorsThatNameTheField() async throws {
        let cases: [([String: String], String?, String)] = [
            (["BACKUP_RETENTION_DAILY": "seven"], nil, "BACKUP_RETENTION_DAILY 'seven'"),
            (["BACKUP_RETENTION_WEEKLY": "-1"], nil, "retention.weekly is -1"),
            (["BACKUP_RETENTION_MIN_FULL_CHAINS": "0"], nil, "retention.minFullChains is 0"),
            (["BACKUP_RETENTION_TIME_ZONE": "Mars/Olympus"], nil, "retention.timeZone 'Mars/Olympus'"),
            ([:], #"{"repositories": [{"name": "a", "type": "posix", "path": "/a", "retention": {"monthly": 20000}}]}"#,
             "repository 'a': retention.monthly is 20000"),
        ]
        for (env, file, words) in cases {
            let e = await expectError(.configuration) { _ = try load(env, file: file) }
            #expect(e?.message.contains(words) == true, "\(env) \(file ?? ""): \(String(describing: e))")
        }
    }

    @Test func anUnknownRetentionFieldIsNamed() async throws {
        let e = await expectError(.configuration) { _ = try load([:], file: #"{"repositories": [{"name": "a", "type": "posix", "path": "/a"}], "retention": {"dialy": 7}}"#) }
        #expect(e?.message.contains("retention.dialy") == true, "\(String(describing: e))")
    }
}
