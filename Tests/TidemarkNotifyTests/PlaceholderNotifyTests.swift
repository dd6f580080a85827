import Testing
@testable import TidemarkNotify

@Suite struct PlaceholderNotifyTests {
    @Test func moduleLinks() { _ = TidemarkNotify.self }
}
