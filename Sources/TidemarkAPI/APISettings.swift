import Tidemark
import TidemarkCore
import TidemarkServer
import TidemarkSystem

/// The `api` section resolved (docs/api.md): CRON_SECRET, the body limit, TLS, and the rule
/// that a non-loopback address is served over TLS only.
public struct APISettings: Sendable {
    public static let defaultMaxBodyBytes = 65536

    /// The token limited to /api/cron/backup, or nil (the route then answers 401).
    public var cronSecret: Secret?
    public var maxBodyBytes: Int
    public var tls: (certFile: String, keyFile: String)?

    public init(cronSecret: Secret?, maxBodyBytes: Int = Self.defaultMaxBodyBytes, tls: (certFile: String, keyFile: String)? = nil) {
        self.cronSecret = cronSecret
        self.maxBodyBytes = maxBodyBytes
        self.tls = tls
    }

    /// The environment's CRON_SECRET wins over `api.cronSecretFile`.
    public static func resolve(_ configuration: Configuration, environment: [String: String], listenHost: String) throws -> APISettings {
        let section = configuration.service.api ?? APISection()
        var secret: Secret?
        if let text = environment["CRON_SECRET"], !text.isEmpty {
            secret = Secret(trimmedSecret(Array(text.utf8)))
        } else if let file = section.cronSecretFile {
            secret = try KeyFile.read(file, source: "api.cronSecretFile")
        }
        if let s = secret, s.bytes.count < 16 {
            throw TidemarkError(.configuration, "CRON_SECRET is shorter than 16 characters",
                                hints: ["generate one: openssl rand -hex 32"])
        }
        let limit = section.maxBodyBytes ?? defaultMaxBodyBytes
        guard limit >= 1024, limit <= 16 << 20 else {
            throw TidemarkError(.configuration, "api.maxBodyBytes must be 1024 to 16777216, not \(limit)")
        }
        var tls: (String, String)?
        if let t = section.tls {
            guard let cert = t.certFile, let key = t.keyFile, cert.hasPrefix("/"), key.hasPrefix("/") else {
                throw TidemarkError(.configuration, "api.tls needs certFile and keyFile, both absolute paths",
                                    hints: ["api: {tls: {certFile: /etc/tidemark/tls.crt, keyFile: /etc/tidemark/tls.key}}"])
            }
            tls = (cert, key)
        }
        guard tls != nil || HTTPListenConfiguration.isLoopback(listenHost) else {
            throw TidemarkError(.configuration, "refusing to serve the admin API on '\(listenHost)' without TLS: the address is not loopback",
                                hints: ["set api.tls.certFile and api.tls.keyFile (docs/api.md)",
                                        "or listen on 127.0.0.1 (serve --listen 127.0.0.1:8470) behind a TLS proxy"])
        }
        return APISettings(cronSecret: secret, maxBodyBytes: limit, tls: tls)
    }
}
