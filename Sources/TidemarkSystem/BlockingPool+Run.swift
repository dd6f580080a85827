extension BlockingPool {
    /// Runs CPU-bound `work` (key derivation, say) on a pool thread and waits for it without
    /// holding a thread of Swift's cooperative pool, so other tasks keep running meanwhile. No
    /// deadline: the work cannot hang in the kernel. Throws `StorageError.io` when no thread
    /// can be started.
    public func run<T: Sendable>(_ what: String, _ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            let started = submit { continuation.resume(with: Result { try work() }) }
            if !started {
                continuation.resume(throwing: StorageError(.io, key: what, message: "unable to start a thread to \(what)"))
            }
        }
    }
}
