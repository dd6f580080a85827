import Foundation
import TidemarkS3
import TidemarkStorage

#if canImport(Glibc)
import Glibc
#endif
import TidemarkSystem

/// A real S3-compatible server on loopback for tests: `moto_server` from PyPI (installed by
/// scripts/test.sh), started on a free port and killed on `stop()` or deinit.
///
/// With `signatureChecking`, moto verifies SigV4 on every request after the first three
/// (`INITIAL_NO_AUTH_ACTION_COUNT=3`). Those three create an IAM user, its access key and an
/// allow-all policy; `accessKeyID`/`secretAccessKey` are that key pair. Readiness is probed with
/// a bare TCP connect, which moto does not count. Without checking, any key pair is accepted.
/// moto's known bug (getmoto/moto#5948): with checking on it rejects correct signatures when a
/// query value contains '/' or a key contains ':' or '+' — see /work/shared/S3-TESTING.md.
public final class MotoServer: @unchecked Sendable {
    public let port: UInt16
    public let signatureChecking: Bool
    public let accessKeyID: String
    public let secretAccessKey: String
    private var process: ChildProcess?

    /// `http://127.0.0.1:PORT`.
    public var endpoint: String { "http://127.0.0.1:\(port)" }

    private init(port: UInt16, signatureChecking: Bool, accessKeyID: String, secretAccessKey: String, process: ChildProcess) {
        self.port = port
        self.signatureChecking = signatureChecking
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
        self.process = process
    }

    deinit { stop() }

    /// Kills the server (idempotent).
    public func stop() {
        if let process {
            kill(-process.pid, SIGKILL)
            process.send(SIGKILL)
            _ = try? process.waitBlocking()
        }
        process = nil
    }

    /// The command that runs moto: `$MOTO_SERVER`, else `moto_server` on PATH (or pip's user
    /// directory), else `python3 -m moto.server`.
    static func command(port: UInt16) -> (String, [String]) {
        let env = ProcessInfo.processInfo.environment
        let args = ["-H", "127.0.0.1", "-p", String(port)]
        if let explicit = env["MOTO_SERVER"], !explicit.isEmpty { return (explicit, args) }
        var dirs = (env["PATH"] ?? "").split(separator: ":").map(String.init)
        if let home = env["HOME"] { dirs += [home + "/.local/bin", home + "/.pyenv/shims"] }
        dirs += ["/usr/local/bin", "/usr/bin"]
        for dir in dirs where access(dir + "/moto_server", X_OK) == 0 { return (dir + "/moto_server", args) }
        for dir in dirs where access(dir + "/python3", X_OK) == 0 { return (dir + "/python3", ["-m", "moto.server"] + args) }
        return ("/usr/bin/python3", ["-m", "moto.server"] + args)
    }

    /// Starts moto and waits until it accepts connections (and, with checking, has a user).
    public static func start(signatureChecking: Bool, timeout: Duration = .seconds(60)) async throws -> MotoServer {
        var lastError: (any Error)?
        for _ in 0..<3 {
            let port = try FreePort.loopback()
            let (executable, arguments) = command(port: port)
            var environment: [String: String] = [:]
            let parent = ProcessInfo.processInfo.environment
            for name in ["PATH", "HOME", "PYENV_ROOT", "PYENV_VERSION", "PYTHONPATH", "VIRTUAL_ENV"] {
                if let v = parent[name] { environment[name] = v }
            }
            // moto must not see a developer's real AWS credentials or endpoint.
            environment["AWS_ACCESS_KEY_ID"] = "moto"
            environment["AWS_SECRET_ACCESS_KEY"] = "moto"
            if signatureChecking { environment["INITIAL_NO_AUTH_ACTION_COUNT"] = "3" }
            // A watchdog shell runs moto and kills it when this test process is gone, so a
            // crashed or killed test run leaves no server behind.
            let watchdog = """
                "$@" & child=$!
                trap 'kill -9 $child 2>/dev/null; exit 0' TERM INT HUP
                while kill -0 \(getpid()) 2>/dev/null && kill -0 $child 2>/dev/null; do sleep 0.5; done
                kill -9 $child 2>/dev/null
                """
            let process = try ChildProcess(launching: Command(
                "/bin/sh", ["-c", watchdog, "moto-watchdog", executable] + arguments, environment: environment,
                timeout: .seconds(24 * 3600)))
            let ready = await waitUntilListening(port: port, process: process, timeout: timeout)
            guard ready else {
                kill(-process.pid, SIGKILL)
                process.send(SIGKILL)
                let result = try? process.waitBlocking()
                lastError = TestingError(.processFailed,
                    "moto_server did not start on 127.0.0.1:\(port): \(result.map { $0.stderrText.suffix(2000) } ?? "")",
                    hints: ["install it with: pip install 'moto[server]' (scripts/test.sh does this)", "or set MOTO_SERVER to its path"])
                continue
            }
            guard signatureChecking else {
                return MotoServer(port: port, signatureChecking: false, accessKeyID: "AKIAMOTOTESTING00000", secretAccessKey: "moto-testing-secret", process: process)
            }
            do {
                let (keyID, secret) = try createUser(port: port)
                return MotoServer(port: port, signatureChecking: true, accessKeyID: keyID, secretAccessKey: secret, process: process)
            } catch {
                kill(-process.pid, SIGKILL)
                process.send(SIGKILL)
                _ = try? process.waitBlocking()
                throw error
            }
        }
        throw lastError ?? TestingError(.processFailed, "moto_server did not start")
    }

    private static func waitUntilListening(port: UInt16, process: ChildProcess, timeout: Duration) async -> Bool {
        let end = ContinuousClock.now + timeout
        while ContinuousClock.now < end {
            if let fd = FaultProxy.connect(to: port) {
                Glibc.close(fd)
                return true
            }
            // Ended already (a missing module, a taken port)?
            if kill(process.pid, 0) != 0 { return false }
            var status: Int32 = 0
            if waitpid(process.pid, &status, WNOHANG) == process.pid { return false }
            try? await Task.sleep(for: .milliseconds(100))
        }
        return false
    }

    /// IAM CreateUser, CreateAccessKey, PutUserPolicy: exactly the three unauthenticated requests.
    private static func createUser(port: UInt16) throws -> (String, String) {
        let user = "tidemark"
        let policy = #"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#
        _ = try iam(port: port, ["Action": "CreateUser", "UserName": user])
        let created = try iam(port: port, ["Action": "CreateAccessKey", "UserName": user])
        _ = try iam(port: port, ["Action": "PutUserPolicy", "UserName": user, "PolicyName": "all", "PolicyDocument": policy])
        guard let keyID = element("AccessKeyId", in: created), let secret = element("SecretAccessKey", in: created) else {
            throw TestingError(.unexpectedOutput, "moto's CreateAccessKey answer has no key pair: \(created.prefix(500))")
        }
        return (keyID, secret)
    }

    private static func element(_ name: String, in xml: String) -> String? {
        guard let open = xml.range(of: "<\(name)>"), let close = xml.range(of: "</\(name)>", range: open.upperBound..<xml.endIndex) else { return nil }
        return String(xml[open.upperBound..<close.lowerBound])
    }

    /// One IAM Query API call, signed (moto routes by the signature's service; the signature
    /// itself is not checked for these first requests).
    private static func iam(port: UInt16, _ parameters: [String: String]) throws -> String {
        let form = (parameters.merging(["Version": "2010-05-08"]) { $1 })
            .sorted { $0.key < $1.key }
            .map { "\(SigV4.uriEncode($0.key))=\(SigV4.uriEncode($0.value))" }.joined(separator: "&")
        let response = try request(
            port: port, method: "POST", path: "/", headers: [("content-type", "application/x-www-form-urlencoded; charset=utf-8")],
            body: Array(form.utf8), service: "iam", keyID: "AKIAMOTOBOOTSTRAP000", secret: "bootstrap")
        guard response.status == 200 else {
            throw TestingError(.unexpectedOutput, "moto IAM \(parameters["Action"] ?? ""): HTTP \(response.status) \(response.body.prefix(500))")
        }
        return response.body
    }

    /// A signed request to moto over a fresh connection (HTTP/1.1, `Connection: close`).
    public static func request(
        port: UInt16, method: String, path: String, query: [(String, String)] = [], headers: [(String, String)] = [],
        body: [UInt8] = [], service: String = "s3", keyID: String, secret: String
    ) throws -> (status: Int, body: String) {
        let host = "127.0.0.1:\(port)"
        let payloadHash = SigV4.sha256Hex(body)
        let date = SigV4.amzDate(unixSeconds: Int64(time(nil)))
        var all = headers + [("host", host), ("x-amz-date", date), ("x-amz-content-sha256", payloadHash)]
        let signature = SigV4.sign(
            SigV4.Request(method: method, path: path, query: query, headers: all, payloadHash: payloadHash),
            accessKeyID: keyID, secret: S3Secret(secret), date: date, region: "us-east-1", service: service)
        all.append(("authorization", signature.authorization))
        let queryText = query.isEmpty ? "" : "?" + SigV4.canonicalQuery(query)
        var head = "\(method) \(SigV4.canonicalPath(path))\(queryText) HTTP/1.1\r\n"
        for (name, value) in all { head += "\(name): \(value)\r\n" }
        head += "content-length: \(body.count)\r\nconnection: close\r\n\r\n"
        guard let fd = FaultProxy.connect(to: port) else {
            throw TestingError(.processFailed, "unable to connect to moto on \(host): \(String(cString: strerror(errno)))")
        }
        defer { Glibc.close(fd) }
        var timeout = timeval(tv_sec: 30, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        FaultProxy.writeAll(fd, Array(head.utf8) + body)
        var response = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            response += chunk[0..<n]
        }
        let text = String(decoding: response, as: UTF8.self)
        let statusLine = text.prefix { $0 != "\r" }.split(separator: " ")
        guard statusLine.count >= 2, let status = Int(statusLine[1]) else {
            throw TestingError(.unexpectedOutput, "moto answered no HTTP status: \(text.prefix(200))")
        }
        let bodyText = FaultProxy.headEnd(response).map { String(decoding: response[$0...], as: UTF8.self) } ?? ""
        return (status, bodyText)
    }

    /// Creates a bucket (idempotent).
    public func createBucket(_ name: String) throws {
        let r = try Self.request(port: port, method: "PUT", path: "/\(name)", keyID: accessKeyID, secret: secretAccessKey)
        guard r.status == 200 || r.body.contains("BucketAlreadyOwnedByYou") else {
            throw TestingError(.unexpectedOutput, "moto: unable to create bucket \(name): HTTP \(r.status) \(r.body.prefix(500))")
        }
    }

    /// Creates a bucket with S3 Object Lock enabled (`x-amz-bucket-object-lock-enabled: true`;
    /// versioning comes with it). Idempotent like `createBucket(_:)`.
    public func createBucket(_ name: String, objectLockEnabled: Bool) throws {
        guard objectLockEnabled else { return try createBucket(name) }
        let r = try Self.request(port: port, method: "PUT", path: "/\(name)", headers: [("x-amz-bucket-object-lock-enabled", "true")],
                                 keyID: accessKeyID, secret: secretAccessKey)
        guard r.status == 200 || r.body.contains("BucketAlreadyOwnedByYou") else {
            throw TestingError(.unexpectedOutput, "moto: unable to create bucket \(name) with object lock: HTTP \(r.status) \(r.body.prefix(500))")
        }
    }

    /// Sets the bucket's default retention (PutObjectLockConfiguration): objects written without
    /// lock headers are locked for `days` in `mode` (`GOVERNANCE` or `COMPLIANCE`).
    public func putDefaultRetention(bucket: String, mode: String, days: Int) throws {
        let xml = """
            <ObjectLockConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><ObjectLockEnabled>Enabled</ObjectLockEnabled>\
            <Rule><DefaultRetention><Mode>\(mode)</Mode><Days>\(days)</Days></DefaultRetention></Rule></ObjectLockConfiguration>
            """
        let r = try Self.request(port: port, method: "PUT", path: "/\(bucket)", query: [("object-lock", "")],
                                 headers: [("content-type", "application/xml")], body: Array(xml.utf8),
                                 keyID: accessKeyID, secret: secretAccessKey)
        guard r.status == 200 else {
            throw TestingError(.unexpectedOutput, "moto: unable to set the default retention of \(bucket): HTTP \(r.status) \(r.body.prefix(500))")
        }
    }

    /// Wipes moto's state (only works with signature checking off: the reset is unsigned S3-style).
    public func reset() throws {
        let r = try Self.request(port: port, method: "POST", path: "/moto-api/reset", keyID: accessKeyID, secret: secretAccessKey)
        guard r.status == 200 else { throw TestingError(.unexpectedOutput, "moto reset: HTTP \(r.status) \(r.body.prefix(300))") }
    }

    /// A store configuration for `bucket` on this server (or on `endpoint`, e.g. a FaultProxy in front of it).
    public func configuration(
        bucket: String, prefix: String = "", endpoint: String? = nil, secret: String? = nil, partSize: Int = 5 << 20,
        concurrency: Int = 4, deadline: Double = 60, readTimeout: Double = 10, retry: S3RetryPolicy = S3RetryPolicy(maxAttempts: 6, baseBackoff: 0.05, maxBackoff: 0.5),
        objectLock: S3ObjectLock? = nil
    ) throws -> S3Configuration {
        try S3Configuration(
            endpoint: endpoint ?? self.endpoint, region: "us-east-1", bucket: bucket, prefix: prefix,
            credentials: S3Credentials(accessKeyID: accessKeyID, secretAccessKey: S3Secret(secret ?? secretAccessKey)),
            addressing: .path, partSize: partSize, concurrency: concurrency, objectLock: objectLock, operationDeadline: deadline,
            readTimeout: readTimeout, retry: retry)
    }
}
