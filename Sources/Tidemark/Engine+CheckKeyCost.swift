import TidemarkCodec
import TidemarkConfiguration
import TidemarkCore
import TidemarkRepository
import TidemarkSystem

extension Engine {
    /// A warning when every `wal-push` pays for the key: the configured key opens its slot with
    /// scrypt (a passphrase, not a generated key) and the resident archiver, which unwraps it
    /// once and holds it, is turned off (`archiver.autostart: false`, `archiver.enabled` not
    /// true). The cost is measured here, once: one unwrap of that slot.
    package func keyCostResult(_ repository: Repository, passphrase: Secret) async -> CheckResult? {
        guard !archiverOn else { return nil }
        guard let slot = repository.config.keySlots.first(where: { $0.name == repository.slot }),
              slot.wrappedKey.kdf == WrappedKey.scryptKDF else { return nil }
        let wrapped = slot.wrappedKey
        let secret = passphrase.bytes
        let started = ContinuousClock.now
        guard (try? await BlockingPool.shared.run("unwrap the key to time it", { try wrapped.unwrap(passphrase: secret) })) != nil else {
            return nil
        }
        let ms = Int(((ContinuousClock.now - started) / .milliseconds(1)).rounded())
        return .warn("key_cost", "encryption key",
                     "the configured key (\(configuration.keySource)) is a passphrase, unwrapped with scrypt (\(wrapped.kdfDescription)): with the archiver turned off (archiver.autostart: false), every wal-push pays that, \(ms) ms per segment measured here",
                     fix: "\(KeyPolicy.generateHint), then: tidemark key change --new-key-file /etc/tidemark/key (docs/keys.md); or leave the archiver on (archiver.autostart: true, the default, or archiver.enabled: true under tidemark serve), which unwraps the key once")
    }

    /// The resident archiver runs for this configuration (docs/archiver.md): autostarted by
    /// `wal-push` (the default) or started by `tidemark serve`.
    var archiverOn: Bool {
        configuration.service.archiver?.autostart ?? true || configuration.service.archiver?.enabled == true
    }
}
