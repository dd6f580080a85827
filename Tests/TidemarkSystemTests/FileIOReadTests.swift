#if canImport(Glibc)
import Glibc
#endif
import Testing
import TidemarkSystem

/// `FileIO.read(fd:upTo:)` and `FileIO.readAll`, which read into buffers they do not zero
/// first: every byte returned must be a byte of the file, and nothing past its end.
@Suite("FileIO reads")
struct FileIOReadTests {
    /// A file of `count` bytes (a pattern that no zeroed or stale buffer would show) in a fresh
    /// directory; returns its path.
    func makeFile(_ count: Int) throws -> (path: String, bytes: [UInt8]) {
        var template = Array("/tmp/tm-fileio-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { buffer -> String? in
            guard let base = buffer.baseAddress, let dir = mkdtemp(base) else { return nil }
            return String(cString: dir)
        }
        let dir = try #require(made)
        let bytes = (0..<count).map { UInt8(truncatingIfNeeded: ($0 &* 131) ^ ($0 >> 8) | 1) }
        let path = dir + "/data"
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        try #require(fd >= 0)
        defer { close(fd) }
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress.map { $0 + done }, bytes.count - done) }
            try #require(n > 0)
            done += n
        }
        return (path, bytes)
    }

    @Test(arguments: [0, 1, 44, 4096, 65_535, 65_537, 300_000, 2_100_000])
    func readAllReturnsExactlyTheFile(count: Int) throws {
        let (path, bytes) = try makeFile(count)
        #expect(try FileIO.readAll(path) == bytes)
    }

    @Test func aReadLongerThanTheFileReturnsOnlyItsBytes() throws {
        let (path, bytes) = try makeFile(1000)
        let fd = open(path, O_RDONLY)
        try #require(fd >= 0)
        defer { close(fd) }
        let first = try FileIO.read(fd: fd, upTo: 1 << 20, path: path)
        #expect(first == bytes)
        #expect(try FileIO.read(fd: fd, upTo: 1 << 20, path: path) == [])
        #expect(try FileIO.read(fd: fd, upTo: 0, path: path) == [])
    }

    @Test func aMissingFileIsNilAndAnUnreadableOneAnError() throws {
        #expect(try FileIO.readAll("/tmp/tm-fileio-no-such-dir/none") == nil)
        #expect(throws: StorageError.self) { try FileIO.read(fd: -1, upTo: 10, path: "bad fd") }
    }
}
