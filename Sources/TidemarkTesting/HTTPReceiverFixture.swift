import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A small HTTP server on loopback standing in for Slack, a webhook consumer or a heartbeat
/// monitor: Python's `http.server`, recording every request (method, path, headers, body and
/// the status it answered) as one JSON line. It can answer `failStatus` to the first
/// `failFirst` requests, and stall (`stallSeconds`) before answering.
public final class HTTPReceiverFixture: @unchecked Sendable {
    public struct Request: Sendable {
        public var method: String
        public var path: String
        /// Header names lower-cased.
        public var headers: [String: String]
        public var body: [UInt8]
        public var answered: Int
        public var bodyText: String { String(decoding: body, as: UTF8.self) }
        /// The body parsed as a JSON object (nil when it is not one).
        public var json: [String: Any]? { try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any] }
    }

    public let port: UInt16
    private let directory: ScratchDirectory
    private var process: ChildProcess?

    /// `http://127.0.0.1:PORT`.
    public var baseURL: String { "http://127.0.0.1:\(port)" }

    private init(port: UInt16, directory: ScratchDirectory, process: ChildProcess) {
        self.port = port
        self.directory = directory
        self.process = process
    }

    deinit { stop() }

    public func stop() {
        if let process {
            kill(-process.pid, SIGKILL)
            process.send(SIGKILL)
            _ = try? process.waitBlocking()
        }
        process = nil
    }

    public static func start(failFirst: Int = 0, failStatus: Int = 500, stallSeconds: Double = 0, timeout: Duration = .seconds(30)) async throws -> HTTPReceiverFixture {
        let directory = try ScratchDirectory(prefix: "http-receiver", mode: 0o700)
        let script = directory.child("receiver.py")
        try Data(receiverScript.utf8).write(to: URL(fileURLWithPath: script))
        var lastError: (any Error)?
        for _ in 0..<3 {
            let port = try FreePort.loopback()
            let process = try PythonServer.launch([
                script, "--port", String(port), "--log", directory.child("requests.jsonl"), "--fail-first", String(failFirst),
                "--fail-status", String(failStatus), "--stall", String(stallSeconds),
            ], name: "http-receiver")
            if await PythonServer.waitUntilListening(port: port, process: process, timeout: timeout) {
                return HTTPReceiverFixture(port: port, directory: directory, process: process)
            }
            lastError = PythonServer.startFailure(process, what: "the HTTP receiver", port: port, hint: "python3 must be on PATH")
        }
        throw lastError ?? TestingError(.processFailed, "the HTTP receiver did not start")
    }

    /// Every request so far (the readiness probe's bare connection is not one).
    public func requests() throws -> [Request] {
        guard let text = try? String(contentsOfFile: directory.child("requests.jsonl"), encoding: .utf8) else { return [] }
        return try text.split(separator: "\n").map { line in
            guard let o = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let body = Data(base64Encoded: o["body_base64"] as? String ?? "")
            else { throw TestingError(.unexpectedOutput, "HTTP receiver wrote a line that is not a request: \(line.prefix(200))") }
            return Request(
                method: o["method"] as? String ?? "", path: o["path"] as? String ?? "", headers: o["headers"] as? [String: String] ?? [:],
                body: Array(body), answered: o["answered"] as? Int ?? 0)
        }
    }

    static let receiverScript = #"""
import argparse, base64, json, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

p = argparse.ArgumentParser()
p.add_argument("--port", type=int, required=True)
p.add_argument("--log", required=True)
p.add_argument("--fail-first", type=int, default=0)
p.add_argument("--fail-status", type=int, default=500)
p.add_argument("--stall", type=float, default=0)
a = p.parse_args()
lock = threading.Lock()
seen = [0]

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *args):
        pass
    def handle_any(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        with lock:
            seen[0] += 1
            status = a.fail_status if seen[0] <= a.fail_first else 200
            with open(a.log, "a") as f:
                f.write(json.dumps({"method": self.command, "path": self.path,
                                    "headers": {k.lower(): v for k, v in self.headers.items()},
                                    "body_base64": base64.b64encode(body).decode(), "answered": status}) + "\n")
        if a.stall > 0:
            time.sleep(a.stall)
        answer = b"ok" if status == 200 else b"receiver told to fail"
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)
    do_GET = handle_any
    do_POST = handle_any
    do_PUT = handle_any

ThreadingHTTPServer.daemon_threads = True
ThreadingHTTPServer(("127.0.0.1", a.port), Handler).serve_forever()
"""#
}
