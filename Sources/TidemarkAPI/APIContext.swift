#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Hummingbird
import Logging
import NIOCore
import Tidemark
import TidemarkAudit
import TidemarkCore
import TidemarkServer
import TidemarkSystem

/// The request context of the admin API: Hummingbird's, plus the client's address (the rate
/// limit and the audit log key on it).
public struct APIRequestContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: SocketAddress?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }

    var client: String { remoteAddress?.ipAddress ?? "local" }
}

/// What the routes share: the service's context, the API settings, the token check, the
/// jobs, the newest status snapshot, and the audit log.
public struct APIEnvironment: Sendable {
    public var context: ServiceContext
    public var settings: APISettings
    public var authenticator: APIAuthenticator
    public var jobs: APIJobs
    public var snapshot: @Sendable () -> StatusSnapshot?
    /// Records one audit event (best effort; the warning goes to the service log).
    public var audit: @Sendable (AuditEvent) async -> Void
    /// The dashboard's logins (in memory).
    public var sessions = DashboardSessions()
    /// The dashboard's backup list, read at most every 15 s (DashboardListCache).
    let listCache: DashboardListCache
    /// The restore points the timeline pins, scanned at most every minute (DashboardRestorePoints).
    let restorePoints: DashboardRestorePoints

    public init(context: ServiceContext, settings: APISettings, authenticator: APIAuthenticator, jobs: APIJobs,
                snapshot: @escaping @Sendable () -> StatusSnapshot?, audit: @escaping @Sendable (AuditEvent) async -> Void) {
        self.context = context
        self.settings = settings
        self.authenticator = authenticator
        self.jobs = jobs
        self.snapshot = snapshot
        self.audit = audit
        let engine = context.engine
        listCache = DashboardListCache(now: context.now, version: { await jobs.finishedCount }, load: { try await engine.list() })
        restorePoints = DashboardRestorePoints(now: context.now, load: { try await engine.restorePoints(after: $0) })
    }

    /// The environment `serve` runs with: tokens read from the repositories, the audit log in
    /// every repository and the local mirror.
    public static func live(context: ServiceContext, settings: APISettings, environment: [String: String],
                            snapshot: @escaping @Sendable () -> StatusSnapshot?) -> APIEnvironment {
        let engine = context.engine
        let registry = TokenRegistry(engine: engine)
        let authenticator = APIAuthenticator(cronSecret: settings.cronSecret, load: { await registry.loadForServer() })
        let configuration = engine.configuration
        let mirror: AuditMirror
        if let path = configuration.service.audit?.mirrorPath, path.hasPrefix("/") {
            mirror = AuditMirror(path: path)
        } else {
            mirror = AuditMirror(path: AuditMirror.defaultPath(stanza: configuration.stanza, environment: environment, home: OSUser.current.home))
        }
        let logger = context.logger
        return APIEnvironment(context: context, settings: settings, authenticator: authenticator, jobs: APIJobs(context: context),
                              snapshot: snapshot, audit: { event in
                                  if let warning = await engine.recordAudit(event, mirror: mirror) {
                                      logger.warning("\(warning)")
                                  }
                              })
    }

    /// An audit event for an API request: the OS user of the service, the token's name, the
    /// client's address.
    func event(_ action: String, caller: String?, client: String, target: [String: String] = [:], detail: [String: String],
               success: Bool, error: String? = nil) -> AuditEvent {
        let env = context.runner.environment
        var target = target
        target["stanza"] = context.engine.configuration.stanza
        return AuditEvent(action: action, actor: AuditProcess.actor(environment: env, token: caller),
                          source: AuditProcess.source(environment: env, remote: client), target: target, detail: detail,
                          success: success, exitCode: nil, error: error)
    }
}
