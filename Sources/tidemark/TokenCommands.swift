import ArgumentParser
import Tidemark
import TidemarkAPI
import TidemarkCore
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// `tidemark token create|list|revoke` (docs/api.md): the admin API's bearer tokens, kept as
/// SHA-256 hashes in every configured repository.
struct TokenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token", abstract: "Create, list and revoke the admin API's bearer tokens.",
        subcommands: [TokenCreateCommand.self, TokenListCommand.self, TokenRevokeCommand.self])
}

extension APIToken.Scope: ExpressibleByArgument {}

struct TokenCreateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create", abstract: "Create a token and print it once (the token alone on stdout); only its hash is kept.",
        discussion: "read: the GET routes; operate: every route. A name already used is refused (exit 9).")
    @OptionGroup var global: GlobalOptions
    @Option(name: .long, help: "The token's name (1-64 letters, digits, '.', '_', '-'); the audit log records it.") var name: String
    @Option(name: .long, help: "read or operate.") var scope: APIToken.Scope

    func run() async throws {
        try await Tidemark_run("token create") {
            let engine = Engine(try global.load(), logger: makeLogger()).audited()
            let text = try await TokenRegistry(engine: engine).create(name: name, scope: scope)
            print(text)
            writeStderr("tidemark token create: token '\(name)' (scope \(scope.rawValue)) recorded in every repository; it is shown only now\n")
            writeStderr("tidemark token create: send it as: Authorization: Bearer <token>\n")
        }
    }
}

struct TokenListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List the tokens: name, scope, created (never the token).")
    @OptionGroup var global: GlobalOptions
    @Flag(name: .long, help: "Print JSON: {\"tokens\": [{name, scope, created}]}.") var json = false

    struct Listed: Encodable { var name: String; var scope: String; var created: String }
    struct Listing: Encodable { var tokens: [Listed] }

    func run() async throws {
        try await Tidemark_run("token list") {
            let tokens = try await TokenRegistry(engine: Engine(try global.load(), logger: makeLogger())).list()
            if json {
                print(try jsonText(Listing(tokens: tokens.map { Listed(name: $0.name, scope: $0.scope.rawValue, created: $0.created) })))
            } else if tokens.isEmpty {
                print("no tokens (tidemark token create --name NAME --scope read|operate)")
            } else {
                let width = max(4, tokens.map(\.name.count).max() ?? 4)
                print("NAME".padding(toLength: width, withPad: " ", startingAt: 0) + "  SCOPE    CREATED")
                for t in tokens {
                    print(t.name.padding(toLength: width, withPad: " ", startingAt: 0) + "  "
                          + t.scope.rawValue.padding(toLength: 7, withPad: " ", startingAt: 0) + "  " + t.created)
                }
            }
        }
    }
}

struct TokenRevokeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "revoke", abstract: "Revoke a token in every repository (a running service refuses it within 10 s).")
    @OptionGroup var global: GlobalOptions
    @Option(name: .long, help: "The token's name (tidemark token list).") var name: String

    func run() async throws {
        try await Tidemark_run("token revoke") {
            let engine = Engine(try global.load(), logger: makeLogger()).audited()
            try await TokenRegistry(engine: engine).revoke(name: name)
            print("revoked token '\(name)'")
        }
    }
}

extension TokenCreateCommand: AuditedCommand {
    var auditAction: String { "token-create" }
    var auditTarget: [String: String] { ["token": name] }
    var auditDetail: [String: String] { ["scope": scope.rawValue] }
}

extension TokenRevokeCommand: AuditedCommand {
    var auditAction: String { "token-revoke" }
    var auditTarget: [String: String] { ["token": name] }
}
