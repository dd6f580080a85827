#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Hummingbird
import NIOCore

/// The dashboard's HTML: escaping, the page shell with its inline CSS (no CDN, no fonts, no
/// framework: the page works on an air-gapped host), and the responses.
enum DashboardHTML {
    /// Text and attribute values escaped (&, <, >, ", ').
    static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for c in text.unicodeScalars {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }

    static let css = """
    :root{--fg:#1d2430;--muted:#5b6575;--bg:#f6f7f9;--card:#fff;--line:#d9dde3;--ok:#2f8f4e;--warn:#b7791f;--bad:#c53030;--full:#2b5fab;--incr:#6b8fd6;--pin:#7b3fb0}
    *{box-sizing:border-box}body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
    header{display:flex;flex-wrap:wrap;gap:.5rem 1rem;align-items:center;justify-content:space-between;padding:.7rem 1rem;background:#1d2430;color:#fff}
    header h1{font-size:1.1rem;margin:0}header form{margin:0}main{max-width:1200px;margin:0 auto;padding:1rem}
    section{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:.8rem 1rem;margin:0 0 1rem}
    h2{font-size:1rem;margin:0 0 .6rem}.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(240px,1fr));gap:1rem}
    .k{color:var(--muted);font-size:.85rem}.v{font-size:1.3rem;font-weight:600}.ok{color:var(--ok)}.warn{color:var(--warn)}.bad{color:var(--bad)}
    table{border-collapse:collapse;width:100%;font-size:.9rem}th,td{text-align:left;padding:.35rem .5rem;border-bottom:1px solid var(--line);vertical-align:top}
    th a{color:inherit}.scroll{overflow-x:auto}code{font-size:.85rem;word-break:break-all}
    button,input[type=submit]{font:inherit;padding:.45rem .9rem;border-radius:6px;border:1px solid #2b5fab;background:#2b5fab;color:#fff;cursor:pointer}
    button:disabled{background:#aab;border-color:#aab;cursor:not-allowed}.actions{display:flex;flex-wrap:wrap;gap:.5rem}.actions form{margin:0}
    input[type=text],input[type=password],input[type=search]{font:inherit;padding:.45rem;border:1px solid var(--line);border-radius:6px;width:100%;max-width:28rem}
    svg{width:100%;height:auto;display:block}.legend{display:flex;flex-wrap:wrap;gap:.4rem 1rem;font-size:.8rem;color:var(--muted)}
    .sw{display:inline-block;width:.8rem;height:.8rem;border-radius:2px;vertical-align:middle;margin-right:.25rem}
    .hint{color:var(--muted);font-size:.85rem}.login{max-width:28rem;margin:3rem auto}
    @media (max-width:640px){main{padding:.5rem}section{padding:.6rem}th,td{padding:.3rem}.hide-s{display:none}}
    """

    /// A whole page: the shell, the CSS, `body` (HTML already escaped by its builder).
    static func page(title: String, body: String, refreshSeconds: Int? = nil, header: String = "") -> String {
        let refresh = refreshSeconds.map { "<meta http-equiv=\"refresh\" content=\"\($0)\">" } ?? ""
        return """
        <!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
        \(refresh)<title>\(escape(title))</title><style>\(css)</style></head><body>
        <header><h1>Tidemark · \(escape(title))</h1>\(header)</header><main>\(body)</main></body></html>
        """
    }

    static func response(_ html: String, status: HTTPResponse.Status = .ok, headers extra: HTTPFields = [:]) -> Response {
        var headers = extra
        headers[.contentType] = "text/html; charset=utf-8"
        headers[.cacheControl] = "no-store"
        headers[.contentSecurityPolicy] = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'"
        headers[.xContentTypeOptions] = "nosniff"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: html)))
    }

    static func redirect(_ location: String, headers extra: HTTPFields = [:]) -> Response {
        var headers = extra
        headers[.location] = location
        headers[.cacheControl] = "no-store"
        return Response(status: .seeOther, headers: headers)
    }

    /// A hidden CSRF field for a form.
    static func csrfField(_ token: String) -> String { "<input type=\"hidden\" name=\"csrf\" value=\"\(escape(token))\">" }

    /// A message page (errors: 401, 403, 404, 429).
    static func message(_ status: HTTPResponse.Status, _ title: String, _ text: String, hint: String, link: String = "/admin/login") -> Response {
        let body = """
        <section class="login"><h2 class="bad">\(escape(title))</h2><p>\(escape(text))</p><p class="hint">\(escape(hint))</p>
        <p><a href="\(escape(link))">Back</a></p></section>
        """
        return response(page(title: title, body: body), status: status)
    }

    static func bytes(_ n: Int64?) -> String {
        guard let n else { return "—" }
        let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"]
        var v = Double(n), i = 0
        while v >= 1024 && i < units.count - 1 { v /= 1024; i += 1 }
        return i == 0 ? "\(n) B" : "\(one(v)) \(units[i])"
    }

    /// One decimal.
    static func one(_ v: Double) -> String { String((v * 10).rounded() / 10) }

    static func duration(_ seconds: Double?) -> String {
        guard let s = seconds, s.isFinite else { return "—" }
        if s < 90 { return "\(Int(s.rounded())) s" }
        if s < 5400 { return "\(Int((s / 60).rounded())) min" }
        if s < 172_800 { return "\(one(s / 3600)) h" }
        return "\(one(s / 86400)) d"
    }
}
