import Foundation
import Testing
import TidemarkCore
import TidemarkStorage
@testable import TidemarkS3
import TidemarkSystem

@Suite("S3 Object Lock settings", .tags(.small))
struct S3ObjectLockConfigTests {
    let env = ["AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "s3cr3t-value"]

    func resolve(_ lock: S3Section.ObjectLockSection?) throws -> S3RepositorySettings {
        var section = S3Section(bucket: "my-bucket", prefix: "pg")
        section.objectLock = lock
        return try S3RepositorySettings.resolve(name: "offsite", section: section, environment: env, environmentWins: false,
                                                configFile: nil, timeout: 60)
    }

    @Test(arguments: [("GOVERNANCE", S3ObjectLock.Mode.governance), ("COMPLIANCE", .compliance),
                      ("governance", .governance), ("compliance", .compliance)])
    func aValidLockResolvesAndReachesTheStore(_ text: String, _ mode: S3ObjectLock.Mode) throws {
        let settings = try resolve(.init(mode: text, days: 45))
        #expect(settings.objectLock == S3ObjectLock(mode: mode, days: 45))
        let configuration = try S3Configuration(settings)
        #expect(configuration.objectLock == S3ObjectLock(mode: mode, days: 45))
        #expect(try resolve(nil).objectLock == nil, "no objectLock: none")
        #expect(try S3Configuration(resolve(nil)).objectLock == nil)
    }

    @Test(arguments: [
        (S3Section.ObjectLockSection(mode: "Governance", days: 1), "s3.objectLock.mode 'Governance'"),
        (.init(mode: "LEGAL", days: 1), "s3.objectLock.mode 'LEGAL'"),
        (.init(mode: "", days: 1), "s3.objectLock.mode ''"),
        (.init(mode: nil, days: 1), "s3.objectLock has no mode"),
        (.init(mode: "COMPLIANCE", days: nil), "s3.objectLock has no days"),
        (.init(mode: "COMPLIANCE", days: 0), "s3.objectLock.days 0"),
        (.init(mode: "COMPLIANCE", days: -3), "s3.objectLock.days -3"),
        (.init(mode: "COMPLIANCE", days: 36_501), "s3.objectLock.days 36501"),
    ])
    func aBadLockIsAConfigurationError(_ lock: S3Section.ObjectLockSection, _ named: String) throws {
        do {
            _ = try resolve(lock)
            Issue.record("\(lock) must be refused")
        } catch let error as TidemarkError {
            #expect(error.code == .configuration, "exit 3")
            #expect(error.message.contains("repository 'offsite'") && error.message.contains(named), "\(error.message)")
            #expect(!error.hints.isEmpty, "a hint says what to write")
            #expect(!error.description.contains("s3cr3t-value"))
        }
    }

    @Test func theLimitsAreAccepted() throws {
        #expect(try resolve(.init(mode: "COMPLIANCE", days: 1)).objectLock?.days == 1)
        #expect(try resolve(.init(mode: "COMPLIANCE", days: 36_500)).objectLock?.days == 36_500)
    }

    @Test func theSectionDecodesFromJSON() throws {
        let json = #"{"bucket": "b-1", "objectLock": {"mode": "COMPLIANCE", "days": 30}}"#
        let section = try JSONDecoder().decode(S3Section.self, from: Data(json.utf8))
        #expect(section.objectLock == S3Section.ObjectLockSection(mode: "COMPLIANCE", days: 30))
        #expect(S3Section.CodingKeys.allCases.map(\.stringValue).contains("objectLock"))
        #expect(S3Section.ObjectLockSection.CodingKeys.allCases.map(\.stringValue) == ["mode", "days"])
    }

    @Test func theStoreRefusesAnOutOfRangeLockBuiltDirectly() {
        #expect(throws: StorageError.self) {
            _ = try S3Configuration(bucket: "b-1", credentials: S3Credentials(accessKeyID: "a", secretAccessKey: S3Secret("b")),
                                    objectLock: S3ObjectLock(mode: .compliance, days: 0))
        }
    }

    @Test func theHeadersAreTheModeAndTheDateInUTC() {
        // 2026-12-08T03:00:00Z + 1 day.
        let headers = S3ObjectLock(mode: .governance, days: 1).headers(now: 1_796_698_800)
        #expect(headers.map(\.0) == ["x-amz-object-lock-mode", "x-amz-object-lock-retain-until-date"])
        #expect(headers.map(\.1) == ["GOVERNANCE", "2026-12-09T03:00:00Z"])
        #expect(S3ObjectLock(mode: .compliance, days: 36_500).retainUntil(writtenAt: 0) == 36_500 * 86_400)
    }

    @Test func retainUntilDatesParse() {
        #expect(S3Date.parseISO8601("2026-12-09T03:00:00Z") == 1_796_785_200)
        #expect(S3Date.parseISO8601("2026-12-09T03:00:00.000Z") == 1_796_785_200)
        #expect(S3Date.parseISO8601("2026-12-09T03:00:00.250Z") == 1_796_785_201, "a fraction rounds up, never earlier")
        #expect(S3Date.parseISO8601("2026-12-09T04:30:00+01:30") == 1_796_785_200)
        #expect(S3Date.parseISO8601("2026-12-09T01:00:00-02:00") == 1_796_785_200)
        #expect(S3Date.parseISO8601("1970-01-01T00:00:00Z") == 0)
        #expect(S3Date.parseISO8601("2024-02-29T23:59:59Z") == 1_709_251_199)
        for bad in ["", "2026-12-09", "2026-12-09T03:00:00", "2026-12-09 03:00:00Z", "2026-13-09T03:00:00Z",
                    "2026-12-09T03:00:00Zjunk", "2026-12-09T03:00:00.Z", "Wed, 09 Dec 2026 03:00:00 GMT"] {
            #expect(S3Date.parseISO8601(bad) == nil, "\(bad)")
        }
        for t: Int64 in [0, 951_782_400, 1_796_785_200, 4_102_444_799, 1_234_567_890] {
            #expect(S3Date.parseISO8601(S3Date.iso8601(unixSeconds: t)) == t)
        }
    }
}
