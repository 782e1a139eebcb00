import Foundation
import PorterTesting
import Testing
@testable import PorterState

/// libpq is loaded with dlopen, so its constants are declared in Swift: these are checked against `libpq-fe.h`
/// (compiled with gcc, as C code sees them), and every function Porter calls resolves in `libpq.so.5`.
@Suite struct LibPQHeaderTests {
    @Test func constantsMatchLibpqFeH() throws {
        let dir = try TemporaryDirectory(prefix: "porter-libpq-header")
        let source = try dir.write("""
            #include <stdio.h>
            #include <libpq-fe.h>
            int main(void) {
                printf("%d %d %d %d %d\\n", (int)CONNECTION_OK, (int)PGRES_EMPTY_QUERY, (int)PGRES_COMMAND_OK,
                       (int)PGRES_TUPLES_OK, (int)PG_DIAG_SQLSTATE);
                return 0;
            }
            """, to: "constants.c")
        let built = try PorterProcess.run("/usr/bin/gcc", ["-I/usr/include/postgresql", "-o", dir.path("constants"), source])
        try #require(built.status == 0, "gcc and libpq-dev (a test package) are needed: \(built.output)")
        let output = try #require(PorterProcess.output(of: dir.path("constants"), []))
        let expected = [LibPQ.connectionOK, LibPQ.emptyQuery, LibPQ.commandOK, LibPQ.tuplesOK, LibPQ.diagnosticSQLState]
        #expect(output.split(separator: " ").compactMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) } == expected)
    }

    @Test func everyFunctionResolves() throws {
        _ = try LibPQ.loaded()
        #expect(LibPQ.isMapped)
    }
}
