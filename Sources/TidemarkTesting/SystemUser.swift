import Foundation
import TidemarkSystem

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An account of the operating system, as the tests name it: TidemarkSystem's `OSUser` (the one
/// lookup, `getpwnam_r`) with a lookup that throws the tests' error.
public struct SystemUser: Sendable, Hashable, CustomStringConvertible {
    public let name: String
    public let uid: UInt32
    public let gid: UInt32
    public let home: String

    /// Looks a user up by name; throws `userNotFound` if the account does not exist.
    public static func named(_ name: String) throws -> SystemUser {
        guard let user = OSUser.named(name) else {
            throw TestingError(
                .userNotFound, "unable to find system user '\(name)'",
                hints: ["install PostgreSQL 15 (Debian package postgresql-15) so that the user exists"])
        }
        return SystemUser(name: user.name, uid: user.uid, gid: user.gid, home: user.home)
    }

    /// The same account as TidemarkSystem's type.
    public var osUser: OSUser { OSUser(name: name, uid: uid, gid: gid, home: home) }

    /// True when this process runs with effective uid 0 and may switch users.
    public static var isRoot: Bool { geteuid() == 0 }

    /// The user PostgreSQL and `archive_command` run as: `postgres` when the tests run as root
    /// (PostgreSQL refuses to run as root), otherwise `nil`, meaning "the current user".
    public static func serverUser() throws -> SystemUser? {
        isRoot ? try named("postgres") : nil
    }

    public var description: String { "\(name) (uid \(uid))" }
}

extension FileManager {
    /// Creates `path` (not its parents) with `mode`, owned by `owner` when given and running as
    /// root. The mode is set explicitly so the umask does not interfere.
    public func makeDirectory(_ path: String, mode: Int, owner: SystemUser?) throws {
        do {
            try createDirectory(atPath: path, withIntermediateDirectories: false)
        } catch {
            throw TestingError(.fileSystem, "unable to create directory '\(path)': \(error)")
        }
        try setMode(path, mode)
        try setOwner(path, owner)
    }

    /// Writes `data` to a new file at `path` with `mode`, owned by `owner` when given.
    public func writeFile(_ path: String, _ data: Data, mode: Int, owner: SystemUser?) throws {
        guard createFile(atPath: path, contents: data, attributes: [.posixPermissions: mode]) else {
            throw TestingError(.fileSystem, "unable to write file '\(path)'")
        }
        try setMode(path, mode)
        try setOwner(path, owner)
    }

    /// `chmod(2)`.
    public func setMode(_ path: String, _ mode: Int) throws {
        guard chmod(path, mode_t(mode)) == 0 else {
            throw TestingError(.fileSystem, "unable to chmod '\(path)': \(String(cString: strerror(errno)))")
        }
    }

    /// `chown(2)` to `owner`; does nothing when `owner` is nil or we are not root.
    public func setOwner(_ path: String, _ owner: SystemUser?) throws {
        guard let owner, SystemUser.isRoot else { return }
        guard chown(path, owner.uid, owner.gid) == 0 else {
            throw TestingError(.fileSystem, "unable to chown '\(path)': \(String(cString: strerror(errno)))")
        }
    }

    /// Reads a whole file; throws (instead of returning nil) when it cannot.
    public func readFile(_ path: String) throws -> Data {
        guard let data = contents(atPath: path) else {
            throw TestingError(.fileSystem, "unable to read '\(path)'")
        }
        return data
    }
}
