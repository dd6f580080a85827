import TidemarkCodec
import TidemarkStorage

/// One repository of the stanza as file backups see it: its name for messages (the
/// configuration's repository name), its store and its opened key. File backups go to every
/// repository of the stanza (3-2-1 holds for files too).
public struct FilesRepository: Sendable {
    public let name: String
    public let store: any ObjectStore
    public let key: RepositoryKey

    public init(name: String, store: any ObjectStore, key: RepositoryKey) {
        self.name = name
        self.store = store
        self.key = key
    }
}
