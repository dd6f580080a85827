#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Hummingbird
import NIOCore

/// An API error: the status and the JSON body `{"error", "hint"}` every error has (extra
/// fields beside them: the running job's `jobId` of a 409).
public struct APIFailure: Error, Sendable {
    public var status: HTTPResponse.Status
    public var error: String
    public var hint: String
    public var extra: [String: String] = [:]
    public var headers: HTTPFields = [:]

    public init(_ status: HTTPResponse.Status, _ error: String, hint: String, extra: [String: String] = [:], headers: HTTPFields = [:]) {
        self.status = status
        self.error = error
        self.hint = hint
        self.extra = extra
        self.headers = headers
    }

    public var response: Response {
        var fields = extra
        fields["error"] = error
        fields["hint"] = hint
        var headers = self.headers
        headers[.contentType] = "application/json"
        headers[.cacheControl] = "no-store"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: APIJSON.encode(fields))))
    }

    static func badRequest(_ error: String, hint: String) -> APIFailure { APIFailure(.badRequest, error, hint: hint) }
}

/// JSON as the CLI prints it (`--json`: sorted keys, slashes unescaped).
enum APIJSON {
    static func encode<T: Encodable>(_ value: T) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return ((try? encoder.encode(value)).map(Array.init) ?? Array(#"{"error":"unable to encode the response","hint":"see the service log"}"#.utf8)) + [10]
    }

    static func response<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        headers[.cacheControl] = "no-store"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: encode(value))))
    }

    /// Bytes that are JSON already (a child's `--json` output).
    static func raw(_ bytes: [UInt8], status: HTTPResponse.Status = .ok) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        headers[.cacheControl] = "no-store"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}

/// Turns every error into `{"error", "hint"}`: the routes' own failures, Hummingbird's (404,
/// and 405 for a known path with another method), and anything else as a 500 that names no
/// internals.
struct APIErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    /// Path → methods, for 405.
    let routes: [String: Set<HTTPRequest.Method>]

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let failure as APIFailure {
            return failure.response
        } catch let refusal as DashboardRefusal {
            return refusal.response
        } catch let error as HTTPError {
            return translate(error, request: request, context: context).response
        } catch {
            context.logger.error("API request failed", metadata: ["error": "\(error)", "path": "\(request.uri.path)"])
            return APIFailure(.internalServerError, "internal error", hint: "the service log has the details").response
        }
    }

    func translate(_ error: HTTPError, request: Request, context: Context) -> APIFailure {
        let path = request.uri.path
        switch error.status {
        case .notFound:
            if let methods = Self.methods(for: path, in: routes), !methods.contains(request.method) {
                var headers = HTTPFields()
                headers[.allow] = methods.map(\.rawValue).sorted().joined(separator: ", ")
                return APIFailure(.methodNotAllowed, "\(request.method.rawValue) is not allowed on \(path)",
                                  hint: "use \(methods.map(\.rawValue).sorted().joined(separator: " or ")) (docs/api/openapi.yaml)", headers: headers)
            }
            return APIFailure(.notFound, "no route \(request.method.rawValue) \(String(path.prefix(200)))",
                              hint: "docs/api/openapi.yaml lists the routes")
        case .methodNotAllowed:
            return APIFailure(.methodNotAllowed, "\(request.method.rawValue) is not allowed on \(path)", hint: "docs/api/openapi.yaml lists the routes")
        default:
            return APIFailure(error.status, error.body ?? error.status.reasonPhrase, hint: "docs/api.md")
        }
    }

    /// The methods of the route `path` matches (`{id}` matches one segment).
    static func methods(for path: String, in routes: [String: Set<HTTPRequest.Method>]) -> Set<HTTPRequest.Method>? {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        for (pattern, methods) in routes {
            let p = pattern.split(separator: "/", omittingEmptySubsequences: false)
            guard p.count == parts.count else { continue }
            if zip(p, parts).allSatisfy({ $0.hasPrefix("{") || $0 == $1 }) { return methods }
        }
        return nil
    }
}
