import Foundation
import Testing
import Tidemark
@testable import TidemarkAPI
import TidemarkServer

/// The history table shows `pageRows` rows per page, newest first, with links between pages.
@Suite("Dashboard history paging")
struct DashboardHistoryPagingTests {
    static func list(_ n: Int) throws -> BackupList {
        let rows = (0..<n).map { i in
            let day = String(format: "%03d", i)
            return #"{"id":"B\#(day)","type":"full","label":"","startTime":"2026-01-01 00:00:00+00","stopTime":"2026-\#(day)","#
                + #""startLSN":"0/2000028","stopLSN":"0/3000000","timeline":1,"size":1,"storedSize":1,"durationSeconds":1,"#
                + #""postgresVersion":150000,"systemIdentifier":"1","repository":"local"}"#
        }
        return try JSONDecoder().decode(BackupList.self, from: Data(#"{"backups":[\#(rows.joined(separator: ","))],"repositories":[]}"#.utf8))
    }

    func html(_ list: BackupList, page: Int) -> String {
        let session = DashboardSessions.Session(id: "s", caller: APICaller(name: "n", scope: .read, client: "local"), csrf: "c", expires: 0)
        return DashboardPage(status: nil, statusError: nil, list: list, listError: nil, state: nil, jobs: [], session: session,
                             now: Date(timeIntervalSince1970: 1_796_200_000), sort: "time", descending: true, filter: "", page: page,
                             listReadAt: Date(timeIntervalSince1970: 1_796_199_990)).html
    }

    func rows(_ html: String) -> Int { html.components(separatedBy: "<tr class=\"backup\">").count - 1 }

    @Test func pagesHoldAHundredRowsNewestFirst() throws {
        let list = try Self.list(250)
        let first = html(list, page: 1)
        #expect(rows(first) == 100)
        #expect(first.contains("B249") && !first.contains("B149<"), "newest first")
        #expect(first.contains("page 1 of 3") && first.contains("page=2#history") && !first.contains("page-previous"))
        #expect(first.contains("Backup history (250)"))
        #expect(first.contains("id=\"list-age\"") && first.contains("10 s ago"))
        let last = html(list, page: 3)
        #expect(rows(last) == 50 && last.contains("B000") && last.contains("page-previous") && !last.contains("page-next"))
        // A page past the end shows the last one.
        #expect(rows(html(list, page: 9)) == 50)
    }

    @Test func aShortHistoryHasNoPager() throws {
        let page = html(try Self.list(3), page: 1)
        #expect(rows(page) == 3 && !page.contains("id=\"pager\""))
    }
}
