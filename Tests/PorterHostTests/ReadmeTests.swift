import Foundation
import PorterTesting
import Testing

@Suite("README")
struct ReadmeTests {
    @Test("the README's \"Write your own server\" block is Examples/HelloPorter verbatim")
    func minimalExampleIsVerbatim() throws {
        let root = NginxPorterSite.repositoryRoot
        let readme = try String(contentsOfFile: root + "/README.md", encoding: .utf8)
        let example = try String(contentsOfFile: root + "/Examples/HelloPorter/Sources/HelloPorter/main.swift", encoding: .utf8)
        let section = try #require(readme.range(of: "## Write your own server"), "the README has the section")
        let fence = try #require(readme.range(of: "```swift\n", range: section.upperBound..<readme.endIndex))
        let close = try #require(readme.range(of: "```\n", range: fence.upperBound..<readme.endIndex))
        #expect(String(readme[fence.upperBound..<close.lowerBound]) == example,
                "copy Examples/HelloPorter/Sources/HelloPorter/main.swift into the README's first code block of that section")
    }
}
