import Testing
@testable import TidemarkServer

@Suite struct PlaceholderServerTests {
    @Test func moduleLinks() { _ = TidemarkServer.self }
}
