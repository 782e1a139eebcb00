import Foundation
@testable import PorterFastCGI
import Testing
import Glibc

/// The shared-memory scoreboard: per-worker slots summed, retired workers' counters kept, odd input survived.
@Suite("Scoreboard: the pool's counters across worker processes")
struct ScoreboardTests {
    @Test("slots sum; a retired worker's requests stay in the totals; its slot is reused from zero")
    func retireKeepsTotals() throws {
        let board = try #require(Scoreboard.create(slots: 3, shared: true))
        #expect(board.descriptor >= 0)
        board.setTotalProcesses(2)
        board.assign(slot: 0, pid: 1001)
        board.assign(slot: 1, pid: 1002)
        for _ in 0..<5 { board.requestStarted(slot: 0, method: "GET", uri: "/a", contentLength: 0); board.requestFinished(slot: 0) }
        board.requestStarted(slot: 1, method: "POST", uri: "/b?x=1", contentLength: 12)
        board.countSlow(slot: 1)
        var t = board.totals()
        #expect(t.acceptedConnections == 6 && t.slowRequests == 1)
        #expect(t.activeProcesses == 1 && t.idleProcesses == 1 && t.maxActiveProcesses == 1)
        let running = try #require(t.processes.first { $0.pid == 1002 })
        #expect(running.state == "Running" && running.requestMethod == "POST" && running.requestURI == "/b?x=1" && running.contentLength == 12)
        #expect(t.processes.first { $0.pid == 1001 }?.state == "Idle")
        // Worker 1002 is killed mid-request: the master retires its slot.
        board.retire(slot: 1)
        t = board.totals()
        #expect(t.acceptedConnections == 6 && t.slowRequests == 1, "a dead worker's counts are kept")
        #expect(t.activeProcesses == 0, "its request no longer counts as active")
        #expect(board.firstFreeSlot() == 1)
        board.assign(slot: 1, pid: 1003)
        board.requestStarted(slot: 1, method: "GET", uri: "/c", contentLength: 0)
        t = board.totals()
        #expect(t.acceptedConnections == 7)
        #expect(t.processes.first { $0.pid == 1003 }?.requests == 1, "the new worker's slot starts at zero")
    }

    @Test("every process busy at once counts as max children reached")
    func maxChildrenReached() throws {
        let board = try #require(Scoreboard.create(slots: 2, shared: false))
        board.setTotalProcesses(2)
        board.requestStarted(slot: 0, method: "GET", uri: "/", contentLength: 0)
        board.requestStarted(slot: 0, method: "GET", uri: "/", contentLength: 0) // same process, still one active
        #expect(board.totals().maxChildrenReached == 0)
        board.requestStarted(slot: 1, method: "GET", uri: "/", contentLength: 0)
        let t = board.totals()
        #expect(t.maxChildrenReached == 1 && t.activeProcesses == 2 && t.maxActiveProcesses == 2)
    }

    @Test("long and multi-byte URIs are cut at a character boundary; odd bytes never crash a reader")
    func hostileStrings() throws {
        let board = try #require(Scoreboard.create(slots: 1, shared: false))
        let uri = "/" + String(repeating: "é", count: 600)
        board.requestStarted(slot: 0, method: String(repeating: "M", count: 100), uri: uri, contentLength: -5)
        board.assign(slot: 0, pid: getpid())
        let p = try #require(board.totals().processes.first)
        #expect(uri.hasPrefix(p.requestURI) && p.requestURI.count > 100)
        #expect(p.requestMethod.count == Scoreboard.Field.methodBytes - 1)
    }

    @Test("a worker attaches to its master's board by descriptor; nonsense in the environment is refused, never mapped")
    func attachValidates() throws {
        let board = try #require(Scoreboard.create(slots: 2, shared: true))
        board.requestStarted(slot: 1, method: "GET", uri: "/x", contentLength: 0)
        let (worker, slot) = try #require(Scoreboard.attach(descriptor: String(board.descriptor), slot: "1"))
        #expect(slot == 1 && worker.totals().acceptedConnections == 1, "the same memory")
        worker.requestStarted(slot: 1, method: "GET", uri: "/y", contentLength: 0)
        #expect(board.totals().acceptedConnections == 2)
        #expect(Scoreboard.attach(descriptor: String(board.descriptor), slot: "2") == nil, "slot out of range")
        #expect(Scoreboard.attach(descriptor: String(board.descriptor), slot: "-1") == nil)
        #expect(Scoreboard.attach(descriptor: "x", slot: "0") == nil)
        #expect(Scoreboard.attach(descriptor: nil, slot: "0") == nil)
        #expect(Scoreboard.attach(descriptor: "999999", slot: "0") == nil, "not an open descriptor")
        // A file that is not a scoreboard (no magic), even a large one.
        let path = "/tmp/porter-not-a-board-\(getpid())"
        FileManager.default.createFile(atPath: path, contents: Data(repeating: 7, count: 65536))
        defer { unlink(path) }
        let fd = open(path, O_RDWR)
        defer { close(fd) }
        #expect(Scoreboard.attach(descriptor: String(fd), slot: "0") == nil)
        let empty = open("/dev/null", O_RDWR)
        defer { close(empty) }
        #expect(Scoreboard.attach(descriptor: String(empty), slot: "0") == nil)
    }

    @Test("a process no master started has no inherited scoreboard; its server keeps a private one-slot board")
    func singleProcessBoard() throws {
        #expect(Scoreboard.inherited == nil)
        let slot = try #require(ScoreboardSlot.forThisProcess())
        let t = slot.board.totals()
        #expect(t.totalProcesses == 1 && t.processes.map(\.pid) == [getpid()])
    }
}
