import Testing
@testable import TidemarkCore

@Suite("CRC-32C hardware path", .tags(.small))
struct CRC32CHardwareTests {
    /// The instruction and the table agree on every length and alignment, pieces included.
    @Test func hardwareAndSoftwareAgree() {
        var x: UInt64 = 0x1234_5678_9ABC_DEF0
        let bytes = (0..<5000).map { _ -> UInt8 in
            x = x &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return UInt8(truncatingIfNeeded: x >> 33)
        }
        bytes.withUnsafeBytes { all in
            for (start, count) in [(0, 0), (0, 1), (1, 7), (3, 8), (5, 9), (0, 4096), (7, 4993)] {
                let slice = UnsafeRawBufferPointer(rebasing: all[start..<start + count])
                let soft = slice.baseAddress.map { CRC32C.software(0xFFFF_FFFF, base: $0, count: count) ^ 0xFFFF_FFFF } ?? 0
                #expect(CRC32C.checksum(slice) == (count == 0 ? 0 : soft), "start \(start) count \(count)")
            }
        }
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        var pieces = CRC32C()
        pieces.update(Array(bytes[0..<13]))
        pieces.update(Array(bytes[13..<4000]))
        #expect(pieces.finalize() == CRC32C.checksum(Array(bytes[0..<4000])))
        print("CRC-32C hardware path in use: \(CRC32C.hardware)")
    }
}
