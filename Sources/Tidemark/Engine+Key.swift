import TidemarkCore
import TidemarkRepository
import TidemarkSystem

extension Engine {
    /// `tidemark key change|add|remove` in every configured repository, each under its stanza
    /// lock (`Repository.changeKey` etc.). `report` gets one line per repository as it is done;
    /// a repository that fails does not stop the others, and the first failure is thrown at the
    /// end (a re-run finishes the job). `add`/`change` refuse a weak new key (exit 3).
    public func key(_ operation: KeyOperation, report: @Sendable (String) -> Void) async throws {
        let current = try configuration.requireKey()
        if case .change(let new, let source) = operation {
            try KeyPolicy.checkNewKey(new, source: source, current: current, currentSource: configuration.keySource)
        } else if case .add(_, let new, let source) = operation {
            try KeyPolicy.checkNewKey(new, source: source, current: current, currentSource: configuration.keySource)
        }
        try await requireStanza(command: "the key command", mayStartFirst: true)
        var failure: (any Error)?
        var removed = false
        for spec in configuration.repositories {
            do {
                let store = try store(for: spec)
                let lock = RepositoryLock(store: store, stanza: configuration.stanza, duration: configuration.lockLeaseSeconds, clock: now, identity: .current())
                let line: String?
                switch operation {
                case .change(let new, _):
                    line = try await Repository.changeKey(to: new, current: current, store: store, lock: lock, now: now())
                case .add(let name, let new, _):
                    line = try await Repository.addKeySlot(named: name, secret: new, current: current, store: store, lock: lock, now: now())
                case .remove(let name):
                    line = try await Repository.removeKeySlot(named: name, current: current, store: store, lock: lock)
                    removed = removed || line != nil
                }
                report("repository '\(spec.name)': " + (line ?? "has no key slot of that name"))
            } catch {
                failure = failure ?? TidemarkError.wrap(error, doing: "change the keys of repository '\(spec.name)'")
            }
        }
        if let failure { throw failure }
        if case .remove(let name) = operation, !removed {
            throw TidemarkError(.notFound, "no repository has a key slot named '\(name)'", hints: ["`tidemark key list` shows the slots"])
        }
    }

    /// `tidemark key list`: every repository's slots, and which one the configured key opens.
    public func keyList() async throws -> [KeyListing] {
        var listings: [KeyListing] = []
        for spec in configuration.repositories {
            let slots = try await Repository.keySlotSummaries(store: store(for: spec), secret: configuration.encryptionKey)
            listings.append(KeyListing(repository: spec.name, location: spec.location, slots: slots))
        }
        return listings
    }
}
