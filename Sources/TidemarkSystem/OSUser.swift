#if canImport(Glibc)
import Glibc
#endif
import TidemarkCore

/// An operating-system account, looked up with `getpwnam_r` / `getpwuid_r`.
public struct OSUser: Sendable, Hashable, CustomStringConvertible {
    public var name: String
    public var uid: UInt32
    public var gid: UInt32
    public var home: String

    public static func named(_ name: String) -> OSUser? {
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 16 * 1024)
        guard getpwnam_r(name, &entry, &buffer, buffer.count, &result) == 0, result != nil else { return nil }
        return OSUser(entry)
    }

    public static func withID(_ uid: UInt32) -> OSUser? {
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 16 * 1024)
        guard getpwuid_r(uid, &entry, &buffer, buffer.count, &result) == 0, result != nil else { return nil }
        return OSUser(entry)
    }

    /// The user this process runs as.
    public static var current: OSUser {
        withID(geteuid()) ?? OSUser(name: String(geteuid()), uid: geteuid(), gid: getegid(), home: "/")
    }

    package init(name: String, uid: UInt32, gid: UInt32, home: String) {
        self.name = name
        self.uid = uid
        self.gid = gid
        self.home = home
    }

    package init(_ p: passwd) {
        name = p.pw_name.map { String(cString: $0) } ?? ""
        uid = p.pw_uid
        gid = p.pw_gid
        home = p.pw_dir.map { String(cString: $0) } ?? "/"
    }

    public var description: String { name }
}
