import Foundation
import Testing
@testable import TPUDeployKit

@Suite("--limit host patterns")
struct HostLimitTests {
    static func select(_ pattern: String, files: [String: String] = [:]) async throws -> [String] {
        let inventory = try await InventoryFixture.load("lab.ini")
        return try HostLimit(pattern).select(from: inventory) { path in
            guard let text = files[path] else { throw InventoryError(.unreadable, file: path, "no such file") }
            return text
        }.hosts
    }

    @Test(arguments: [
        ("evb", ["evb01", "evb02", "evb03", "evb04", "evb05"]),
        ("se7-b.lab", ["se7-b.lab"]),
        ("all", InventoryTests.labHosts),
        ("*", InventoryTests.labHosts),
        ("ungrouped", ["gateway.lab"]),
        // union, in inventory order whatever the pattern's order
        ("odd:evb01", ["evb01", "node1", "node5", "node9"]),
        ("odd,evb01", ["evb01", "node1", "node5", "node9"]),
        // intersection and exclusion
        ("lab:&se7", ["se7-a.lab", "se7-b.lab", "se7-c.lab", "se7-x.lab"]),
        ("lab:!evb", ["se7-a.lab", "se7-b.lab", "se7-c.lab", "se7-x.lab"]),
        ("evb:!evb0[1-3]*", ["evb04", "evb05"]),
        // Ansible's order: unions, then every &, then every !, wherever they are written
        ("!evb02:&evb:lab", ["evb01", "evb03", "evb04", "evb05"]),
        ("!evb02", InventoryTests.labHosts.filter { $0 != "evb02" }),
        // wildcards match group names too: se7* is the group se7 and its hosts
        ("se7*", ["se7-a.lab", "se7-b.lab", "se7-c.lab", "se7-x.lab"]),
        ("evb0?", ["evb01", "evb02", "evb03", "evb04", "evb05"]),
        ("~se7-[ab]", ["se7-a.lab", "se7-b.lab"]),
        ("~evb0[45]", ["evb04", "evb05"]),
        // slices: positions in the group, both ends included, negative from the end
        ("evb[0]", ["evb01"]),
        ("evb[-1]", ["evb05"]),
        ("evb[1:2]", ["evb02", "evb03"]),
        ("evb[3:]", ["evb04", "evb05"]),
        ("evb[:1]", ["evb01", "evb02"]),
        ("evb[1:3]:&evb[2:4]", ["evb03", "evb04"]),
    ])
    func patterns(pattern: String, expected: [String]) async throws {
        #expect(try await Self.select(pattern) == expected)
    }

    @Test func atFileReadsHostNamesOrPatterns() async throws {
        let retry = try String(contentsOfFile: InventoryFixture.path("retry-hosts.txt"), encoding: .utf8)
        #expect(try await Self.select("@retry", files: ["retry": retry]) == ["evb02", "se7-b.lab"])
        #expect(try await Self.select("lab:!@retry", files: ["retry": retry]).count == 7)
        #expect(try await Self.select("@odd.txt", files: ["odd.txt": "odd\n\nevb05\n"]) == ["evb05", "node1", "node5", "node9"])
        let unreadable = try await #require(throws: InventoryError.self) { try await Self.select("@missing") }
        #expect(unreadable.description.contains("missing"))
    }

    @Test func unmatchedTermsWarnAndAnEmptySelectionFails() async throws {
        let inventory = try await InventoryFixture.load("lab.ini")
        let partly = try HostLimit("evb01:evb99").select(from: inventory)
        #expect(partly.hosts == ["evb01"])
        #expect(partly.warnings == ["--limit: 'evb99' matches no group or host; ignored"])
        let none = try #require(throws: InventoryError.self) { try HostLimit("evb:&se7").select(from: inventory) }
        #expect(none.code == .noHostsSelected)
        let bad = try #require(throws: InventoryError.self) { try HostLimit("evb[x]").select(from: inventory) }
        #expect(bad.code == .badPattern)
        #expect(throws: InventoryError.self) { try HostLimit("~evb[").select(from: inventory) }
        #expect(throws: InventoryError.self) { try HostLimit("evb:!").select(from: inventory) }
    }

    @Test func termsSplitOutsideBrackets() {
        #expect(HostLimit.terms(of: "a:&b:!c[0:2]") == ["a", "&b", "!c[0:2]"])
        #expect(HostLimit.terms(of: " a , b ") == ["a", "b"])
    }
}
