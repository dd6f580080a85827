import TidemarkCodec
import TidemarkTesting
import TidemarkCore

/// Fast key derivation for unit-test repositories.
let fastKDF = ScryptParameters(logN: 10)

