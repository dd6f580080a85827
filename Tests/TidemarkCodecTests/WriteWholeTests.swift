import Synchronization
import Testing
@testable import TidemarkCodec

@Suite("EnvelopeWriter.writeWhole (read, hash and compress overlapped)")
struct WriteWholeTests {
    static func data(_ n: Int) -> [UInt8] { (0..<n).map { UInt8(truncatingIfNeeded: ($0 / 7) &* 31 &+ $0 % 5) } }

    /// A reader handing out the data in uneven pieces, as read(2) may.
    final class PieceReader: Sendable {
        let bytes: [UInt8]
        let offset = Mutex(0)
        let step: Int
        init(_ bytes: [UInt8], step: Int) {
            self.bytes = bytes
            self.step = step
        }
        func read(_ into: UnsafeMutableRawBufferPointer) -> Int {
            offset.withLock { o in
                let n = min(into.count, step, bytes.count - o)
                bytes.withUnsafeBytes { into.baseAddress!.copyMemory(from: $0.baseAddress! + o, byteCount: n) }
                o += n
                return n
            }
        }
    }

    @Test(arguments: [(1, 1000), (100, 7), (64 * 5 + 3, 13), (10_000, 4096), (1 << 20, 100_000)])
    func roundTripsAndMatchesTheBatchedWriter(size: Int, step: Int) throws {
        let key = RepositoryKey.generate()
        let plain = Self.data(size)
        let reader = PieceReader(plain, step: step)
        var writer = EnvelopeWriter(key: key, kind: .walSegment, compression: .lz4, chunkSize: 64 * 1024, summary: [1, 2, 3])
        var object = writer.start()
        object += try writer.writeWhole(total: size) { reader.read($0) }
        let (tail, trailer) = writer.finish()
        object += tail
        let decoded = try EnvelopeReader.decode(object, key: key)
        #expect(decoded.plaintext == plain)
        #expect(decoded.summary == [1, 2, 3])
        // Same trailer as the plain writer computes.
        let reference = encodeEnvelope(plain, key: key, kind: .walSegment, compression: .lz4, chunkSize: 64 * 1024)
        #expect(trailer.sha256 == reference.trailer.sha256)
        #expect(trailer.chunkCount == reference.trailer.chunkCount)
    }

    @Test func aShortInputIsAnErrorNotAShortObject() throws {
        let key = RepositoryKey.generate()
        let reader = PieceReader(Self.data(1000), step: 100)
        var writer = EnvelopeWriter(key: key, kind: .walSegment, compression: .lz4, chunkSize: 256)
        _ = writer.start()
        #expect(throws: EnvelopeError.self) { _ = try writer.writeWhole(total: 5000) { reader.read($0) } }
    }

    struct ReadFailure: Error {}

    @Test func aReadErrorIsPassedOn() throws {
        let key = RepositoryKey.generate()
        var writer = EnvelopeWriter(key: key, kind: .walSegment, compression: .lz4, chunkSize: 256)
        _ = writer.start()
        #expect(throws: ReadFailure.self) { _ = try writer.writeWhole(total: 5000) { _ in throw ReadFailure() } }
    }
}
