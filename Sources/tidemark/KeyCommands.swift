import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
import Tidemark
import TidemarkCore
import TidemarkRepository
import TidemarkSystem

/// `tidemark key change|add|list|remove` (docs/keys.md). New keys come from a file
/// (`--new-key-file` / `--key-file`, else TIDEMARK_NEW_KEY_FILE) or, on a terminal, from a prompt
/// typed twice with echo off; never from argv.
struct KeyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "key", abstract: "Change the repository key, or add, list and remove key slots (nothing is re-encrypted).",
        subcommands: [KeyChangeCommand.self, KeyAddCommand.self, KeyListCommand.self, KeyRemoveCommand.self])
}

struct KeyChangeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "change", abstract: "Re-wrap the data key of the slot the configured key opens under a new key, in every repository.",
        discussion: "Takes each stanza lock (exit 13 when busy). A re-run after an interrupted one finishes the job. Afterwards configure the new key: the old one is refused (exit 4).")
    @OptionGroup var global: GlobalOptions
    @Option(name: .long, help: "File (mode 0600) holding the new key; else TIDEMARK_NEW_KEY_FILE, else a prompt on a terminal.") var newKeyFile: String?

    func run() async throws {
        try await Tidemark_run("key change") {
            let engine = await Engine(try global.load(), logger: makeLogger()).auditedOpening()
            let (key, source) = try await NewKey.read(file: newKeyFile, flag: "--new-key-file")
            try await engine.key(.change(new: key, source: source)) { print($0) }
        }
    }
}

struct KeyAddCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add", abstract: "Add a key slot: one more key that opens every repository (an offline recovery key).")
    @OptionGroup var global: GlobalOptions
    @Option(name: .long, help: "The slot's name (e.g. recovery).") var name: String
    @Option(name: .long, help: "File (mode 0600) holding the slot's key; else TIDEMARK_NEW_KEY_FILE, else a prompt on a terminal.") var keyFile: String?

    func run() async throws {
        try await Tidemark_run("key add") {
            let engine = await Engine(try global.load(), logger: makeLogger()).auditedOpening()
            let (key, source) = try await NewKey.read(file: keyFile, flag: "--key-file")
            try await engine.key(.add(name: name, new: key, source: source)) { print($0) }
        }
    }
}

struct KeyListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list", abstract: "List each repository's key slots: name, key derivation, creation date, and which one the configured key opens.")
    @OptionGroup var global: GlobalOptions
    @Flag(name: .long, help: "Print JSON (docs/keys.md).") var json = false

    func run() async throws {
        try await Tidemark_run("key list") {
            let listings = try await Engine(global.load(), logger: makeLogger()).keyList()
            if json {
                print(try renderJSON(listings))
                return
            }
            for listing in listings {
                print("repository '\(listing.repository)' at \(listing.location):")
                let width = listing.slots.map(\.name.count).max() ?? 0
                for slot in listing.slots {
                    let name = slot.name + String(repeating: " ", count: width - slot.name.count)
                    print("  \(name)  \(slot.kdf)  created \(slot.created)\(slot.configuredKey ? "  (the configured key opens it)" : "")")
                }
                if !listing.slots.contains(where: \.configuredKey) { print("  the configured key opens none of these slots") }
            }
        }
    }
}

struct KeyRemoveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "remove", abstract: "Remove a key slot in every repository.",
        discussion: "Refuses the last slot and the slot the configured key opens (exit 9): configure another slot's key first.")
    @OptionGroup var global: GlobalOptions
    @Option(name: .long, help: "The slot's name (tidemark key list).") var name: String

    func run() async throws {
        try await Tidemark_run("key remove") {
            try await Engine(global.load(), logger: makeLogger()).auditedOpening().key(.remove(name: name)) { print($0) }
        }
    }
}

/// A new key from a file or a terminal prompt.
enum NewKey {
    static func read(file: String?, flag: String) async throws -> (Secret, String) {
        if let path = file ?? ProcessEnvironment.current()["TIDEMARK_NEW_KEY_FILE"].flatMap({ $0.isEmpty ? nil : $0 }) {
            return (try KeyFile.read(path, source: file == nil ? "TIDEMARK_NEW_KEY_FILE" : flag), "key file \(path)")
        }
        guard isatty(0) == 1 else {
            throw TidemarkError(.configuration, "no new key given",
                                hints: ["\(flag) FILE (mode 0600) or TIDEMARK_NEW_KEY_FILE; on a terminal the key is asked for",
                                        KeyPolicy.generateHint])
        }
        let first = try await prompt("New key: ")
        let second = try await prompt("The same key again: ")
        guard first == second else { throw TidemarkError(.invalidInput, "the two keys typed differ; nothing was changed") }
        guard !first.isEmpty else { throw TidemarkError(.invalidInput, "no key typed; nothing was changed") }
        return (Secret(first), "the key typed at the terminal")
    }

    /// One line from the terminal with echo off (restored afterwards), read on a pool thread.
    static func prompt(_ text: String) async throws -> [UInt8] {
        try await BlockingPool.shared.run("read the new key") {
            // Echo goes off before the prompt shows, so nothing typed after it is ever echoed.
            var saved = termios()
            let haveTerminal = tcgetattr(0, &saved) == 0
            if haveTerminal {
                var quiet = saved
                quiet.c_lflag &= ~tcflag_t(ECHO)
                tcsetattr(0, TCSAFLUSH, &quiet)
            }
            writeStderr(text)
            defer {
                if haveTerminal { tcsetattr(0, TCSANOW, &saved) }
                writeStderr("\n")
            }
            return trimmedSecret(Array((Swift.readLine(strippingNewline: true) ?? "").utf8))
        }
    }
}
