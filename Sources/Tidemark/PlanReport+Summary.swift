#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import TidemarkCore
import TidemarkSystem
import TidemarkRepository
import TidemarkArchive
import TidemarkBackup
import TidemarkCodec
import TidemarkStorage

extension PlanReport {
    /// One line for the recovery configuration's comment and for logs.
    public var summaryLine: String {
        "plan: backup \(plan.backup.id), timeline \(plan.targetTimeline), stop \(plan.stop.words)"
    }
}
