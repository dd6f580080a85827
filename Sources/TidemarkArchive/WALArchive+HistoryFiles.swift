import TidemarkCore
import TidemarkSystem
import TidemarkCodec
import TidemarkStorage
import TidemarkRepository

extension WALArchive {
    /// A `.history` or `.backup` file is archived for good and a wrong one can never be
    /// replaced (a name is never overwritten), so it is parsed before it is stored: a junk
    /// history would make every later recovery along that timeline fail.
    package static func validateHistoryText(file: LocalFile, name: WALFileName) throws {
        let problem: String
        switch name {
        case .history(let timeline):
            guard timeline.rawValue > 1 else {
                throw TidemarkError(.invalidInput, "'\(file.path)' is not a timeline history file: timeline 1 never has one",
                                    hints: ["PostgreSQL does not archive 00000001.history; nothing was archived"])
            }
            do {
                _ = try TimelineHistory(timeline: timeline, parsing: file.bytes)
                return
            } catch {
                problem = "\(error)"
            }
        case .backupHistory(let segment, let offset):
            do {
                _ = try BackupHistoryFile(segment: segment, offset: offset, parsing: file.bytes)
                return
            } catch {
                problem = "\(error)"
            }
        case .segment, .partial:
            return
        }
        let kind = name.segment == nil ? "timeline history" : "backup history"
        throw TidemarkError(.invalidInput, "'\(file.path)' is not a valid \(kind) file: \(problem)",
                            hints: ["nothing was archived: a damaged \(kind) file archived once could never be replaced",
                                    "PostgreSQL writes this file itself; if it was edited or copied in by hand, restore the original from pg_wal or from the server that wrote it"])
    }
}
