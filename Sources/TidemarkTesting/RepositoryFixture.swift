import Foundation

/// A repository directory and an encryption key file laid out the way an operator would: the
/// directory mode 0700 and the key file mode 0600, both owned by the server user.
///
/// The repository itself is not initialised: tests run `tidemark init` so that the command is
/// exercised too.
public struct RepositoryFixture: Sendable {
    public let directory: String
    public let keyFile: String
    public let owner: SystemUser?

    /// Creates `<parent>/<name>` (empty, 0700) and `<parent>/<name>.key` (0600) holding the
    /// base64 encoding of 32 random bytes.
    public static func create(
        in parent: ScratchDirectory, name: String = "repository", owner: SystemUser?
    ) throws -> RepositoryFixture {
        let directory = parent.child(name)
        let keyFile = parent.child(name + ".key")
        try FileManager.default.makeDirectory(directory, mode: 0o700, owner: owner)
        try writeKey(to: keyFile, owner: owner)
        return RepositoryFixture(directory: directory, keyFile: keyFile, owner: owner)
    }

    /// Writes a new random key (base64 of 32 random bytes, newline-terminated as
    /// `openssl rand -base64 32 > file` writes it) to `path`, mode 0600.
    public static func writeKey(to path: String, owner: SystemUser?) throws {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        try FileManager.default.writeFile(
            path, Data((Data(bytes).base64EncodedString() + "\n").utf8), mode: 0o600, owner: owner)
    }

    /// `BACKUP_DIR` and `BACKUP_ENCRYPTION_KEY_FILE` for this repository.
    public var environment: [String: String] {
        ["BACKUP_DIR": directory, "BACKUP_ENCRYPTION_KEY_FILE": keyFile]
    }
}
