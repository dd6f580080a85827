import AsyncHTTPClient
import NIOCore
import NIOPosix
import TidemarkStorage
import TidemarkSystem

#if canImport(Glibc)
import Glibc
#endif

/// Fail fast where waiting helps nobody. A store that cannot be reached at all — connection
/// refused, no route to the host, a host name that does not resolve — is tried again only a few
/// times, quickly (`unreachableBackoff`), and then the operation fails with a message naming the
/// endpoint: a `wal-push` against a stopped server fails in about two seconds, so
/// `pg_stat_archiver` shows the failure at once, instead of holding every push for the whole
/// `ioTimeoutSeconds`. A stalled transfer (connected, then silent) is not this: it keeps the
/// operation's deadline (docs/s3.md).
///
/// AsyncHTTPClient's own retrying of connection set-up is off (`retryConnectionEstablishment`),
/// so a refused connection reaches `send` at once instead of after the connect timeout.
extension S3Transport {
    /// The waits before the 2nd, 3rd and 4th attempt after a connect-phase failure: at most
    /// 4 attempts and 1.7 s of waiting.
    static let unreachableBackoff: [Double] = [0.2, 0.5, 1.0]

    /// Why the store could not be reached, when `error` is a connect-phase failure that waiting
    /// does not cure; nil for anything else (timeouts, resets, answers).
    static func unreachable(_ error: any Error) -> String? {
        if let e = error as? NIOConnectionError {
            if e.connectionErrors.isEmpty, let dns = e.dnsAError ?? e.dnsAAAAError {
                return "the host name '\(e.host)' does not resolve (\(dns))"
            }
            let reasons = e.connectionErrors.compactMap { unreachableErrno($0.error) }
            guard !reasons.isEmpty, reasons.count == e.connectionErrors.count else { return nil }
            return Set(reasons).sorted().joined(separator: ", ")
        }
        if error is SocketAddressError { return "the host name does not resolve (\(error))" }
        return unreachableErrno(error)
    }

    private static func unreachableErrno(_ error: any Error) -> String? {
        guard let io = error as? IOError else { return nil }
        switch io.errnoCode {
        case ECONNREFUSED: return "connection refused"
        case ENETUNREACH: return "network unreachable"
        case EHOSTUNREACH: return "no route to host"
        case EADDRNOTAVAIL: return "address not available"
        default: return nil
        }
    }

    /// The error after the last quick attempt.
    func unreachableError(_ why: String, what: String, key: String?, attempts: Int, since start: ContinuousClock.Instant) -> StorageError {
        let elapsed = (ContinuousClock.now - start).inSeconds
        let took = elapsed < 10 ? String(format1: elapsed) : String(Int(elapsed))
        return StorageError(.io, key: key ?? "",
            message: "\(what): the store at \(config.endpoint) is unreachable (\(why)); gave up after \(attempts) attempts in \(took) s"
                + "\nHINT: check that the S3 endpoint \(config.endpoint) is up and reachable from this host (AWS_ENDPOINT_URL, s3.endpoint), and its DNS name resolves")
    }
}

extension String {
    /// One decimal: 1.7.
    init(format1 value: Double) {
        let tenths = Int((value * 10).rounded())
        self = "\(tenths / 10).\(tenths % 10)"
    }
}
