import Tidemark
import TidemarkServer

/// What /api/status and the dashboard both take from the service's newest status snapshot and
/// its state file: one reading, so the page and the JSON never disagree.
struct ServiceFacts: Sendable {
    var snapshot: StatusSnapshot?
    var rpoSeconds: Double?
    var archiveLagSegments: Int?
    var readySegments: Int?
    var lastVerify: String?
    var lastRehearsal: String?
    var lastRehearsalRTOSeconds: Double?

    init(snapshot: StatusSnapshot?, state: ServiceState?) {
        self.snapshot = snapshot
        rpoSeconds = snapshot?.rpoSeconds
        archiveLagSegments = snapshot?.archive.segmentsBehind
        readySegments = snapshot?.archive.readySegments
        lastVerify = state?.lastVerifySuccess.map(APIJobs.time)
        lastRehearsal = state?.lastRehearsalSuccess.map(APIJobs.time)
        lastRehearsalRTOSeconds = state?.lastRehearsalRTOSeconds
    }
}
