#if canImport(Glibc)
import Glibc
#endif
import Foundation
import TidemarkSystem
import TidemarkRepository
import TidemarkArchive
import TidemarkBackup
import TidemarkCore

/// `restore --force` on a terminal: lists what would be deleted and proceeds only on `yes`
/// (without a terminal, `--force` alone proceeds, as scripts expect).
enum ForceConfirmation {
    static func ask(_ paths: [String]) async -> Bool {
        var text = "tidemark restore --force will DELETE \(paths.count) entr\(paths.count == 1 ? "y" : "ies"):\n"
        for p in paths.prefix(20) { text += "  \(p)\n" }
        if paths.count > 20 { text += "  … and \(paths.count - 20) more\n" }
        text += "Type yes to delete them and restore, anything else to cancel: "
        writeStderr(text)
        let answer = await readLine()
        return answer?.trimmingCharacters(in: .whitespaces) == "yes"
    }

    /// One line from stdin, read on a pool thread (never on the cooperative pool); nil, and so
    /// no deletion, when not even a thread could be started.
    static func readLine() async -> String? {
        (try? await BlockingPool.shared.run("read the answer") { Swift.readLine(strippingNewline: true) }) ?? nil
    }
}
