import Synchronization
import TidemarkRepository
import TidemarkStorage

/// The stores and opened repositories of one `Engine`, by repository name: a store (for S3,
/// an HTTP client with its connections) is made once, and a repository's key is unwrapped
/// (scrypt) once, however many commands the engine runs.
package final class RepositorySet: Sendable {
    private struct State {
        var stores: [String: any ObjectStore] = [:]
        var opened: [String: Repository] = [:]
        /// The repository config object as it was when the repository was opened (kept by
        /// long-lived engines that check it has not been replaced since).
        var configBytes: [String: [UInt8]] = [:]
    }
    private let state = Mutex(State())

    package init() {}

    package func store(named name: String, make: () throws -> any ObjectStore) throws -> any ObjectStore {
        if let store = state.withLock({ $0.stores[name] }) { return store }
        let store = try make()
        return state.withLock { s in
            if let existing = s.stores[name] { return existing }
            s.stores[name] = store
            return store
        }
    }

    package func opened(named name: String) -> Repository? {
        state.withLock { $0.opened[name] }
    }

    package func remember(_ repository: Repository, named name: String) {
        state.withLock { $0.opened[name] = repository }
    }

    /// Forgets an opened repository (its config changed): the next use opens it again.
    package func forget(named name: String) {
        state.withLock {
            $0.opened[name] = nil
            $0.configBytes[name] = nil
        }
    }

    package func configBytes(named name: String) -> [UInt8]? { state.withLock { $0.configBytes[name] } }

    package func rememberConfigBytes(_ bytes: [UInt8], named name: String) { state.withLock { $0.configBytes[name] = bytes } }
}
