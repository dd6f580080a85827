#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Hummingbird
import NIOCore
import Tidemark
import TidemarkCore
import TidemarkFiles
import TidemarkServer
import TidemarkSystem

/// What each route does once the caller is known (docs/api.md).
struct APIHandlers: Sendable {
    let routes: APIRoutes
    var env: APIEnvironment { routes.env }

    // Optional fields may be left out, never null (`present` refuses null).
    struct CreateBody: Decodable {
        var type: String?, includeFiles: Bool?
        enum CodingKeys: String, CodingKey { case type, includeFiles }
        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            type = try c.present(String.self, .type)
            includeFiles = try c.present(Bool.self, .includeFiles)
        }
    }
    struct VerifyBody: Decodable {
        var backupId: String?, type: String?
        enum CodingKeys: String, CodingKey { case backupId, type }
        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            backupId = try c.present(String.self, .backupId)
            type = try c.present(String.self, .type)
        }
    }
    struct RestoreBody: Decodable {
        var backupId: String?, targetTime: String?, type: String?, dryRun: Bool?
        enum CodingKeys: String, CodingKey { case backupId, targetTime, type, dryRun }
        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            backupId = try c.present(String.self, .backupId)
            targetTime = try c.present(String.self, .targetTime)
            type = try c.present(String.self, .type)
            dryRun = try c.present(Bool.self, .dryRun)
        }
    }
    struct Accepted: Encodable { var jobId: String; var warning: String? }

    static func decode<T: Decodable>(_ type: T.Type, _ bytes: [UInt8]) throws -> T {
        guard !bytes.isEmpty else {
            throw APIFailure.badRequest("the request needs a JSON object body", hint: "send Content-Type: application/json and a body (docs/api/openapi.yaml)")
        }
        do {
            return try JSONDecoder().decode(T.self, from: Data(bytes))
        } catch {
            throw APIFailure.badRequest("the request body is not the JSON object this route takes", hint: "docs/api/openapi.yaml describes the body")
        }
    }

    func create(_ bytes: [UInt8], caller: APICaller) async throws -> (Response, [String: String]) {
        let body = try Self.decode(CreateBody.self, bytes)
        guard let type = body.type, type == "full" || type == "incremental" else {
            throw APIFailure.badRequest("type must be \"full\" or \"incremental\"", hint: #"for example {"type":"incremental","includeFiles":false}"#)
        }
        return try await startBackup(type, includeFiles: body.includeFiles ?? false, caller: caller)
    }

    /// A backup job; with `includeFiles` the file storage is backed up after the database
    /// (docs/files.md), which needs `files.paths`.
    func startBackup(_ type: String, includeFiles: Bool, caller: APICaller) async throws -> (Response, [String: String]) {
        if includeFiles && !env.context.engine.configuration.files.isConfigured {
            // A well-formed request this configuration cannot do: 422, not 400.
            throw APIFailure(.unprocessableContent, "includeFiles is true but no file storage is configured",
                             hint: "list the directories in files.paths of the config file (docs/files.md), or send includeFiles false")
        }
        return try await start(type: "backup-" + type, kind: .backup(full: type == "full", pinMonths: nil),
                               arguments: ["backup", "--type", type], caller: caller,
                               detail: ["type": type].merging(includeFiles ? ["includeFiles": "true"] : [:]) { $1 },
                               files: includeFiles ? FilesFollowUp(full: type == "full") : nil)
    }

    func verify(_ bytes: [UInt8], caller: APICaller) async throws -> (Response, [String: String]) {
        let body = try Self.decode(VerifyBody.self, bytes)
        guard let type = body.type, type == "database" || type == "files" else {
            throw APIFailure.badRequest("type must be \"database\" or \"files\"", hint: #"for example {"backupId":"20261201-030000F","type":"database"}"#)
        }
        if type == "files" { return try await verifyFiles(body.backupId, caller: caller) }
        var arguments = ["verify"]
        var detail = ["type": type]
        if let id = body.backupId {
            guard BackupID(rawValue: id) != nil else {
                throw APIFailure.badRequest("backupId '\(String(id.prefix(64)))' is not a backup id", hint: "GET /api/admin/backup/list shows the ids")
            }
            arguments += ["--backup", id]
            detail["backup"] = id
        }
        return try await start(type: "verify", kind: .verify(full: false, samplePercent: nil), arguments: arguments, caller: caller, detail: detail)
    }

    /// `type: files`: `tidemark verify --files-snapshot ID` as a job, for the snapshot `backupId`
    /// (default the newest); a snapshot that does not exist is 404 before any job starts.
    func verifyFiles(_ backupId: String?, caller: APICaller) async throws -> (Response, [String: String]) {
        if let id = backupId, !FilesSnapshot.isValidID(id) {
            throw APIFailure.badRequest("backupId '\(String(id.prefix(64)))' is not a file snapshot id",
                                        hint: "file snapshot ids are 32 hex digits: tidemark files list shows them")
        }
        let snapshot: FilesSnapshot
        do {
            snapshot = try await env.context.engine.filesSnapshot(id: backupId, asOf: nil)
        } catch let e as TidemarkError where e.code == .notFound {
            throw APIFailure(.notFound, e.message, hint: e.hints.first ?? "tidemark files list shows the snapshots")
        } catch {
            throw Self.unavailable(error)
        }
        return try await start(type: "verify", kind: .verify(full: false, samplePercent: nil),
                               arguments: ["verify", "--files-snapshot", snapshot.id], caller: caller,
                               detail: ["type": "files", "snapshot": snapshot.id])
    }

    func rehearse(caller: APICaller) async throws -> (Response, [String: String]) {
        try await start(type: "rehearse", kind: .rehearse, arguments: ["rehearse", "--json"], caller: caller, detail: [:])
    }

    /// `/api/cron/backup?type=…&includeFiles=true|false` (both optional).
    func cron(_ type: String?, includeFiles: String?, caller: APICaller) async throws -> (Response, [String: String]) {
        let type = type ?? "incremental"
        guard type == "full" || type == "incremental" else {
            throw APIFailure.badRequest("type must be full or incremental", hint: "/api/cron/backup?type=incremental")
        }
        guard includeFiles == nil || includeFiles == "true" || includeFiles == "false" else {
            throw APIFailure.badRequest("includeFiles must be true or false", hint: "/api/cron/backup?type=incremental&includeFiles=true")
        }
        return try await startBackup(type, includeFiles: includeFiles == "true", caller: caller)
    }

    func start(type: String, kind: ServiceJob.Kind, arguments: [String], caller: APICaller,
               detail: [String: String], warning: String? = nil, files: FilesFollowUp? = nil) async throws -> (Response, [String: String]) {
        switch await env.jobs.start(type: type, kind: kind, arguments: arguments, requestedBy: caller.name, files: files) {
        case .started(let id):
            var response = APIJSON.response(Accepted(jobId: id, warning: warning), status: .accepted)
            response.headers[.location] = "/api/jobs/" + id
            return (response, detail.merging(["jobId": id]) { $1 })
        case .busy(let running):
            throw APIFailure(.conflict, "job \(running) is running for this stanza", hint: "wait for it: GET /api/jobs/\(running)",
                             extra: ["jobId": running])
        case .failed(let why):
            throw APIFailure(.internalServerError, "the job could not start: \(why)", hint: "the service log has the details")
        }
    }

    func list() async throws -> Response {
        do {
            let list = try await env.context.engine.list()
            return APIJSON.response(list)
        } catch {
            throw Self.unavailable(error)
        }
    }

    func job(_ id: String) async throws -> Response {
        guard let job = await env.jobs.job(id) else {
            throw APIFailure(.notFound, "no job '\(String(id.prefix(64)))'", hint: "jobs are kept in memory while the service runs (the last 200)")
        }
        return APIJSON.response(job)
    }

    struct Status: Encodable {
        var info: InfoReport
        var pitrWindows: [String: [RestorableWindowEntry]]
        var snapshot: StatusSnapshot?
        var rpoSeconds: Double?
        var archiveLagSegments: Int?
        var readySegments: Int?
        var lastVerify: String?
        var lastRehearsal: String?
        var lastRehearsalRTOSeconds: Double?
    }

    func status() async throws -> Response {
        APIJSON.response(try await statusValue())
    }

    /// What /api/status answers (the dashboard renders the same value).
    func statusValue() async throws -> Status {
        let info: InfoReport
        do {
            info = try await env.context.engine.info()
        } catch {
            throw Self.unavailable(error)
        }
        let facts = ServiceFacts(snapshot: env.snapshot(), state: try? env.context.stateStore.load())
        var windows: [String: [RestorableWindowEntry]] = [:]
        for s in info.stanzas { windows[s.repository] = s.restorable ?? [] }
        let status = Status(info: info, pitrWindows: windows, snapshot: facts.snapshot, rpoSeconds: facts.rpoSeconds,
                            archiveLagSegments: facts.archiveLagSegments, readySegments: facts.readySegments,
                            lastVerify: facts.lastVerify, lastRehearsal: facts.lastRehearsal,
                            lastRehearsalRTOSeconds: facts.lastRehearsalRTOSeconds)
        return status
    }

    /// `plan --json` in a child process: the same JSON, byte for byte.
    func restore(_ bytes: [UInt8]) async throws -> (Response, [String: String]) {
        let body = try Self.decode(RestoreBody.self, bytes)
        guard let type = body.type, type == "database" || type == "files" else {
            throw APIFailure.badRequest("type must be \"database\" or \"files\"", hint: #"for example {"type":"database","dryRun":true}"#)
        }
        guard body.dryRun == true else {
            throw APIFailure(.forbidden, "restores run on the host: tidemark restore",
                             hint: "restoring overwrites a database and belongs to a person at the machine; send dryRun true for the plan")
        }
        if type == "files" { throw APIFailure(.notFound, "no file backups exist yet (type files)", hint: "plan the database: type \"database\"") }
        var arguments = ["plan", "--json"]
        var detail = ["dryRun": "true"]
        if let t = body.targetTime {
            guard (try? PostgresTimestamp(parsing: t)) != nil else {
                throw APIFailure(.unprocessableContent, "targetTime '\(String(t.prefix(64)))' is not an instant", hint: "for example 2026-12-01T03:00:00Z or 2026-12-01 03:00:00+00")
            }
            arguments += ["--target-time", t]
            detail["targetTime"] = t
        }
        if let id = body.backupId {
            guard BackupID(rawValue: id) != nil else {
                throw APIFailure.badRequest("backupId '\(String(id.prefix(64)))' is not a backup id", hint: "GET /api/admin/backup/list shows the ids")
            }
            arguments += ["--backup", id]
            detail["backup"] = id
        }
        let r = env.context.runner
        let result: SubprocessResult
        do {
            result = try await Subprocess(executable: r.executable, arguments: r.globalArguments + arguments, environment: r.environment,
                                          timeout: .seconds(300), temporaryDirectory: r.temporaryDirectory, outputPrefix: "tidemark-api-plan").run()
        } catch {
            throw APIFailure(.internalServerError, "the plan could not run", hint: "the service log has the details")
        }
        if result.succeeded { return (APIJSON.raw(Array(result.stdout.utf8)), detail) }
        let (error, hints) = JobRunner.errorLines(result.stderr)
        throw APIFailure(result.timedOut ? .serviceUnavailable : .unprocessableContent,
                         error ?? "the plan failed (exit \(result.exitCode))", hint: hints.first ?? "tidemark plan on the host says more")
    }

    static func unavailable(_ error: any Error) -> APIFailure {
        let e = error as? TidemarkError
        return APIFailure(.serviceUnavailable, e?.message ?? "the repositories could not be read", hint: e?.hints.first ?? "the service log has the details")
    }
}

extension KeyedDecodingContainer {
    /// The field's value when it is there (null is a type error), nil when it is left out.
    func present<T: Decodable>(_ type: T.Type, _ key: Key) throws -> T? {
        contains(key) ? try decode(T.self, forKey: key) : nil
    }
}
