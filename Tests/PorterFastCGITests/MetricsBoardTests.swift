import Glibc
@testable import PorterFastCGI
import Testing

@Suite("The pool's metrics board and the sum of expositions")
struct MetricsBoardTests {
    /// Two processes' expositions (swift-prometheus's shape: TYPE lines, no HELP, Swift's number formatting).
    static let first = """
        # TYPE signups_total counter
        signups_total 3
        # TYPE porter_requests_in_flight gauge
        porter_requests_in_flight 2.0
        # TYPE porter_request_duration_seconds histogram
        porter_request_duration_seconds_bucket{handler="hello",le="0.005"} 4
        porter_request_duration_seconds_bucket{handler="hello",le="+Inf"} 5
        porter_request_duration_seconds_sum{handler="hello"} 0.25
        porter_request_duration_seconds_count{handler="hello"} 5

        """
    static let second = """
        # TYPE porter_request_duration_seconds histogram
        porter_request_duration_seconds_bucket{handler="hello",le="0.005"} 1
        porter_request_duration_seconds_bucket{handler="hello",le="+Inf"} 2
        porter_request_duration_seconds_sum{handler="hello"} 0.5
        porter_request_duration_seconds_count{handler="hello"} 2
        porter_request_duration_seconds_bucket{handler="feed, \\"big\\" one",le="+Inf"} 1
        porter_request_duration_seconds_sum{handler="feed, \\"big\\" one"} 0.125
        porter_request_duration_seconds_count{handler="feed, \\"big\\" one"} 1
        # TYPE porter_requests_in_flight gauge
        porter_requests_in_flight 1.0
        # HELP signups_total Sign-ups.
        # TYPE signups_total counter
        signups_total 4

        """

    /// Each row: the parts (text, whether its gauges count) and the lines the sum must have, in order.
    static let rows: [(name: String, parts: [PrometheusText.Part], lines: [String])] = [
        ("two live processes: every series adds up, families in first-seen order, HELP kept",
         [.init(first), .init(second)],
         ["# HELP signups_total Sign-ups.", "# TYPE signups_total counter", "signups_total 7",
          "# TYPE porter_requests_in_flight gauge", "porter_requests_in_flight 3.0",
          "# TYPE porter_request_duration_seconds histogram",
          #"porter_request_duration_seconds_bucket{handler="hello",le="0.005"} 5"#,
          #"porter_request_duration_seconds_bucket{handler="hello",le="+Inf"} 7"#,
          #"porter_request_duration_seconds_sum{handler="hello"} 0.75"#,
          #"porter_request_duration_seconds_count{handler="hello"} 7"#,
          #"porter_request_duration_seconds_bucket{handler="feed, \"big\" one",le="+Inf"} 1"#,
          #"porter_request_duration_seconds_sum{handler="feed, \"big\" one"} 0.125"#,
          #"porter_request_duration_seconds_count{handler="feed, \"big\" one"} 1"#]),
        ("a process that is gone: its counters and histograms stay, its gauges do not",
         [.init(first, keepsGauges: false), .init(second)],
         ["# HELP signups_total Sign-ups.", "# TYPE signups_total counter", "signups_total 7",
          "# TYPE porter_requests_in_flight gauge", "porter_requests_in_flight 1.0",
          "# TYPE porter_request_duration_seconds histogram",
          #"porter_request_duration_seconds_bucket{handler="hello",le="0.005"} 5"#,
          #"porter_request_duration_seconds_bucket{handler="hello",le="+Inf"} 7"#,
          #"porter_request_duration_seconds_sum{handler="hello"} 0.75"#,
          #"porter_request_duration_seconds_count{handler="hello"} 7"#,
          #"porter_request_duration_seconds_bucket{handler="feed, \"big\" one",le="+Inf"} 1"#,
          #"porter_request_duration_seconds_sum{handler="feed, \"big\" one"} 0.125"#,
          #"porter_request_duration_seconds_count{handler="feed, \"big\" one"} 1"#]),
        ("a gone process's gauge-only family leaves nothing behind",
         [.init("# TYPE g gauge\ng{a=\"1\"} 5\n", keepsGauges: false)], []),
        ("untyped samples count as gauges; integers stay exact; a double makes the sum a double",
         [.init("x 9007199254740993\ny 1\n"), .init("x 2\ny 0.5\n"), .init("x 1\n", keepsGauges: false)],
         ["x 9007199254740995", "y 1.5"]),
        ("+Inf, NaN and Swift's inf/nan are numbers; lines that are not samples are skipped",
         [.init("# TYPE a gauge\na +Inf\n# a comment\nnot-a-sample\nb NaN\nc word\n"), .init("# TYPE a gauge\na 1.0\nb 1\n")],
         ["# TYPE a gauge", "a +Inf", "b NaN"]),
        ("a counter family does not swallow a longer name after it",
         [.init("# TYPE http counter\nhttp 1\nhttp_errors 2\n"), .init("http_errors 3\n")],
         ["# TYPE http counter", "http 1", "http_errors 5"]),
        ("nothing", [], []),
    ]

    @Test("PrometheusText.sum", arguments: rows.indices)
    func sum(_ row: Int) {
        let (name, parts, lines) = Self.rows[row]
        let text = PrometheusText.sum(parts)
        #expect(text.split(separator: "\n").map(String.init) == lines, "\(name)\n\(text)")
    }

    @Test("workers publish, the pool sums them; retiring a worker keeps its counters, drops its gauges, frees its region")
    func boardLifecycle() throws {
        let board = try #require(MetricsBoard.create(slots: 3, regionBytes: 4096))
        // A second mapping of the same memfd: what a worker process sees.
        let worker = try #require(MetricsBoard.attach(descriptor: String(board.descriptor)))
        #expect(worker.slotCount == 3 && worker.capacity == (4096 - 32) / 2)
        #expect(board.poolText() == "")
        #expect(worker.publish(Self.first, slot: 0))
        #expect(worker.publish(Self.second, slot: 2))
        #expect(board.poolText() == PrometheusText.sum([.init(Self.first), .init(Self.second)]))

        // The worker in slot 0 publishes again (its counters grew) and exits: the master folds it.
        let grown = Self.first.replacingOccurrences(of: "signups_total 3", with: "signups_total 10")
        #expect(worker.publish(grown, slot: 0))
        #expect(board.retire(slot: 0))
        let afterRetire = board.poolText()
        #expect(afterRetire.contains("signups_total 14\n"), "\(afterRetire)")
        #expect(afterRetire.contains("porter_requests_in_flight 1.0\n"), "only the live worker's gauge: \(afterRetire)")
        #expect(afterRetire.contains(#"porter_request_duration_seconds_count{handler="hello"} 7"#))

        // A new worker in the freed slot starts from zero; the retired counts stay; a second retirement adds up.
        #expect(worker.publish("# TYPE signups_total counter\nsignups_total 1\n", slot: 0))
        #expect(board.poolText().contains("signups_total 15\n"))
        #expect(board.retire(slot: 0) && board.retire(slot: 2))
        let retired = board.poolText()
        #expect(retired.contains("signups_total 15\n") && !retired.contains("in_flight"), "\(retired)")
        #expect(board.retire(slot: 1), "an empty region retires to nothing")
        #expect(board.poolText() == retired)
    }

    @Test("a text larger than a region is refused and the region keeps the last one; bad slots and descriptors are refused")
    func limits() throws {
        let board = try #require(MetricsBoard.create(slots: 1, regionBytes: 256))
        #expect(board.publish("a 1\n", slot: 0))
        #expect(!board.publish(String(repeating: "b 1\n", count: 100), slot: 0))
        #expect(board.poolText() == "a 1\n")
        #expect(!board.publish("a 2\n", slot: 1) && !board.publish("a 2\n", slot: -1))
        #expect(MetricsBoard.attach(descriptor: "x") == nil && MetricsBoard.attach(descriptor: "-1") == nil)
        // A descriptor that is not a board (the scoreboard's memfd).
        let scoreboard = try #require(Scoreboard.create(slots: 2, shared: true))
        #expect(MetricsBoard.attach(descriptor: String(scoreboard.descriptor)) == nil)
        #expect(MetricsBoard.create(slots: 0) == nil)
    }

    @Test("readers never see a half-written text: a reader and a publisher race 2,000 times")
    func concurrentPublish() async throws {
        let board = try #require(MetricsBoard.create(slots: 1, regionBytes: 1 << 16))
        // Each text is a counter and its copy: a torn read would show them differing (or a line cut short).
        func text(_ i: Int) -> String { (0..<200).map { "c\($0)_total \(i)\nd\($0)_total \(i)\n" }.joined() }
        let writer = Task.detached { for i in 1...2000 { board.publish(text(i), slot: 0) } }
        var torn: [String] = []
        for _ in 0..<2000 {
            let text = board.poolText()
            var values = Set<Substring>()
            for line in text.split(separator: "\n") { values.insert(line.split(separator: " ").last ?? "") }
            // One value on every line, 400 lines (or nothing before the first publication).
            if values.count > 1 || (!text.isEmpty && text.split(separator: "\n").count != 400) { torn.append(text) }
        }
        await writer.value
        #expect(torn.isEmpty, "\(torn.count) torn reads; the first: \(torn.first?.prefix(200) ?? "")")
        #expect(board.poolText() == text(2000))
    }
}
