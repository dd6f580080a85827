import Testing
import TidemarkCore

@Suite("check's grant hints")
struct CheckGrantsTests {
    @Test func checkNamesTheGrantForPgSwitchWal() {
        #expect(CheckGrants.role(inTarget: "host=/tmp/s port=5432 user=tidemark dbname=postgres") == "tidemark")
        #expect(CheckGrants.role(inTarget: "host=/tmp/s port=5432 user= dbname=postgres") == nil)
        let hint = CheckGrants.hint(for: "unable to run a query: permission denied for function pg_switch_wal", role: "tidemark")
        #expect(hint.contains("GRANT EXECUTE ON FUNCTION pg_switch_wal() TO tidemark;"))
        #expect(CheckGrants.quotedIdentifier("Backup Role") == "\"Backup Role\"")
        #expect(CheckGrants.quotedIdentifier("tm_1") == "tm_1")
    }
}
