import Foundation
import Testing
import Porter
@testable import PorterOps

/// The Debian `chromium` binary, if installed (`apt-get install -y chromium`).
let chromiumPath: String? = findExecutable("chromium") ?? findExecutable("chromium-browser")

@Suite struct TraceBrowserTests {
    /// Records real requests and writes the trace page they produce to a temp file; returns (path, log).
    func renderTracePage() async throws -> (String, TraceLog) {
        let log = TraceLog()
        let app = ApplicationState()
        let pipeline = try tracePipeline(log: log)
        await send(pipeline, "/hello", application: app, headers: ["X-Test-User": "alice"])
        await send(pipeline, "/slow", application: app)
        await send(pipeline, "/boom", application: app)
        await send(pipeline, "/%3Cscript%3Edocument.title%3D'pwned'%3C/script%3E", application: app)
        await send(pipeline, "/%22%3E%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E", application: app)
        let page = await send(pipeline, "/trace.axd", application: app)
        #expect(page.response.status == .ok)
        let path = temporaryPath(".html")
        try Data(page.response.bufferedBody ?? []).write(to: URL(fileURLWithPath: path))
        return (path, log)
    }

    func chromium(_ extra: [String], _ file: String) async throws -> ProgramResult {
        let profile = temporaryPath("-chromium-profile")
        defer { try? FileManager.default.removeItem(atPath: profile) }
        return try await runProgram(try #require(chromiumPath),
                              ["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
                               "--user-data-dir=\(profile)", "--virtual-time-budget=2000"] + extra + ["file://\(file)"],
                              timeout: 120)
    }

    @Test(.enabled(if: chromiumPath != nil, "chromium is not installed (apt-get install -y chromium)"))
    func chromiumRendersRowsAndWaterfallBars() async throws {
        let (file, log) = try await renderTracePage()
        defer { try? FileManager.default.removeItem(atPath: file) }
        let result = try await chromium(["--dump-dom"], file)
        #expect(result.status == 0, "chromium failed: \(result.stderr)")
        let dom = result.stdout
        let snapshots = log.recent()
        #expect(snapshots.count == 5)
        func count(_ needle: String) -> Int { dom.components(separatedBy: needle).count - 1 }
        #expect(count("<tr class=\"req\"") == 5)
        #expect(count("<section class=\"detail\"") == 5)
        #expect(count("class=\"bar\"") == snapshots.reduce(0) { $0 + $1.spans.count })
        #expect(count("class=\"bar\"") > 5 * 20)
        // The hostile paths stayed text: no script or img element, and the title was not changed.
        #expect(dom.contains("<title>Porter trace</title>"))
        #expect(!dom.contains("<script"))
        #expect(!dom.contains("<img"))
        #expect(dom.contains("&lt;script&gt;document.title='pwned'&lt;/script&gt;"))
        // Every bar is positioned by offset and sized by duration, inside its track.
        let bar = /class="bar" data-kind="(event|module|handler)" style="left:([0-9.]+)%;width:([0-9.]+)%"/
        let bars = dom.matches(of: bar)
        #expect(bars.count == count("class=\"bar\""))
        for m in bars {
            let left = Double(m.output.2)!, width = Double(m.output.3)!
            #expect(left >= 0 && width >= 0 && left + width <= 100.001, "bar out of its track: \(m.output.0)")
        }
        #expect(Set(bars.map { String($0.output.1) }) == ["event", "module", "handler"])
    }

    @Test(.enabled(if: chromiumPath != nil, "chromium is not installed (apt-get install -y chromium)"))
    func chromiumScreenshot() async throws {
        let (file, _) = try await renderTracePage()
        defer { try? FileManager.default.removeItem(atPath: file) }
        let png = ProcessInfo.processInfo.environment["PORTER_TRACE_SCREENSHOT"] ?? temporaryPath(".png")
        let result = try await chromium(["--screenshot=\(png)", "--window-size=1400,1800", "--hide-scrollbars"], file)
        #expect(result.status == 0, "chromium failed: \(result.stderr)")
        let data = try Data(contentsOf: URL(fileURLWithPath: png))
        #expect(data.starts(with: [0x89, 0x50, 0x4E, 0x47]))   // a PNG
        #expect(data.count > 10_000)
    }
}
