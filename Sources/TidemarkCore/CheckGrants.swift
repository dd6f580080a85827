#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The privileges `check` needs beyond LOGIN REPLICATION (docs/configuration.md, "The
/// database role"), and the HINT that names the missing one.
package enum CheckGrants {
    /// SQLSTATE of "permission denied".
    package static let insufficientPrivilege = "42501"

    /// The `user=` of a `host=… port=… user=… dbname=…` target.
    package static func role(inTarget target: String) -> String? {
        target.split(separator: " ").first { $0.hasPrefix("user=") }.map { String($0.dropFirst(5)) }.flatMap { $0.isEmpty ? nil : $0 }
    }

    /// `GRANT EXECUTE ON FUNCTION pg_switch_wal() TO "role";` for a permission error on that
    /// function, else the general advice.
    package static func hint(for message: String, role: String?) -> String {
        let grantee = role.map(quotedIdentifier) ?? "<role>"
        if message.contains("pg_switch_wal") {
            return "as a superuser: GRANT EXECUTE ON FUNCTION pg_switch_wal() TO \(grantee); (check forces a WAL switch to see it archived; docs/configuration.md lists the grants)"
        }
        return "the role lacks a privilege check needs; docs/configuration.md lists the grants for \(grantee)"
    }

    /// A role name as an SQL identifier: bare when it is a plain lower-case name, else quoted.
    package static func quotedIdentifier(_ name: String) -> String {
        let plain = name.first.map { $0 == "_" || ("a"..."z").contains($0) } == true
            && name.allSatisfy { $0 == "_" || ("a"..."z").contains($0) || ("0"..."9").contains($0) }
        return plain ? name : "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
