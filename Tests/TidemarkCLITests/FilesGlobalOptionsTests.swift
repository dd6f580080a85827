import Testing
@testable import tidemark

/// The service runs `tidemark --config F --stanza S files backup …`: the global options move
/// after the two words of the `files` group, as they do for `key change`.
@Suite("Files command placement")
struct FilesGlobalOptionsTests {
    @Test func globalOptionsBeforeFilesBackupMoveAfterIt() {
        #expect(GlobalOptionPlacement.normalize(["--config", "/etc/t.json", "--stanza", "main", "files", "backup", "--type", "full"])
            == ["files", "backup", "--config", "/etc/t.json", "--stanza", "main", "--type", "full"])
    }
}
