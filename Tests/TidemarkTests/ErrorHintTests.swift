import Testing
@testable import Tidemark
import TidemarkStorage
@testable import TidemarkSystem
@testable import TidemarkRepository
@testable import TidemarkArchive
@testable import TidemarkBackup
import TidemarkCore
import TidemarkTesting
import TidemarkCodec

/// Hints made by `TidemarkError.wrap` hold for every command: none promises that PostgreSQL
/// retries (only wal-push's caller does; the CLI adds that line for wal-push alone).
@Suite("Error hints")
struct ErrorHintTests {
    @Test(arguments: [StorageError.Code.noSpace, .integrity, .timeout, .permissionDenied, .io])
    func wrappedStorageErrorsPromiseNoRetryByPostgreSQL(_ code: StorageError.Code) {
        let error = TidemarkError.wrap(StorageError(code, key: "main/backup/x/pack-00001", message: "it failed"), doing: "write a pack")
        for hint in error.hints {
            #expect(!hint.lowercased().contains("retries"), "\(code): \(hint)")
        }
    }
}
