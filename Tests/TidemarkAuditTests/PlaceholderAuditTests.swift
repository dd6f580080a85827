import Testing
@testable import TidemarkAudit

@Suite struct PlaceholderAuditTests {
    @Test func moduleLinks() { _ = TidemarkAudit.self }
}
