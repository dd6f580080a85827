/// Which objects a `tidemark verify` run reads in full, given what its ledger says was already
/// verified: pure, so the rules are tested without a store.
///
/// An object is *known* when the ledger holds it with the same stored size and the same
/// envelope salt (read from its 80-byte header, so an object replaced by another of the same
/// size is not known). A routine run reads every object that is not known, plus the known
/// objects of one rotating sample bucket: keys fall into `buckets = ⌈100 / samplePercent⌉`
/// buckets by a stable hash, and run `r` reads bucket `r mod buckets`, so every object is read
/// again at least once every `buckets` runs (bit rot is found). `full` reads everything.
public enum VerifySelection {
    /// One listed object: its key, stored size, and the salt of its header (nil when the
    /// header could not be read: the object is then read in full, and its damage reported).
    public struct Candidate: Hashable, Sendable {
        public var key: String
        public var size: Int64
        public var salt: String?
        public init(key: String, size: Int64, salt: String?) {
            self.key = key
            self.size = size
            self.salt = salt
        }
    }

    /// What the ledger remembers of an object it verified.
    public struct Known: Hashable, Sendable {
        public var size: Int64
        public var salt: String
        public init(size: Int64, salt: String) {
            self.size = size
            self.salt = salt
        }
    }

    public enum Reason: String, Hashable, Sendable, Codable {
        /// Not in the ledger.
        case new
        /// In the ledger with another size or salt: replaced or damaged since.
        case changed
        /// Known, and in this run's sample bucket.
        case sample
        /// `--full`.
        case full
    }

    public struct Choice: Hashable, Sendable {
        public var key: String
        public var reason: Reason
        public init(key: String, reason: Reason) {
            self.key = key
            self.reason = reason
        }
    }

    /// The number of sample buckets for `samplePercent` (0: no sampling).
    public static func buckets(samplePercent: Double) -> Int {
        guard samplePercent > 0 else { return 0 }
        guard samplePercent < 100 else { return 1 }
        return Int((100 / samplePercent).rounded(.up))
    }

    /// A stable bucket for `key` (FNV-1a 64: the same on every machine and every run).
    public static func bucket(of key: String, buckets: Int) -> Int {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in key.utf8 {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01b3
        }
        return Int(hash % UInt64(max(1, buckets)))
    }

    /// The objects to read, in the order of `candidates`.
    public static func choose(_ candidates: [Candidate], known: [String: Known], samplePercent: Double,
                              run: Int, full: Bool) -> [Choice] {
        let count = buckets(samplePercent: samplePercent)
        let sampled = count > 0 ? ((run % count) + count) % count : -1
        var out: [Choice] = []
        for c in candidates {
            if full {
                out.append(Choice(key: c.key, reason: .full))
                continue
            }
            guard let k = known[c.key] else {
                out.append(Choice(key: c.key, reason: .new))
                continue
            }
            if k.size != c.size || c.salt == nil || c.salt != k.salt {
                out.append(Choice(key: c.key, reason: .changed))
            } else if count > 0 && bucket(of: c.key, buckets: count) == sampled {
                out.append(Choice(key: c.key, reason: .sample))
            }
        }
        return out
    }
}
