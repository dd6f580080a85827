import Testing
@testable import TidemarkCore

@Suite("CRC-32C", .tags(.small))
struct CRC32CTests {
    @Test func checkValue() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
    }

    @Test func emptyInput() {
        #expect(CRC32C.checksum([UInt8]()) == 0)
        #expect(CRC32C().finalize() == 0)
    }

    private static let rfc3720: [([UInt8], UInt32)] = [
        ([UInt8](repeating: 0, count: 32), 0x8A91_36AA),
        ([UInt8](repeating: 0xFF, count: 32), 0x62A8_AB43),
        ((0..<32).map { UInt8($0) }, 0x46DD_794E),
        ((0..<32).reversed().map { UInt8($0) }, 0x113F_DB5C),
    ]

    /// RFC 3720 appendix B.4.
    @Test(arguments: 0..<4)
    func rfc3720Vectors(index: Int) {
        let (bytes, expected) = Self.rfc3720[index]
        #expect(CRC32C.checksum(bytes) == expected)
    }

    /// RFC 3720 B.4: an iSCSI SCSI Read (10) command PDU.
    @Test func rfc3720ReadCommandPDU() {
        let pdu: [UInt8] = [
            0x01, 0xC0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
            0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x18,
            0x28, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        ]
        #expect(CRC32C.checksum(pdu) == 0xD996_3A56)
    }

    @Test func incrementalEqualsOneShotForEverySplit() {
        var x: UInt32 = 12345
        let data = (0..<300).map { _ -> UInt8 in
            x = x &* 1_103_515_245 &+ 12_345
            return UInt8(truncatingIfNeeded: x >> 16)
        }
        let whole = CRC32C.checksum(data)
        for split in [0, 1, 3, 7, 8, 9, 15, 16, 17, 100, 299, 300] {
            var crc = CRC32C()
            crc.update(data[..<split])
            crc.update(data[split...])
            #expect(crc.finalize() == whole, "split at \(split)")
        }
        var bytewise = CRC32C()
        for b in data { bytewise.update([b]) }
        #expect(bytewise.finalize() == whole)
    }

    /// The CPU instruction path (when this machine has it) and the table path agree on every
    /// length and alignment, and both match the published check value.
    @Test func hardwareAndTablesAgree() {
        var x: UInt32 = 99
        let data = (0..<1100).map { _ -> UInt8 in
            x = x &* 1_103_515_245 &+ 12_345
            return UInt8(truncatingIfNeeded: x >> 16)
        }
        data.withUnsafeBytes { all in
            for start in 0..<9 {
                for length in [0, 1, 7, 8, 9, 63, 64, 65, 1000] {
                    let slice = UnsafeRawBufferPointer(rebasing: all[start..<start + length])
                    let tables = CRC32C.advanceWithTables(0xFFFF_FFFF, slice) ^ 0xFFFF_FFFF
                    #expect(CRC32C.checksum(slice) == tables, "start \(start) length \(length)")
                }
            }
        }
        // Long buffers run as three interleaved streams combined afterwards (blocks of 3 x 256
        // and 3 x 8192 bytes): every length around those blocks, from every alignment and from
        // a register that is not the initial one.
        let long = (0..<100_000).map { i -> UInt8 in
            x = x &* 1_103_515_245 &+ 12_345
            return UInt8(truncatingIfNeeded: x >> 16) ^ UInt8(truncatingIfNeeded: i)
        }
        long.withUnsafeBytes { all in
            for start in [0, 1, 3, 7] {
                for length in [767, 768, 769, 1535, 1536, 2311, 24_575, 24_576, 24_577, 25_344, 49_152 + 768 + 5, 99_990] {
                    let slice = UnsafeRawBufferPointer(rebasing: all[start..<start + length])
                    for register: UInt32 in [0xFFFF_FFFF, 0x1234_5678] {
                        #expect(CRC32C.advance(register, slice) == CRC32C.advanceWithTables(register, slice),
                                "start \(start) length \(length) register \(register)")
                    }
                }
            }
        }
        let check = Array("123456789".utf8).withUnsafeBytes { CRC32C.advanceWithTables(0xFFFF_FFFF, $0) ^ 0xFFFF_FFFF }
        #expect(check == 0xE306_9283)
        print("CRC-32C uses the CPU instruction: \(CRC32C.usesHardware)")
    }
}
