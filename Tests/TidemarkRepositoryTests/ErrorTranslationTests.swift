import Testing
import TidemarkCodec
import TidemarkCore
import TidemarkStorage
import TidemarkSystem
@testable import TidemarkRepository
import TidemarkTesting

/// `TidemarkError.wrap` classifies codec errors by their code, words each for what it is, and
/// keeps the original as `cause`.
@Suite("Codec errors translated by code")
struct ErrorTranslationTests {
    @Test func aNewerFormatIsARepositoryProblemToUpgradeFor() throws {
        let error = TidemarkError.wrap(EnvelopeError.unsupportedVersion(2), doing: "fetch 'x'")
        #expect(error.code == .repository)
        #expect(error.message == "unable to fetch 'x': the object has format version 2, newer than this Tidemark reads (\(EnvelopeHeader.currentVersion))")
        #expect(error.hints == ["upgrade tidemark: a newer Tidemark wrote this object; nothing is damaged"])
        #expect(!error.description.contains("corrupt"))
        let cause = try #require(error.cause as? EnvelopeError)
        #expect(cause.code == .unsupportedVersion && cause.version == 2)
    }

    @Test func aKeyMismatchIsAnObjectFromADifferentRepository() throws {
        let error = TidemarkError.wrap(EnvelopeError.keyMismatch(expected: "aaaa", found: "bbbb"), doing: "fetch 'x'")
        #expect(error.code == .corrupt)
        #expect(error.message == "unable to fetch 'x': the object belongs to a different repository (it is encrypted with key bbbb; this repository's key is aaaa)")
        #expect(error.hints.count == 1 && error.hints[0].contains("copied in from another repository"))
        #expect((error.cause as? EnvelopeError)?.code == .keyMismatch)
    }

    @Test func aWrongPassphraseIsAWrongKey() {
        let error = TidemarkError.wrap(KeyError.wrongPassphrase(), doing: "unwrap the key")
        #expect(error.code == .wrongKey)
        #expect(error.message == "unable to unwrap the key: the encryption key does not open this repository (wrong key)")
        #expect(error.hints.contains { $0.contains("BACKUP_ENCRYPTION_KEY") })
        #expect((error.cause as? KeyError)?.code == .wrongPassphrase)
    }

    @Test(arguments: [EnvelopeError.notAnEnvelope, .truncated, .unsupportedAlgorithm("cipher id 2"),
                      .authenticationFailed("chunk 1"), .corrupt("trailer length")])
    func damageIsCorrupt(_ envelopeError: EnvelopeError) {
        #expect(envelopeError.isDamage)
        let error = TidemarkError.wrap(envelopeError, doing: "read 'x'")
        #expect(error.code == .corrupt)
        #expect(error.message == "unable to read 'x': \(envelopeError.message)")
        #expect((error.cause as? EnvelopeError)?.code == envelopeError.code)
    }

    @Test func onlyAKeyMismatchAndANewerFormatAreNotDamage() {
        #expect(!EnvelopeError.keyMismatch(expected: "a", found: "b").isDamage)
        #expect(!EnvelopeError.unsupportedVersion(9).isDamage)
    }

    @Test(arguments: [KeyError.malformed("wrapped key fields"), .invalidParameters("scrypt logN=9 r=8 p=1")])
    func unusableKeyMaterialIsCorrupt(_ keyError: KeyError) {
        let error = TidemarkError.wrap(keyError, doing: "unwrap the key")
        #expect(error.code == .corrupt)
        #expect(error.message == "unable to unwrap the key: \(keyError.message)")
        #expect((error.cause as? KeyError)?.code == keyError.code)
    }

    @Test func storageErrorsKeepTheirCause() {
        let error = TidemarkError.wrap(StorageError(.noSpace, key: "k", message: "disk full"), doing: "write 'k'")
        #expect(error.code == .io)
        #expect((error.cause as? StorageError)?.code == .noSpace)
    }
}
