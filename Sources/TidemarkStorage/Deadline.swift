import Dispatch
import Synchronization

/// Runs blocking work (a file-system call that may hang on a dead NFS mount, say) on a
/// dispatch queue and gives up waiting after `seconds`.
///
/// A call stuck in the kernel cannot be cancelled; on timeout the caller gets
/// `StorageError.timeout` and the stuck thread is abandoned. Commands exit soon after, so
/// the process does not accumulate them.
public func withDeadline<T: Sendable>(seconds: Double, key: String, _ work: @escaping @Sendable () throws -> T) async throws -> T {
    let once = Once()
    return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
        blockingQueue.async {
            let result = Result { try work() }
            if once.claim() { continuation.resume(with: result) }
        }
        blockingQueue.asyncAfter(deadline: .now() + seconds) {
            if once.claim() {
                continuation.resume(throwing: StorageError(.timeout, key: key,
                    message: "unable to complete I/O on '\(key)': no answer within \(formatSeconds(seconds))"))
            }
        }
    }
}

let blockingQueue = DispatchQueue(label: "tidemark.blocking-io", attributes: .concurrent)

final class Once: Sendable {
    private let done = Atomic<Bool>(false)
    func claim() -> Bool { !done.exchange(true, ordering: .acquiringAndReleasing) }
}

func formatSeconds(_ s: Double) -> String {
    s == s.rounded() ? "\(Int(s)) s" : "\(s) s"
}
