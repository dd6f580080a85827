import Foundation
import TidemarkCodec

/// Fast key derivation for unit-test repositories.
let fastKDF = ScryptParameters(logN: 10)

func sha256(_ bytes: [UInt8]) -> [UInt8] {
    var hasher = ContentHasher()
    hasher.update(bytes)
    return hasher.finalize()
}

func sha256Hex(_ bytes: [UInt8]) -> String {
    sha256(bytes).map { String(format: "%02x", $0) }.joined()
}
