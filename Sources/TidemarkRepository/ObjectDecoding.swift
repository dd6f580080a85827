import TidemarkCodec
import TidemarkStorage
import TidemarkCore
import TidemarkSystem

/// Streams one stored object through the envelope decoder and hands out its authenticated
/// chunks in order; returns the verified trailer. `inspect` sees the decoder after every step
/// (to check the header or summary as soon as they are read). Closes the reader in every case.
/// Memory: one read (4 MiB) plus one chunk.
/// With `authenticateOnly`, chunks are authenticated but not decompressed (`sink` gets empty
/// chunks; see `EnvelopeDecoder.authenticateOnly`).
package func decodeObject(_ reader: any ObjectReader, key: RepositoryKey, authenticateOnly: Bool = false,
                  inspect: (EnvelopeDecoder) throws -> Void = { _ in },
                  _ sink: ([UInt8]) throws -> Void) async throws -> EnvelopeTrailer {
    var decoder = EnvelopeDecoder(key: key)
    decoder.authenticateOnly = authenticateOnly
    do {
        while true {
            let event = try decoder.next()
            try inspect(decoder)
            switch event {
            case .chunk(let chunk):
                try sink(chunk)
            case .finished(let trailer):
                let extra = try await reader.read(upTo: 1)
                guard extra.isEmpty else { throw EnvelopeError.corrupt("bytes after the trailer") }
                await reader.close()
                return trailer
            case .needInput:
                let more = try await reader.read(upTo: 4 << 20)
                if more.isEmpty {
                    try decoder.endOfInput()
                    throw EnvelopeError.truncated
                }
                decoder.feed(more)
            }
        }
    } catch {
        await reader.close()
        throw error
    }
}
