import TidemarkSystem
/// Removes passwords from text that came from libpq, the server or a connection string.
///
/// Contract: `password=<value>` (bare or single-quoted, any case, spaces around `=`), the
/// `password` URI query parameter and the password in a URI's `user:password@` part are
/// replaced by `****`; so is every occurrence of each explicitly given secret of 3 or more
/// characters (shorter ones would blank out ordinary letters and reveal nothing).
enum SecretRedaction {
    static func redact(_ text: String, secrets: [String] = []) -> String {
        var result = text
        for secret in secrets where secret.count >= 3 {
            result = result.replacing(secret, with: "****")
        }
        result = result.replacing(keywordPassword) { match in
            String(match.output.prefix { $0 != "=" }) + "=****"
        }
        result = result.replacing(uriUserInfo) { match in
            String(match.output.1) + ":****@"
        }
        return result
    }

    // password = 'it''s' | password=bare | ?password=x&... (URI parameters stop at '&').
    nonisolated(unsafe) private static let keywordPassword =
        #/(?i)password\s*=\s*(?:'(?:[^'\\]|\\.|'')*'?|[^\s&]+)/#
    // scheme://user:secret@host
    nonisolated(unsafe) private static let uriUserInfo = #/(://[^:/@\s]*):[^@\s]*@/#
}
