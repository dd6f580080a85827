import TidemarkSystem
import TidemarkRepository
import TidemarkArchive
import TidemarkBackup
import TidemarkCore
import TidemarkCodec
import TidemarkStorage
/// The checks run against a recovered scratch cluster: it accepts connections, every database
/// that allows connections answers, amcheck's `bt_index_check` on btree indexes (when the
/// extension is available), then the operator's SQL checks.
package enum RehearsalChecks {
    package typealias Check = RehearsalReport.Check

    /// Checks up to `limit` btree indexes of one database, each in its own subtransaction so one
    /// corrupt index does not hide the rest; prints `checked|failed`, then `index: error` lines.
    package static func amcheckScript(limit: Int) -> String {
        """
        create extension if not exists amcheck;
        create temp table tidemark_amcheck (index_name text, error text);
        do $tidemark$
        declare r record;
        begin
          for r in
            select c.oid, c.oid::regclass::text as name
            from pg_index i join pg_class c on c.oid = i.indexrelid join pg_am a on a.oid = c.relam
            where a.amname = 'btree' and c.relpersistence <> 't' and i.indisvalid and i.indisready
            order by c.oid limit :limit
          loop
            begin
              perform bt_index_check(r.oid);
              insert into tidemark_amcheck values (r.name, null);
            exception when others then
              insert into tidemark_amcheck values (r.name, sqlerrm);
            end;
          end loop;
        end
        $tidemark$;
        select count(*) || '|' || count(error) from tidemark_amcheck;
        select index_name || ': ' || error from tidemark_amcheck where error is not null order by 1;
        """.replacing(":limit", with: String(max(0, limit)))
    }

    package static func run(_ cluster: ScratchCluster, checks: [RehearsalCheck], amcheckLimit: Int) async throws -> [Check] {
        var out: [Check] = []
        let connect = try await cluster.psql(database: "postgres", sql: "select 1", timeout: .seconds(60))
        guard connect.succeeded, connect.output == "1" else {
            out.append(Check(name: "accepts connections", kind: "builtin", database: "postgres", status: "fail", expected: "1",
                             actual: connect.output, detail: connect.stderr.trimmed))
            return out
        }
        out.append(Check(name: "accepts connections", kind: "builtin", database: "postgres", status: "pass"))

        let list = try await cluster.psql(database: "postgres", sql: "select datname from pg_database where datallowconn order by 1")
        let databases = list.succeeded ? list.output.split(separator: "\n").map(String.init) : []
        if !list.succeeded {
            out.append(Check(name: "list databases", kind: "builtin", database: "postgres", status: "fail", detail: list.stderr.trimmed))
        }
        for db in databases {
            let r = try await cluster.psql(database: db, sql: "select 1", timeout: .seconds(60))
            out.append(Check(name: "database answers", kind: "builtin", database: db, status: r.succeeded && r.output == "1" ? "pass" : "fail",
                             detail: r.succeeded ? nil : r.stderr.trimmed))
        }

        let available = try await cluster.psql(database: "postgres", sql: "select count(*) from pg_available_extensions where name = 'amcheck'")
        if available.output != "1" {
            out.append(Check(name: "amcheck", kind: "builtin", status: "skip", detail: "the amcheck extension is not installed"))
        } else {
            var remaining = amcheckLimit
            for db in databases {
                guard remaining > 0 else {
                    out.append(Check(name: "amcheck", kind: "builtin", database: db, status: "skip", detail: "index limit reached (--amcheck-limit)"))
                    continue
                }
                try writeScript(cluster, name: "amcheck-\(out.count).sql", text: amcheckScript(limit: remaining))
                let r = try await cluster.psql(database: db, file: cluster.root + "/checks/amcheck-\(out.count).sql", timeout: .seconds(1800))
                let lines = r.output.split(separator: "\n").map(String.init)
                let counts = lines.first?.split(separator: "|").compactMap { Int($0) } ?? []
                guard r.succeeded, counts.count == 2 else {
                    out.append(Check(name: "amcheck", kind: "builtin", database: db, status: "fail", detail: (r.stderr.trimmed + " " + r.output).trimmed))
                    continue
                }
                remaining -= counts[0]
                out.append(Check(name: "amcheck", kind: "builtin", database: db, status: counts[1] == 0 ? "pass" : "fail",
                                 detail: "\(counts[0]) btree indexes checked, \(counts[1]) failed" + (lines.count > 1 ? ": " + lines.dropFirst().joined(separator: "; ") : "")))
            }
        }

        for (i, check) in checks.enumerated() {
            let r = try await cluster.psql(database: check.database, file: cluster.root + "/checks/\(i).sql", timeout: .seconds(1800))
            if !r.succeeded {
                out.append(Check(name: check.name, kind: "sql", database: check.database, status: "fail", expected: check.expected,
                                 actual: r.output, detail: r.timedOut ? "timed out" : r.stderr.trimmed))
            } else if let expected = check.expected, expected != r.output {
                out.append(Check(name: check.name, kind: "sql", database: check.database, status: "fail", expected: expected, actual: r.output))
            } else {
                out.append(Check(name: check.name, kind: "sql", database: check.database, status: "pass", expected: check.expected, actual: r.output))
            }
        }
        return out
    }

    /// A script file in the scratch directory, readable by the cluster's user.
    package static func writeScript(_ cluster: ScratchCluster, name: String, text: String) throws {
        let path = cluster.root + "/checks/" + name
        guard let fp = fopen(path, "w") else { throw TidemarkError(.io, "unable to write '\(path)'") }
        fputs(text, fp)
        fclose(fp)
        chmod(path, 0o644)
    }
}

#if canImport(Glibc)
import Glibc
#endif
